package pickleload

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// shortReader is a file that shrank to n bytes.
type shortReader struct{ n int }

func (r shortReader) ReadAt(p []byte, off int64) (int, error) {
	k := min(len(p), r.n)
	for i := range k {
		p[i] = 'x'
	}
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

// TestReadFullShortRead: a file that shrinks between Stat and the read is
// an I/O error (io.ErrUnexpectedEOF), not a bad pickle.
func TestReadFullShortRead(t *testing.T) {
	t.Parallel()
	buf := make([]byte, 10)
	if err := readFull(shortReader{10}, buf, "f.pkl"); err != nil {
		t.Fatalf("full read: %v", err)
	}
	err := readFull(shortReader{4}, buf, "f.pkl")
	if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "4 of 10") {
		t.Errorf("short read: %v", err)
	}
}
