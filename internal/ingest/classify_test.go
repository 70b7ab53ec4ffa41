package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/container"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/filebuf"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/source"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("job x: step: %w", err) }
	_, notPickle := container.Identify([]byte("PAR1\x15\x04\x15\x00PAR1"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bytes.Repeat([]byte{0x80, 4, 'N', '.'}, 5000))
	zw.Close()
	_, corrupt := container.Unwrap(context.Background(), bytes.NewReader(gz.Bytes()[:gz.Len()/2]), int64(gz.Len()/2), io.Discard, container.Options{})
	if notPickle == nil || corrupt == nil {
		t.Fatalf("container errors: %v, %v", notPickle, corrupt)
	}
	overBudget := fmt.Errorf("%w of 96 MiB per job: raise MEMORY_LIMIT: %w", dataset.ErrOverBudget, &pickleload.Error{Kind: pickleload.ErrLimit, Offset: -1, Row: -1, Msg: "over the budget"})
	for _, tc := range []struct {
		name      string
		err       error
		class     string
		permanent bool
	}{
		{"bad job", wrap(fmt.Errorf("%w: field file_name", queue.ErrBadJob)), ingest.ClassBadJob, true},
		{"unknown domain", wrap(fmt.Errorf("%w: nosuch", domain.ErrUnknownDomain)), ingest.ClassUnknownDomain, true},
		{"unsafe path", wrap(fmt.Errorf("%w: ../x", source.ErrUnsafePath)), ingest.ClassUnsafePath, true},
		{"missing file", wrap(fmt.Errorf("open: %w", source.ErrNotFound)), ingest.ClassFileNotFound, true},
		{"missing object", wrap(queue.ErrFileNotFound), ingest.ClassFileNotFound, true},
		{"bad pickle", wrap(&pickleload.Error{Kind: pickleload.ErrMalformed, Offset: 3, Row: -1, Msg: "truncated"}), ingest.ClassBadPickle, true},
		{"too large", wrap(&dataset.Error{Op: "read", Name: "x.pkl", Err: fmt.Errorf("%w: 9 bytes, MAX_FILE_BYTES is 8", dataset.ErrTooLarge)}), ingest.ClassBadPickle, true},
		{"file changed while read", wrap(&dataset.Error{Op: "read", Name: "x.pkl", Err: filebuf.ErrChanged}), ingest.ClassIO, false},
		{"not a pickle", wrap(&dataset.Error{Op: "read", Name: "x.parquet", Err: notPickle}), ingest.ClassBadPickle, true},
		{"corrupt container", wrap(&dataset.Error{Op: "unwrap", Name: "x.pkl.gz", Err: corrupt}), ingest.ClassBadPickle, true},
		{"over the memory budget", wrap(&dataset.Error{Op: "load", Name: "x.pkl", Err: overBudget}), ingest.ClassBadPickle, true},
		{"fault while loading", wrap(&dataset.Error{Op: "load", Name: "x.pkl", Err: fmt.Errorf("pickleload: %w", pickleload.ErrFault)}), ingest.ClassIO, false},
		{"fault while streaming", wrap(fmt.Errorf("%w: send chunk: %w", sink.ErrUnavailable, fmt.Errorf("chunk: %w", chunk.ErrFault))), ingest.ClassIO, false},
		{"fault beside a rejection", wrap(fmt.Errorf("%w: %w", sink.ErrRejected, chunk.ErrFault)), ingest.ClassIO, false},
		{"fault in validation", wrap(fmt.Errorf("validate x.pkl: %w", dataset.ErrFault)), ingest.ClassIO, false},
		{"fault marked permanent", ingest.Permanent(wrap(dataset.ErrFault)), ingest.ClassIO, false},
		{"no object store", wrap(&dataset.Error{Op: "open object", Name: "x.pkl", Err: dataset.ErrNoObjectStore}), ingest.ClassIO, true},
		{"validation", wrap(fmt.Errorf("%w: recruit_id row 3 is null", domain.ErrValidation)), ingest.ClassValidation, true},
		{"server rejected", wrap(fmt.Errorf("%w: %w", sink.ErrRejected, status.Error(codes.InvalidArgument, "bad"))), ingest.ClassServerRejected, true},
		{"server unavailable", wrap(fmt.Errorf("%w: %w", sink.ErrUnavailable, status.Error(codes.Unavailable, "down"))), ingest.ClassServerUnavailable, false},
		{"nats", wrap(nats.ErrTimeout), ingest.ClassNATS, false},
		{"nats via queue", wrap(fmt.Errorf("%w: no responders", queue.ErrUnavailable)), ingest.ClassNATS, false},
		{"too large for nats", wrap(fmt.Errorf("%w: %w", queue.ErrTooLarge, nats.ErrMaxPayload)), ingest.ClassNATS, true},
		{"maximum payload exceeded", wrap(nats.ErrMaxPayload), ingest.ClassNATS, true},
		{"io", wrap(fs.ErrPermission), ingest.ClassIO, false},
		{"marked permanent", ingest.Permanent(wrap(fs.ErrPermission)), ingest.ClassIO, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ingest.Classify(tc.err)
			if got.Class != tc.class || got.Permanent != tc.permanent || got.Message != tc.err.Error() {
				t.Errorf("Classify(%v) = %+v, want class %s permanent %v", tc.err, got, tc.class, tc.permanent)
			}
		})
	}
	if ingest.Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	// A message quoting a hostile value is cut: the status record stays small.
	huge := ingest.Classify(fmt.Errorf("%w: field %q: unknown field", queue.ErrBadJob, strings.Repeat("k", 440_000)))
	if len(huge.Message) > queue.MaxErrorBytes || !strings.HasSuffix(huge.Message, "bytes cut)") {
		t.Errorf("Classify of a 440 KB message: %d bytes, ending %q", len(huge.Message), huge.Message[len(huge.Message)-30:])
	}
	if err := ingest.Permanent(fs.ErrClosed); !errors.Is(err, ingest.ErrPermanent) || !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Permanent does not wrap: %v", err)
	}
}

// TestClassifyDatasetErrors classifies what the dataset stage really
// returns for an unsafe name, a missing file, a file above MAX_FILE_BYTES,
// a refused pickle and a missing object store.
func TestClassifyDatasetErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad, err := os.ReadFile(filepath.Join("..", "pickleload", "testdata", "hostile", "global_os_system.pkl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.pkl"), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref       dataset.Ref
		limit     int64
		class     string
		permanent bool
	}{
		{dataset.Ref{Name: "../x.pkl"}, 0, ingest.ClassUnsafePath, true},
		{dataset.Ref{Name: "none.pkl"}, 0, ingest.ClassFileNotFound, true},
		{dataset.Ref{Name: "bad.pkl"}, 10, ingest.ClassBadPickle, true},
		{dataset.Ref{Name: "bad.pkl"}, 0, ingest.ClassBadPickle, true},
		{dataset.Ref{Origin: dataset.InObjectStore, Name: "bad.pkl"}, 0, ingest.ClassIO, true},
	} {
		l := dataset.NewLoader(dataset.Config{DataDir: dir, Limits: dataset.Limits{MaxFileBytes: tc.limit}})
		_, _, err := l.Load(context.Background(), tc.ref)
		if got := ingest.Classify(err); got.Class != tc.class || got.Permanent != tc.permanent {
			t.Errorf("%+v (limit %d): %v classified %+v, want class %s permanent %v", tc.ref, tc.limit, err, got, tc.class, tc.permanent)
		}
	}
}
