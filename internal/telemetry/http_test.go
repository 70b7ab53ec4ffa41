package telemetry

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
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

// Console logs written to anything but a terminal (a pipe, a file, a
// buffer) carry no colour escape sequences.
func TestConsoleLogsColourOnlyOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "info", "console", "test")
	if err != nil {
		t.Fatal(err)
	}
	log.Warn().Str("k", "v").Msg("hello")
	if strings.Contains(buf.String(), "\x1b[") || !strings.Contains(buf.String(), "hello") {
		t.Fatalf("console log %q", buf.String())
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log, err = NewLogger(f, "info", "console", "test")
	if err != nil {
		t.Fatal(err)
	}
	log.Warn().Msg("to a file")
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "\x1b[") {
		t.Fatalf("console log to a file %q", data)
	}
}
