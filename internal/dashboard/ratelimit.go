package dashboard

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits of failed logins per client IP: a burst of loginBurst, then one
// more every loginRefill (10 a minute).
const (
	loginBurst  = 10
	loginRefill = 6 * time.Second
	// maxLoginClients bounds the IPs tracked at once.
	maxLoginClients = 10_000
)

// loginLimiter is a token bucket per client IP, spent by failed logins.
// While an IP's bucket is empty its logins are refused with 429 before the
// token is even compared, so guessing cannot go faster than the refill.
type loginLimiter struct {
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*loginBucket
}

type loginBucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// refill brings b up to now; it reports whether b is full again.
func (b *loginBucket) refill(now time.Time) bool {
	b.tokens = math.Min(loginBurst, b.tokens+float64(now.Sub(b.at))/float64(loginRefill))
	b.at = now
	return b.tokens >= loginBurst
}

// wait returns how long ip must wait before its next login attempt: 0 when
// it may try now.
func (l *loginLimiter) wait(ip string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[ip]
	if !ok {
		return 0
	}
	if b.refill(l.now()); b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(loginRefill))
}

// fail spends one of ip's tokens for a failed login.
func (l *loginLimiter) fail(ip string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = make(map[string]*loginBucket)
	}
	b, ok := l.buckets[ip]
	if !ok {
		if len(l.buckets) >= maxLoginClients {
			l.prune(now)
		}
		b = &loginBucket{tokens: loginBurst, at: now}
		l.buckets[ip] = b
	}
	b.refill(now)
	b.tokens = math.Max(0, b.tokens-1)
}

// prune forgets the IPs whose buckets are full again and, if that is not
// enough, arbitrary ones, so the map stays bounded.
func (l *loginLimiter) prune(now time.Time) {
	for ip, b := range l.buckets {
		if b.refill(now) {
			delete(l.buckets, ip)
		}
	}
	for ip := range l.buckets {
		if len(l.buckets) < maxLoginClients {
			break
		}
		delete(l.buckets, ip)
	}
}

// clientIP is the address a request came from: the TCP peer. Forwarded
// headers are not trusted (a client could name any address in them), so
// behind a reverse proxy every client shares the proxy's bucket.
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
