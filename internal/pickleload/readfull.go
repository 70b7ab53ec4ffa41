package pickleload

import (
	"fmt"
	"io"
)

// readFull reads len(buf) bytes at offset 0 of r (path names it in
// errors). A short read (the file shrank after its size was taken) is a
// wrapped io.ErrUnexpectedEOF, an I/O error a retry can cure, never a
// zero-padded buffer that would load as a malformed pickle.
func readFull(r io.ReaderAt, buf []byte, path string) error {
	n, err := r.ReadAt(buf, 0)
	if n == len(buf) {
		return nil
	}
	if err != nil && err != io.EOF {
		return fmt.Errorf("pickleload: read %s: %w", path, err)
	}
	return fmt.Errorf("pickleload: read %s: got %d of %d bytes (the file changed while being read): %w", path, n, len(buf), io.ErrUnexpectedEOF)
}
