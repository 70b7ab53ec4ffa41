//go:build unix

package dataset

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps the first n bytes of f read-only and shared: the bytes are
// f's page cache, which the kernel may drop under memory pressure and read
// again, not anonymous memory of the process. Reading a page beyond the end
// of a file truncated since faults (SIGBUS): see [Guard].
func mapFile(f *os.File, n int64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if int64(int(n)) != n {
		return nil, fmt.Errorf("%w: %d bytes do not fit in the address space", ErrTooLarge, n)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(n), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %d bytes: %w", n, err)
	}
	return b, nil
}

// unmap undoes mapFile.
func unmap(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return syscall.Munmap(b)
}
