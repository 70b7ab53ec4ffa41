package polltest

import (
	"testing"
	"time"
)

// interval is how often Until checks its condition.
const interval = 10 * time.Millisecond

// Until calls cond at once and then every 10ms until it returns true. If
// timeout passes first, it fails the test with t.Fatalf, naming what it was
// waiting for. Call it from the test's goroutine.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}
