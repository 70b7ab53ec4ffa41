package pull

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"google.golang.org/grpc/codes"

	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/container"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/source"
)

var (
	// ErrBadRequest marks a DatasetRequest that breaks the contract's
	// rules (INVALID_ARGUMENT).
	ErrBadRequest = errors.New("bad request")
	// ErrBusy marks a call refused because every pull slot is taken
	// (RESOURCE_EXHAUSTED).
	ErrBusy = errors.New("every pull slot is busy")
	// ErrStopping is the cause of the context of calls cut off by the
	// worker's shutdown, and the error of calls arriving during it
	// (UNAVAILABLE).
	ErrStopping = errors.New("the worker is stopping")
	// errPanic wraps a panic recovered in a call: a bug (INTERNAL).
	errPanic = errors.New("panic")
)

// Code is the one place that turns a call's error into its status code
// (see the package doc); it sees through %w wrapping. nil is OK.
func Code(err error) codes.Code {
	switch {
	case err == nil:
		return codes.OK
	case errors.Is(err, ErrStopping):
		return codes.Unavailable
	case errors.Is(err, dataset.ErrFault), errors.Is(err, chunk.ErrFault):
		return codes.Unavailable // the file changed while it was read
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, ErrBusy):
		return codes.ResourceExhausted
	case errors.Is(err, ErrBadRequest), errors.Is(err, domain.ErrUnknownDomain), errors.Is(err, source.ErrUnsafePath):
		return codes.InvalidArgument
	case errors.Is(err, fs.ErrNotExist): // source.ErrNotFound, a missing object
		return codes.NotFound
	case errors.Is(err, dataset.ErrTooLarge), errors.Is(err, pickleload.ErrLimit), errors.Is(err, container.ErrLimit):
		return codes.ResourceExhausted
	case errors.Is(err, pickleload.ErrInvalid), errors.Is(err, container.ErrInvalid):
		return codes.FailedPrecondition
	case errors.Is(err, domain.ErrValidation):
		return codes.InvalidArgument
	case errors.Is(err, sink.ErrRejected), errors.Is(err, dataset.ErrNoObjectStore):
		return codes.FailedPrecondition
	case errors.Is(err, errPanic):
		return codes.Internal
	default: // I/O errors, a file that changed while read, the object store unreachable
		return codes.Unavailable
	}
}

// badRequest returns an error wrapping [ErrBadRequest].
func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

// recovered turns a recovered panic value into an error.
func recovered(v any) error {
	return fmt.Errorf("%w: %v", errPanic, v)
}
