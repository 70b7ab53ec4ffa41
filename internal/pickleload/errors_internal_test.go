package pickleload

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

// TestRecoveredErr: a recovered panic is an ErrMalformed bad-file error
// for callers, and marked for tests; ordinary errors are not marked.
func TestRecoveredErr(t *testing.T) {
	t.Parallel()
	err := error(recoveredErr("index out of range"))
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrMalformed) || !isRecovered(err) {
		t.Errorf("recoveredErr: %v (recovered %v)", err, isRecovered(err))
	}
	if isRecovered(newErr(ErrMalformed, 0, "STOP", "x")) || isRecovered(io.EOF) || isRecovered(nil) {
		t.Error("an ordinary error reads as a recovered panic")
	}
}

// TestFaultIsNotInvalid: a memory fault reading a mapped input that
// shrank (with SetPanicOnFault, as the worker reads) is ErrFault, not a bad
// file, from Load and from Open.
func TestFaultIsNotInvalid(t *testing.T) {
	if !canFault {
		t.Skip("no memory-mapped input here")
	}
	path := filepath.Join(t.TempDir(), "shrinks.pkl")
	var buf bytes.Buffer
	if err := genRecruitFrame(&buf, 300, 8); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	data := mmapFile(t, path)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	for name, load := range map[string]func() error{
		"Load": func() error { _, err := Load(data, Options{}); return err },
		"Open": func() error {
			tune := defaultTuning()
			tune.force = true
			_, err := open(data, Options{MemoryBudget: 1}, tune)
			return err
		},
	} {
		done := make(chan error, 1)
		go func() {
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			done <- load()
		}()
		err := <-done
		if !errors.Is(err, ErrFault) || errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrFault and not ErrInvalid", name, err)
		}
	}
}
