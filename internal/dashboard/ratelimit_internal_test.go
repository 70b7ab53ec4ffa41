package dashboard

import (
	"strconv"
	"testing"
	"time"
)

func TestLoginLimiter(t *testing.T) {
	t.Parallel()
	now := t0
	l := &loginLimiter{now: func() time.Time { return now }}
	for i := range loginBurst {
		if w := l.wait("10.0.0.1"); w != 0 {
			t.Fatalf("attempt %d: wait %v, want 0", i+1, w)
		}
		l.fail("10.0.0.1")
	}
	if w := l.wait("10.0.0.1"); w <= 0 || w > loginRefill {
		t.Fatalf("after %d failures: wait %v, want (0, %v]", loginBurst, w, loginRefill)
	}
	if w := l.wait("10.0.0.2"); w != 0 {
		t.Errorf("another address: wait %v", w)
	}
	now = now.Add(loginRefill)
	if w := l.wait("10.0.0.1"); w != 0 {
		t.Errorf("after one refill period: wait %v, want 0", w)
	}
	l.fail("10.0.0.1")
	if w := l.wait("10.0.0.1"); w <= 0 {
		t.Error("one token spent again, yet no wait")
	}
	// The map stays bounded: full buckets are forgotten first.
	for i := range maxLoginClients + 10 {
		l.fail("ip-" + strconv.Itoa(i))
	}
	if n := len(l.buckets); n > maxLoginClients {
		t.Errorf("%d addresses tracked, want at most %d", n, maxLoginClients)
	}
}
