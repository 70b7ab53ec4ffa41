//go:build unix

package pickleload

import (
	"os"
	"syscall"
	"testing"
)

// mmapFile maps path read-only, as the worker's input is: outside the Go
// heap.
func mmapFile(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Munmap(b) })
	return b
}

// canFault reports whether mmapFile's mappings fault when the file shrinks.
const canFault = true
