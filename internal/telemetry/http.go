package telemetry

import "net/http"

// ResponseRecorder wraps an http.ResponseWriter and records what an access
// log and request metrics need: the status sent and the body bytes written.
// Unwrap lets http.ResponseController reach the wrapped writer.
type ResponseRecorder struct {
	http.ResponseWriter
	status  int
	written int64
}

// NewResponseRecorder returns a recorder writing through to w.
func NewResponseRecorder(w http.ResponseWriter) *ResponseRecorder {
	return &ResponseRecorder{ResponseWriter: w}
}

// WriteHeader records the first status sent and sends it on.
func (w *ResponseRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write writes b through, recording an implicit 200 and the bytes written.
func (w *ResponseRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

// Unwrap returns the wrapped writer.
func (w *ResponseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Status returns the status sent, or 0 when nothing has been sent yet (a
// handler that returns without writing answers 200).
func (w *ResponseRecorder) Status() int { return w.status }

// Written returns how many body bytes were written.
func (w *ResponseRecorder) Written() int64 { return w.written }
