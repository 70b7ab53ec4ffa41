package dataset

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadIntoSeesAChangingFile: a file whose size at open differs from
// what is read (being written or replaced) is io.ErrUnexpectedEOF (a
// transient I/O error to the worker), not a truncated pickle that would be
// dead-lettered.
func TestReadIntoSeesAChangingFile(t *testing.T) {
	payload := bytes.Repeat([]byte{0x80, 0x04}, 4096)
	var bufs bufferPool
	for _, size := range []int64{int64(len(payload)) + 100, int64(len(payload)) - 100} {
		_, err := readInto(bytes.NewReader(payload), size, 0, &bufs)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("size %d: err = %v, want io.ErrUnexpectedEOF", size, err)
		}
		if errors.Is(err, ErrTooLarge) {
			t.Fatalf("size %d: %v is ErrTooLarge (a permanent failure)", size, err)
		}
	}
	b, err := readInto(bytes.NewReader(payload), int64(len(payload)), 0, &bufs)
	if err != nil || !bytes.Equal(b.Bytes(), payload) {
		t.Fatalf("whole file: err = %v", err)
	}
	bufs.put(b)
	bufs.release()
}

// readBounded reads r with readInto into a new buffer and returns a copy.
func readBounded(r io.Reader, size, limit int64) ([]byte, error) {
	b, err := readInto(r, size, limit, nil)
	if err != nil {
		return nil, err
	}
	defer free(b)
	return bytes.Clone(b.Bytes()), nil
}

func TestReadBounded(t *testing.T) {
	t.Parallel()
	for _, data := range [][]byte{bytes.Repeat([]byte("abc"), 10000), bytes.Repeat([]byte("abcdefgh"), 300_000)} {
		for _, size := range []int64{-1, int64(len(data))} {
			got, err := readBounded(iotest.HalfReader(bytes.NewReader(data)), size, 4<<20)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes, size hint %d: got %d bytes, %v", len(data), size, len(got), err)
			}
		}
	}
	data := bytes.Repeat([]byte("abc"), 10000)
	// A file whose Stat says 0 bytes (some file systems do not know) is
	// read to its end like a stream.
	if got, err := readBounded(bytes.NewReader(data), 0, 1<<20); err != nil || !bytes.Equal(got, data) {
		t.Errorf("size 0 with content: %d bytes, %v", len(got), err)
	}
	// Growth stops at the limit even when it is not a power of two.
	if _, err := readBounded(iotest.HalfReader(bytes.NewReader(data)), -1, int64(len(data))-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("just over the limit: %v", err)
	}
	if _, err := readBounded(bytes.NewReader(data), -1, 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit, unknown size: %v", err)
	}
	if _, err := readBounded(bytes.NewReader(data), int64(len(data)), 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit, known size: %v", err)
	}
	// A stream longer than its announced size is still bounded.
	if _, err := readBounded(iotest.HalfReader(strings.NewReader(string(data))), 10, 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("grown stream: %v", err)
	}
	// A file (io.ReaderAt) that grew after its Stat is read no further
	// than its size and is a transient error: a retry reads it whole.
	if _, err := readBounded(strings.NewReader(string(data)), 10, 100); !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrTooLarge) {
		t.Errorf("grown file: %v", err)
	}
	if _, err := readBounded(iotest.ErrReader(errors.New("disk on fire")), -1, 100); err == nil || errors.Is(err, ErrTooLarge) {
		t.Errorf("read error: %v", err)
	}
}
