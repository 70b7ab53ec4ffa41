package pickleload

import (
	"errors"
	"io"
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
