package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SessionBucket is the JetStream key-value bucket of revoked dashboard
// sessions: key = session id, value = the session's expiry (Unix seconds).
// Its TTL is [Config.SessionTTL], so a revocation outlives the cookie it
// revokes, and every publisher replica sharing the NATS account sees a
// logout made on any of them. The first replica to need it creates it;
// the others bind it as it is, so replicas should share one SessionTTL (a
// bucket TTL shorter than a replica's SessionTTL would let a revocation
// expire before the cookie it revokes).
const SessionBucket = "dashboard_sessions"

// errSessionStore marks a failure to read or write [SessionBucket].
var errSessionStore = errors.New("dashboard: session store unavailable")

// session is a parsed, authentic, unexpired session cookie.
type session struct {
	id  string
	exp time.Time
}

// newSessionValue returns a fresh session: a random id and the cookie value
// "<id>.<expiry unix seconds>.<HMAC-SHA256 of both keyed with API_TOKEN>".
// The MAC lets a forged or tampered cookie be refused without I/O and ends
// every session when the token changes; the id is what logout revokes.
func (d *Dashboard) newSessionValue(exp time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	payload := hex.EncodeToString(b[:]) + "." + strconv.FormatInt(exp.Unix(), 10)
	return payload + "." + base64.RawURLEncoding.EncodeToString(d.sessionMAC(payload))
}

func (d *Dashboard) sessionMAC(payload string) []byte {
	m := hmac.New(sha256.New, []byte(d.cfg.Token))
	m.Write([]byte("embedstream dashboard session v2\x00" + payload))
	return m.Sum(nil)
}

// parseSession returns r's session when its cookie is authentic and
// unexpired; it does no I/O and does not look at revocations.
func (d *Dashboard) parseSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return session{}, false
	}
	payload, sig, ok := cutLast(c.Value, ".")
	if !ok {
		return session{}, false
	}
	id, ts, ok := strings.Cut(payload, ".")
	if !ok || len(id) != 32 {
		return session{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, d.sessionMAC(payload)) { // constant time
		return session{}, false
	}
	exp, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || d.now().Unix() >= exp {
		return session{}, false
	}
	return session{id: id, exp: time.Unix(exp, 0)}, true
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// checkSession reports whether r carries a valid session: authentic,
// unexpired and not revoked. A failure to read the revocations is returned
// (wrapping errSessionStore); the session is then not trusted.
func (d *Dashboard) checkSession(r *http.Request) (bool, error) {
	s, ok := d.parseSession(r)
	if !ok {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.RequestTimeout)
	defer cancel()
	revoked, err := d.sessions.revoked(ctx, s.id)
	if err != nil {
		return false, err
	}
	return !revoked, nil
}

// sessionStore records revoked sessions in [SessionBucket], created on
// first use, and remembers this process's own revocations, so a logout
// holds here even while NATS is unreachable.
type sessionStore struct {
	// open binds the bucket, creating it when missing (Queue.Bucket).
	open func(ctx context.Context, name, description string, ttl time.Duration) (jetstream.KeyValue, error)
	ttl  time.Duration
	now  func() time.Time

	mu    sync.Mutex
	kv    jetstream.KeyValue
	local map[string]time.Time // session id -> expiry
}

// bucket returns the revocation bucket, binding or creating it on first
// use; a failure is retried on the next call.
func (s *sessionStore) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kv != nil {
		return s.kv, nil
	}
	kv, err := s.open(ctx, SessionBucket, "embedstream dashboard: revoked sessions (logouts), key = session id", s.ttl)
	if err != nil {
		return nil, fmt.Errorf("%w: bucket %s: %w", errSessionStore, SessionBucket, err)
	}
	s.kv = kv
	return kv, nil
}

// revoked reports whether session id was revoked, here or by any replica.
func (s *sessionStore) revoked(ctx context.Context, id string) (bool, error) {
	s.mu.Lock()
	_, local := s.local[id]
	s.mu.Unlock()
	if local {
		return true, nil
	}
	kv, err := s.bucket(ctx)
	if err != nil {
		return false, err
	}
	_, err = kv.Get(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("%w: read revocation: %w", errSessionStore, err)
	}
}

// revoke ends session s for every replica. It is recorded in this process
// first, so it holds here even when the bucket write fails (the error is
// returned wrapping errSessionStore).
func (s *sessionStore) revoke(ctx context.Context, sess session) error {
	now := s.now()
	s.mu.Lock()
	if s.local == nil {
		s.local = make(map[string]time.Time)
	}
	for id, exp := range s.local {
		if !exp.After(now) {
			delete(s.local, id)
		}
	}
	s.local[sess.id] = sess.exp
	s.mu.Unlock()
	kv, err := s.bucket(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, sess.id, []byte(strconv.FormatInt(sess.exp.Unix(), 10))); err != nil {
		return fmt.Errorf("%w: record revocation: %w", errSessionStore, err)
	}
	return nil
}

// authKey is the request-context key of an authenticated request.
type authKey struct{}

// withAuthenticated marks r as carrying a valid session.
func withAuthenticated(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), authKey{}, true))
}

// authenticated reports whether authenticate found a valid session on r.
func authenticated(r *http.Request) bool {
	ok, _ := r.Context().Value(authKey{}).(bool)
	return ok
}
