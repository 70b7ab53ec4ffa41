package queue_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/embedstream/embedstream/internal/queue"
)

func TestFiles(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	data := bytes.Repeat([]byte("embedstream\x00\x01"), 200_000) // several object store chunks
	sum := sha256.Sum256(data)
	info, err := q.PutFile(ctx, "dir/f.pkl", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := queue.FileInfo{Name: "dir/f.pkl", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	if info != want {
		t.Fatalf("PutFile = %+v, want %+v", info, want)
	}
	if st, err := q.StatFile(ctx, "dir/f.pkl"); err != nil || st != want {
		t.Fatalf("StatFile = %+v, %v", st, err)
	}
	rc, got, err := q.OpenFile(ctx, "dir/f.pkl")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil || got != want || !bytes.Equal(body, data) {
		t.Fatalf("OpenFile: info %+v, %d bytes, %v", got, len(body), err)
	}
	if _, _, err := q.OpenFile(ctx, "nope.pkl"); !errors.Is(err, queue.ErrFileNotFound) {
		t.Fatalf("OpenFile(nope) = %v, want ErrFileNotFound", err)
	}
	// A reader failing midway: its error comes back, no object is left.
	tooBig := errors.New("body too large")
	_, err = q.PutFile(ctx, "partial.pkl", io.MultiReader(bytes.NewReader(data), iotest.ErrReader(tooBig)))
	if !errors.Is(err, tooBig) || errors.Is(err, queue.ErrUnavailable) {
		t.Fatalf("PutFile with a failing reader = %v, want the reader's error", err)
	}
	if _, err := q.StatFile(ctx, "partial.pkl"); !errors.Is(err, queue.ErrFileNotFound) {
		t.Fatalf("StatFile(partial) = %v, want ErrFileNotFound", err)
	}
	if err := q.DeleteFile(ctx, "dir/f.pkl"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.StatFile(ctx, "dir/f.pkl"); !errors.Is(err, queue.ErrFileNotFound) {
		t.Fatalf("StatFile after delete = %v, want ErrFileNotFound", err)
	}
}
