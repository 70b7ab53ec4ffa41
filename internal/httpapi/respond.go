package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/embedstream/embedstream/internal/clip"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/telemetry"
)

// Error codes of the JSON error body {"error": {"code", "message"}}.
const (
	CodeBadRequest          = "bad_request"           // malformed query or body
	CodeInvalidID           = "invalid_id"            // Idempotency-Key or job id breaks the ingest_id rule
	CodeMissingFileName     = "missing_file_name"     // file_name absent or empty
	CodeUnsafePath          = "unsafe_path"           // absolute, "..", or outside the data directory
	CodeExtension           = "extension_not_allowed" // extension not in ALLOWED_EXTENSIONS
	CodeFileNotFound        = "file_not_found"        // DATA_DIR visible and the file is not there
	CodeUnknownDomain       = "unknown_domain"        // no such domain
	CodeNotFound            = "not_found"             // unknown job, dead letter or route
	CodeMethod              = "method_not_allowed"    // route exists, method does not
	CodeUnauthorized        = "unauthorized"          // API_TOKEN set and the bearer token is wrong or absent
	CodeCrossOrigin         = "cross_origin"          // a browser sent a state-changing request from another site
	CodeTooLarge            = "too_large"             // body over its size limit
	CodeQueueFull           = "queue_full"            // the job stream is at its limit
	CodeIdempotencyConflict = "idempotency_conflict"  // Idempotency-Key already names a different job
	CodeJobFinished         = "job_finished"          // cancel of a job that already succeeded or failed
	CodeTimeout             = "request_timeout"       // the request body did not arrive in time
	CodeUnavailable         = "unavailable"           // NATS unreachable or not ready
	CodeInternal            = "internal"              // anything else
)

// apiError is an error with the status and code it answers with.
type apiError struct {
	status  int
	code    string
	message string
	err     error // cause, for logs; may be nil
}

func (e *apiError) Error() string {
	if e.err != nil {
		return e.message + ": " + e.err.Error()
	}
	return e.message
}

func (e *apiError) Unwrap() error { return e.err }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// classify turns any error a handler returns into the status, code and
// client-facing message it answers with. It is the API's one error switch.
func classify(err error) *apiError {
	var ae *apiError
	var ce *JobCheckError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ce):
		return &apiError{status: ce.Status, code: ce.Code, message: ce.Message, err: ce.Err}
	case errors.As(err, &mbe):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge,
			message: fmt.Sprintf("request body is larger than the limit of %d bytes", mbe.Limit), err: err}
	case errors.Is(err, queue.ErrBadJob):
		return &apiError{status: http.StatusBadRequest, code: CodeBadRequest, message: err.Error(), err: err}
	case errors.Is(err, queue.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: CodeNotFound, message: err.Error(), err: err}
	case errors.Is(err, queue.ErrTooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge, message: "NATS refused the message for its size", err: err}
	case errors.Is(err, queue.ErrQueueFull):
		return &apiError{status: http.StatusServiceUnavailable, code: CodeQueueFull,
			message: "the job queue is full; retry later", err: err}
	case errors.Is(err, queue.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable,
			message: "the job queue (NATS) is unavailable or did not confirm in time; retry later (with the same Idempotency-Key, a retry cannot add a second job)", err: err}
	default:
		return &apiError{status: http.StatusInternalServerError, code: CodeInternal, message: "internal error", err: err}
	}
}

// maxErrorMessage bounds the message of an error body.
const maxErrorMessage = 4 * clip.MaxEcho

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers with err's status and JSON error body. A 503 carries
// Retry-After.
func writeError(w http.ResponseWriter, ae *apiError) {
	if ae.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="embedstream"`)
	}
	// The messages quote outside values cut to clip.MaxEcho; this bounds
	// the whole, whatever a message quotes.
	writeJSON(w, ae.status, errorBody{Error: errorDetail{Code: ae.code, Message: clip.Text(ae.message, maxErrorMessage)}})
}

// writeJSON answers with status and v as indented JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"cannot encode the response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // a failed write means the client left; nothing to tell it
}

// api adapts a handler that returns an error to an http.Handler; the error
// is classified, logged with the request and answered as JSON.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Bound how long the body may take to arrive (an upload lifts
		// this); a writer that cannot (a test recorder) does without.
		if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			telemetry.Logger(r.Context()).Debug().Err(err).Msg("set read deadline")
		}
		err := h(w, r)
		if err == nil {
			return
		}
		ae := classify(err)
		if info := infoFrom(r.Context()); info != nil {
			info.err = err
		}
		writeError(w, ae)
	})
}

// dispatch routes r through the mux, answering unknown routes (404) and
// wrong methods (405, with Allow) in JSON like every other response.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	// No pattern: the mux's own 404, 405 or redirect. Let it decide, then
	// put a JSON body on its decision.
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		writeError(w, errorf(http.StatusMethodNotAllowed, CodeMethod, "method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	case http.StatusNotFound, 0:
		writeError(w, errorf(http.StatusNotFound, CodeNotFound, "no route %s %s", r.Method, r.URL.Path))
	default:
		for k, v := range rec.header {
			if !strings.EqualFold(k, "Content-Type") {
				w.Header()[k] = v
			}
		}
		writeJSON(w, rec.status, map[string]string{"location": rec.header.Get("Location")})
	}
}

// statusRecorder captures the status and headers of the mux's fallback
// handlers; their plain-text bodies are dropped.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
