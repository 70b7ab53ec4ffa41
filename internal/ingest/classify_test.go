package ingest_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/source"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("job x: step: %w", err) }
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
		{"validation", wrap(fmt.Errorf("%w: recruit_id row 3 is null", domain.ErrValidation)), ingest.ClassValidation, true},
		{"server rejected", wrap(fmt.Errorf("%w: %w", sink.ErrRejected, status.Error(codes.InvalidArgument, "bad"))), ingest.ClassServerRejected, true},
		{"server unavailable", wrap(fmt.Errorf("%w: %w", sink.ErrUnavailable, status.Error(codes.Unavailable, "down"))), ingest.ClassServerUnavailable, false},
		{"nats", wrap(nats.ErrTimeout), ingest.ClassNATS, false},
		{"nats via queue", wrap(fmt.Errorf("%w: no responders", queue.ErrUnavailable)), ingest.ClassNATS, false},
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
	if err := ingest.Permanent(fs.ErrClosed); !errors.Is(err, ingest.ErrPermanent) || !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Permanent does not wrap: %v", err)
	}
}
