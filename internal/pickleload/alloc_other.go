//go:build !linux

package pickleload

// allocFileBuffer returns a zeroed buffer of n bytes for a whole file.
func allocFileBuffer(n int) []byte { return make([]byte, n) }
