package dataset

import (
	"fmt"
	"io"
	"math"

	"github.com/embedstream/embedstream/internal/filebuf"
)

// readInto reads r to its end into a buffer from bufs (nil: always a new
// one), to give back with bufs.put once nothing uses the file any more. A
// file (an io.ReaderAt of known size) is read with filebuf.ReadFull.
// size is the expected length (-1 or 0: unknown), used to allocate once; more
// than limit bytes fail with ErrTooLarge, and a size other than the
// expected one is a transient error (the file is being written).
func readInto(r io.Reader, size, limit int64, bufs *bufferPool) (_ *filebuf.Buffer, err error) {
	if limit <= 0 {
		limit = 1<<63 - 1
	}
	if size > limit {
		return nil, fmt.Errorf("%w: %d bytes, MAX_FILE_BYTES is %d", ErrTooLarge, size, limit)
	}
	if ra, ok := r.(io.ReaderAt); ok && size > 0 && size <= math.MaxInt {
		// a file: read in parts on every core (see filebuf.ReadFull)
		buf, err := bufs.get(int(size))
		if err != nil {
			return nil, err
		}
		if err := filebuf.ReadFull(ra, buf.Bytes()); err != nil {
			bufs.put(buf)
			return nil, err
		}
		return buf, nil
	}
	capacity := int64(64 << 10)
	if size > 0 { // 0 may be a file system that does not know
		capacity = size + 1 // +1 to see EOF without growing
	}
	if capacity > math.MaxInt {
		return nil, fmt.Errorf("%w: %d bytes do not fit in memory", ErrTooLarge, size)
	}
	buf, err := bufs.get(int(capacity))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			bufs.put(buf)
		}
	}()
	n := 0
	for {
		if n == buf.Cap() {
			// unknown size, or the file grew: move to a buffer twice as large
			next := 2 * int64(n)
			if next > limit {
				next = limit + 1 // enough to see the limit passed
			}
			if next > math.MaxInt {
				return nil, fmt.Errorf("%w: more than %d bytes do not fit in memory", ErrTooLarge, n)
			}
			bigger, err := bufs.get(int(next))
			if err != nil {
				return nil, err
			}
			buf.Resize(n)
			copy(bigger.Bytes(), buf.Bytes())
			bufs.put(buf)
			buf = bigger
		}
		buf.Resize(buf.Cap())
		m, err := r.Read(buf.Bytes()[n:])
		n += m
		if int64(n) > limit {
			return nil, fmt.Errorf("%w: more than MAX_FILE_BYTES (%d)", ErrTooLarge, limit)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	buf.Resize(n)
	if size > 0 && int64(n) != size {
		// Being written or replaced right now: a retry later reads it
		// whole, so this is transient, not a bad pickle.
		return nil, fmt.Errorf("the file changed while it was read (%d bytes at open, %d read): %w", size, n, io.ErrUnexpectedEOF)
	}
	return buf, nil
}
