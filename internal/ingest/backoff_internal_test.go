package ingest

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestBackoffDoublesWithJitterUpToMax(t *testing.T) {
	t.Parallel()
	w := &Worker{cfg: WorkerConfig{BackoffMin: time.Second, BackoffMax: 10 * time.Second}}
	for _, tc := range []struct {
		attempt int
		base    time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {40, 10 * time.Second}} {
		for range 50 {
			d := w.backoff(tc.attempt)
			lo, hi := time.Duration(float64(tc.base)*0.8), time.Duration(float64(tc.base)*1.2)
			if d < lo || d > hi {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tc.attempt, d, lo, hi)
			}
		}
	}
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
	if _, err := readBounded(iotest.HalfReader(bytes.NewReader(data)), -1, int64(len(data))-1); !errors.Is(err, errFileTooLarge) {
		t.Errorf("just over the limit: %v", err)
	}
	if _, err := readBounded(bytes.NewReader(data), -1, 100); !errors.Is(err, errFileTooLarge) {
		t.Errorf("over the limit, unknown size: %v", err)
	}
	if _, err := readBounded(bytes.NewReader(data), int64(len(data)), 100); !errors.Is(err, errFileTooLarge) {
		t.Errorf("over the limit, known size: %v", err)
	}
	// A stream longer than its announced size is still bounded.
	if _, err := readBounded(iotest.HalfReader(strings.NewReader(string(data))), 10, 100); !errors.Is(err, errFileTooLarge) {
		t.Errorf("grown stream: %v", err)
	}
	// A file (io.ReaderAt) that grew after its Stat is read no further
	// than its size and is a transient error: a retry reads it whole.
	if _, err := readBounded(strings.NewReader(string(data)), 10, 100); !errors.Is(err, io.ErrUnexpectedEOF) || Classify(err).Permanent {
		t.Errorf("grown file: %v", err)
	}
	if _, err := readBounded(iotest.ErrReader(errors.New("disk on fire")), -1, 100); err == nil || errors.Is(err, errFileTooLarge) {
		t.Errorf("read error: %v", err)
	}
}
