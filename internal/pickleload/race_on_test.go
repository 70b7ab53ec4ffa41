//go:build race

package pickleload_test

// raceSlowdown stretches the hostile-input time limits under the race
// detector, which slows the loader's hot loops about tenfold: the limits
// catch hangs, not slowness.
const raceSlowdown = 10
