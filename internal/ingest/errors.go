package ingest

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/clip"
	"github.com/embedstream/embedstream/internal/container"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/source"
)

// Error classes: the stable strings of [queue.JobError.Class].
const (
	ClassBadJob            = "bad_job"
	ClassUnknownDomain     = "unknown_domain"
	ClassUnsafePath        = "unsafe_path"
	ClassFileNotFound      = "file_not_found"
	ClassBadPickle         = "bad_pickle"
	ClassValidation        = "validation"
	ClassServerRejected    = "server_rejected"
	ClassServerUnavailable = "server_unavailable"
	ClassIO                = "io"
	ClassNATS              = "nats"
	ClassLeaseLost         = "lease_lost"
	ClassShutdown          = "shutdown"
	ClassCanceled          = "canceled" // an operator canceled the job (queue.Queue.CancelJob)
	ClassMaxDeliveries     = "max_deliveries"
	ClassInternal          = "internal" // a recovered panic: a bug, not worth retrying
)

// ErrPermanent marks an error that retrying cannot fix; see [Permanent].
var ErrPermanent = errors.New("permanent failure")

var (
	// errShutdown is the cause given to running jobs' contexts when the
	// worker stops and they did not finish within the shutdown timeout.
	errShutdown = errors.New("worker shutting down")
	// errLeaseLost is the cause given to a job's context when its lease
	// could not be confirmed: the job may already run on another worker.
	errLeaseLost = errors.New("job lease lost")
	// errCanceled is the cause given to a job's context when an operator
	// canceled it.
	errCanceled = errors.New("job canceled by an operator")
	// errPanic wraps a recovered panic.
	errPanic = errors.New("panic")
)

// permanentError wraps an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() error        { return e.err }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

// Permanent marks err as permanent: [Classify] reports it as such whatever
// it wraps, and errors.Is(err, [ErrPermanent]) holds. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Classify is the one place that turns a job's error into its class and
// whether it is permanent. It sees through %w wrapping.
//
// Permanent: a bad job message, an unknown domain, an unsafe or missing
// file, a bad, refused or oversized pickle (also a file that is no pickle,
// a corrupt or refused container, one over the memory budget), a domain
// validation failure, a stream the batch server refused, a message NATS
// refuses for its size (queue.ErrTooLarge), a recovered panic, and
// anything wrapped with [Permanent]. Everything else is transient: the
// batch server unavailable, NATS errors, I/O errors, and a file that
// changed while it was read (a memory fault reading its mapping, class io,
// transient whatever else wraps it). A shutdown, a lost lease or a cancel
// is neither a success nor a failure of the job; callers check for those
// classes first. The message is the error's text cut to
// queue.MaxErrorBytes, so whatever the error quotes (a hostile JSON key,
// a pickle's field name) the status record and the dead letter stay
// small.
func Classify(err error) queue.JobError {
	class, permanent := classify(err)
	return queue.JobError{Class: class, Message: clip.Text(err.Error(), queue.MaxErrorBytes), Permanent: permanent}
}

func classify(err error) (class string, permanent bool) {
	class, permanent = classOf(err)
	if class != ClassShutdown && class != ClassLeaseLost && class != ClassCanceled && !isFault(err) && errors.Is(err, ErrPermanent) {
		permanent = true
	}
	return class, permanent
}

func classOf(err error) (class string, permanent bool) {
	switch {
	case errors.Is(err, errShutdown):
		return ClassShutdown, false
	case errors.Is(err, errLeaseLost):
		return ClassLeaseLost, false
	case errors.Is(err, errCanceled):
		return ClassCanceled, false
	case isFault(err):
		return ClassIO, false // the file changed while it was read: a retry reads it again
	case errors.Is(err, queue.ErrBadJob):
		return ClassBadJob, true
	case errors.Is(err, domain.ErrUnknownDomain):
		return ClassUnknownDomain, true
	case errors.Is(err, source.ErrUnsafePath):
		return ClassUnsafePath, true
	case errors.Is(err, source.ErrNotFound), errors.Is(err, queue.ErrFileNotFound):
		return ClassFileNotFound, true
	case errors.Is(err, pickleload.ErrInvalid), errors.Is(err, container.ErrInvalid), errors.Is(err, dataset.ErrTooLarge):
		return ClassBadPickle, true
	case errors.Is(err, domain.ErrValidation):
		return ClassValidation, true
	case errors.Is(err, sink.ErrRejected):
		return ClassServerRejected, true
	case errors.Is(err, queue.ErrTooLarge), errors.Is(err, nats.ErrMaxPayload):
		return ClassNATS, true // NATS refuses the message for its size: a retry sends the same
	case errors.Is(err, errPanic):
		return ClassInternal, true
	case errors.Is(err, dataset.ErrNoObjectStore):
		return ClassIO, true // a worker without an object store: retrying here cannot help
	case errors.Is(err, sink.ErrUnavailable):
		return ClassServerUnavailable, false
	case isNATS(err):
		return ClassNATS, false
	default:
		return ClassIO, false
	}
}

// isFault reports whether err is a memory fault reading a mapped file.
func isFault(err error) bool {
	return errors.Is(err, dataset.ErrFault) || errors.Is(err, chunk.ErrFault)
}

// isNATS reports whether err came from the NATS connection or JetStream.
func isNATS(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, queue.ErrUnavailable) || errors.As(err, &apiErr) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, jetstream.ErrNoHeartbeat)
}

// recovered turns a recovered panic value into an error.
func recovered(v any) error {
	return fmt.Errorf("%w: %v", errPanic, v)
}
