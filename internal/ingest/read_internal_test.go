package ingest

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestReadIntoSeesAChangingFile: a file whose size at open differs from
// what is read (being written or replaced) is a transient I/O error, not a
// truncated pickle that would be dead-lettered.
func TestReadIntoSeesAChangingFile(t *testing.T) {
	payload := bytes.Repeat([]byte{0x80, 0x04}, 4096)
	var bufs bufferPool
	for _, size := range []int64{int64(len(payload)) + 100, int64(len(payload)) - 100} {
		_, err := readInto(bytes.NewReader(payload), size, 0, &bufs)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("size %d: err = %v, want io.ErrUnexpectedEOF", size, err)
		}
		if c := Classify(err); c.Permanent || c.Class != ClassIO {
			t.Fatalf("size %d: classified %+v, want transient io", size, c)
		}
	}
	b, err := readInto(bytes.NewReader(payload), int64(len(payload)), 0, &bufs)
	if err != nil || !bytes.Equal(b.Bytes(), payload) {
		t.Fatalf("whole file: err = %v", err)
	}
	bufs.put(b)
	bufs.release()
}
