package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/embedstream/embedstream/internal/clip"
	"github.com/embedstream/embedstream/internal/queue"
)

// actionError is a failure told in one line: what failed, then what to
// do about it.
type actionError struct {
	what string // what failed
	todo string // what to do; may be empty
	err  error  // the cause, for errors.Is
}

func (e *actionError) Error() string {
	if e.todo == "" {
		return e.what
	}
	return e.what + "; " + e.todo
}

func (e *actionError) Unwrap() error { return e.err }

// natsHint turns a failure to reach NATS into what to do about it.
func natsHint(urls string, err error) error {
	if !errors.Is(err, queue.ErrUnavailable) {
		return err
	}
	if urls == "" {
		urls = queue.DefaultURL
	}
	return &actionError{
		what: "cannot reach NATS at " + clip.RedactURL(urls),
		todo: "start it (for a local stack: go run ./publisher/dev) or point NATS_URL at a running server",
		err:  err,
	}
}

// generalHint is what to do about an error whose command did not say.
func generalHint(err error) string {
	switch {
	case errors.Is(err, queue.ErrQueueFull):
		return "the queue is full: let the workers drain it ('publisher queue' shows it) or raise QUEUE_MAX_MSGS / QUEUE_MAX_BYTES"
	case errors.Is(err, queue.ErrUnavailable):
		return "NATS did not answer: check it is up ('publisher queue'), then run the command again"
	}
	return ""
}

// oneLine flattens a message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// errorLine is how a command's failure is printed: one line, with what to
// do when known.
func errorLine(err error) string {
	msg := oneLine(err.Error())
	var ae *actionError
	if !errors.As(err, &ae) {
		if hint := generalHint(err); hint != "" {
			msg += "; " + hint
		}
	}
	return msg
}

// jobFailed is the error of a job that ended failed or canceled, with
// what to do next.
func jobFailed(st queue.Status) error {
	if st.State == queue.StateCanceled {
		return &actionError{
			what: fmt.Sprintf("job %s was canceled: nothing of it was committed", st.JobID),
			todo: "enqueue it again to run it",
		}
	}
	class, msg := "unknown", "no error recorded"
	if st.Error != nil {
		class, msg = st.Error.Class, oneLine(st.Error.Message)
	}
	replay := fmt.Sprintf("'publisher dlq replay %s'", st.JobID)
	var todo string
	switch class {
	case "file_not_found", "unsafe_path":
		todo = "put the file in place (in DATA_DIR, or with 'publisher upload'), then run " + replay
	case "bad_pickle", "validation":
		todo = "fix the file ('publisher inspect FILE --domain " + st.Domain + "' shows what is wrong), then run " + replay
	case "server_rejected":
		todo = "the batch server refused the data: see its logs, fix the data, then run " + replay
	case "unknown_domain", "bad_job":
		todo = fmt.Sprintf("this job cannot succeed as it is: enqueue a corrected one, and drop this one with 'publisher dlq purge %s'", st.JobID)
	case "internal":
		todo = "a bug in the worker: report it with the job id; " + replay + " runs it again"
	default:
		todo = "once the cause is fixed (batch server, NATS, storage), run " + replay
	}
	return &actionError{
		what: fmt.Sprintf("job %s failed after %d attempt(s): %s: %s", st.JobID, st.Attempts, class, msg),
		todo: todo,
	}
}
