package polltest_test

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/polltest"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	polltest.Until(t, time.Minute, "the third call", func() bool { return calls.Add(1) == 3 })
	if n := calls.Load(); n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}

// fatalRecorder records Fatalf and stops the calling goroutine, as
// testing.T does.
type fatalRecorder struct {
	testing.TB
	msg chan string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg <- format
	runtime.Goexit()
}

func TestUntilFailsAtTheDeadline(t *testing.T) {
	t.Parallel()
	r := &fatalRecorder{TB: t, msg: make(chan string, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		polltest.Until(r, 30*time.Millisecond, "never", func() bool { return false })
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Until did not give up at its deadline")
	}
	select {
	case msg := <-r.msg:
		if msg == "" {
			t.Error("empty failure message")
		}
	default:
		t.Error("Until returned without failing the test")
	}
}
