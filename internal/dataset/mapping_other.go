//go:build !unix

package dataset

import (
	"fmt"
	"os"

	"github.com/embedstream/embedstream/internal/filebuf"
)

// mapFile reads the first n bytes of f into memory: outside unix there is
// no mapping.
func mapFile(f *os.File, n int64) ([]byte, error) {
	if int64(int(n)) != n {
		return nil, fmt.Errorf("%w: %d bytes do not fit in memory", ErrTooLarge, n)
	}
	b := make([]byte, n)
	if err := filebuf.ReadFull(f, b); err != nil {
		return nil, err
	}
	return b, nil
}

func unmap([]byte) error { return nil }
