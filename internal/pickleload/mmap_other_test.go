//go:build !unix

package pickleload

import (
	"os"
	"testing"
)

// mmapFile reads path (no mapping here: the input is in the heap).
func mmapFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skip(err)
	}
	return b
}

// canFault reports whether mmapFile's mappings fault when the file shrinks.
const canFault = false
