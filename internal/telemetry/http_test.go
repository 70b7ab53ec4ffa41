package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestResponseRecorder(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewResponseRecorder(rec)
	if w.Status() != 0 {
		t.Fatalf("status before any write = %d, want 0", w.Status())
	}
	w.WriteHeader(http.StatusTeapot)
	w.WriteHeader(http.StatusOK) // only the first status counts
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if w.Status() != http.StatusTeapot || w.Written() != 5 || rec.Body.String() != "hello" {
		t.Fatalf("status %d, written %d, body %q", w.Status(), w.Written(), rec.Body.String())
	}
	if w.Unwrap() != rec {
		t.Fatal("Unwrap does not return the wrapped writer")
	}
	w2 := NewResponseRecorder(httptest.NewRecorder())
	_, _ = w2.Write([]byte("x"))
	if w2.Status() != http.StatusOK {
		t.Fatalf("implicit status = %d, want 200", w2.Status())
	}
}
