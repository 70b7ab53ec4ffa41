//go:build !race

package pickleload_test

// raceSlowdown: see race_on_test.go.
const raceSlowdown = 1
