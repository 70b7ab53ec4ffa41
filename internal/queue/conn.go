package queue

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/clip"
)

// ConnOptions say where [Connect] finds NATS and how it authenticates.
type ConnOptions struct {
	URL     string // server URL(s), comma-separated ([DefaultURL] when empty)
	Creds   string // credentials file (optional)
	TLSCA   string // CA bundle verifying a TLS server (optional)
	TLSCert string // client certificate for mTLS (optional; with TLSKey)
	TLSKey  string // client key for mTLS (optional; with TLSCert)
	// FailFast makes [Connect] return at the first failed attempt instead
	// of retrying until its context ends: for one-shot commands (the
	// CLI), which should say at once that nothing listens at the URL.
	FailFast bool
}

// connRetryLogEvery bounds how often [Connect] logs that NATS is still
// not reachable while it retries.
const connRetryLogEvery = 30 * time.Second

// Connect dials NATS as c says: the comma-separated URL list, optional
// credentials file, TLS CA and client certificate. The connection
// reconnects forever and logs disconnects, reconnects and async errors on
// log; name identifies the client to the server (e.g. "worker host-123").
// While disconnected, publishes (jobs, acks, status writes) fail at once
// rather than being buffered and sent later. Every URL it logs or puts in
// an error is redacted (clip.RedactURL): no password or token is printed.
//
// A server that answers and refuses the connection (an authorization
// violation, a TLS mismatch or a failed TLS handshake) ends Connect at
// once with an error wrapping [ErrRefused] and naming the cause: retrying
// the same settings cannot help. If no server answers yet, Connect logs
// the cause (e.g. connection refused) and keeps retrying until ctx is
// done (at once with c.FailFast), then returns an error wrapping
// [ErrUnavailable] that names the last cause.
//
// Errors: [ErrRefused], [ErrUnavailable].
func Connect(ctx context.Context, c ConnOptions, name string, log zerolog.Logger) (*nats.Conn, error) {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	url := clip.RedactURL(c.URL)
	connected := make(chan struct{})
	attempts := &connAttempts{failed: make(chan struct{}, 1)}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		// No buffering while disconnected: a publish then fails at once
		// instead of being sent after the caller already gave up on it (a
		// job reported as not enqueued must not appear later).
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(*nats.Conn) { close(connected) }),
		nats.ReconnectErrHandler(func(nc *nats.Conn, err error) {
			if attempts.record(err) {
				log.Warn().Err(err).Str("url", url).Msg("nats not reachable yet, retrying")
			}
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err == nil && nc.IsClosed() {
				return // our own Close or Drain: not a disconnect to warn about
			}
			log.Warn().Err(err).Msg("nats disconnected")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("url", clip.RedactURL(nc.ConnectedUrl())).Msg("nats reconnected")
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			if err := nc.LastError(); err != nil {
				log.Warn().Err(err).Msg("nats connection closed")
				return
			}
			log.Debug().Msg("nats connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := log.Error().Err(err)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("nats async error")
		}),
	}
	if c.Creds != "" {
		opts = append(opts, nats.UserCredentials(c.Creds))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return nil, connectError(url, err)
	}
	if nc.IsConnected() {
		log.Info().Str("url", clip.RedactURL(nc.ConnectedUrl())).Msg("nats connected")
		return nc, nil
	}
	closed := nc.StatusChanged(nats.CLOSED)
	defer nc.RemoveStatusListener(closed)
	for {
		select {
		case <-connected:
			log.Info().Str("url", clip.RedactURL(nc.ConnectedUrl())).Msg("nats connected")
			return nc, nil
		case <-closed:
			err := nc.LastError()
			if err == nil {
				err = attempts.last()
			}
			return nil, connectError(url, err)
		case <-attempts.failed:
			err := attempts.last()
			if c.FailFast || refused(err) {
				nc.Close()
				return nil, connectError(url, err)
			}
		case <-ctx.Done():
			nc.Close()
			err := attempts.last()
			if err == nil {
				return nil, fmt.Errorf("queue: connect to %s: %w: %w", url, ErrUnavailable, context.Cause(ctx))
			}
			return nil, fmt.Errorf("%w (gave up: %w)", connectError(url, err), context.Cause(ctx))
		}
	}
}

// connAttempts records the failed connection attempts of [Connect].
type connAttempts struct {
	mu       sync.Mutex
	err      error
	loggedAt time.Time
	failed   chan struct{} // signalled (without blocking) on every failure
}

// record keeps err as the last failure and reports whether to log it: the
// first time, and then at most every connRetryLogEvery.
func (a *connAttempts) record(err error) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.err = err
	select {
	case a.failed <- struct{}{}:
	default:
	}
	if now := time.Now(); now.Sub(a.loggedAt) >= connRetryLogEvery {
		a.loggedAt = now
		return true
	}
	return false
}

func (a *connAttempts) last() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// connectError words a failed connection to url (already redacted) with
// the real cause: [ErrRefused] for an authorization or TLS refusal,
// [ErrUnavailable] for anything else (nothing listening, no route, DNS).
func connectError(url string, err error) error {
	switch {
	case err == nil:
		return fmt.Errorf("queue: connect to %s: %w", url, ErrUnavailable)
	case isAuthError(err):
		return fmt.Errorf("queue: connect to %s: %w: %w (check NATS_CREDS, or the user and password or token in NATS_URL)", url, ErrRefused, err)
	case isTLSError(err):
		return fmt.Errorf("queue: connect to %s: %w: TLS: %w (check the URL's scheme and NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY)", url, ErrRefused, err)
	case errors.Is(err, nats.ErrNoServers) || errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("queue: connect to %s: %w: no NATS server is listening there (%w)", url, ErrUnavailable, err)
	default:
		return fmt.Errorf("queue: connect to %s: %w: %w", url, ErrUnavailable, err)
	}
}

// refused reports whether err is the server refusing the client: retrying
// the same settings cannot help.
func refused(err error) bool { return isAuthError(err) || isTLSError(err) }

func isAuthError(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired)
}

func isTLSError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		header   tls.RecordHeaderError
		alert    tls.AlertError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		op       *net.OpError
	)
	return errors.Is(err, nats.ErrSecureConnRequired) || errors.Is(err, nats.ErrSecureConnWanted) ||
		errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &alert) ||
		errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		// crypto/tls reports an alert the server sent (e.g. "certificate
		// required" from an mTLS server) as a net.OpError "remote error".
		(errors.As(err, &op) && op.Op == "remote error")
}

// WatchClosed calls fn, once, if nc is closed while ctx lives: NATS or
// the client library closed it for good (an authorization error on
// reconnect, a protocol error such as "maximum control line exceeded"),
// and it will never reconnect. err wraps [ErrClosed] and the connection's
// last error. A connection the process closes itself after ctx ended is
// not reported. WatchClosed returns at once; the watch ends with ctx.
func WatchClosed(ctx context.Context, nc *nats.Conn, fn func(err error)) {
	ch := nc.StatusChanged(nats.CLOSED)
	report := func() {
		if ctx.Err() != nil {
			return
		}
		cause := nc.LastError()
		if cause == nil {
			cause = errors.New("no error given")
		}
		fn(fmt.Errorf("queue: %w: %w", ErrClosed, cause))
	}
	if nc.IsClosed() {
		nc.RemoveStatusListener(ch)
		report()
		return
	}
	go func() {
		defer nc.RemoveStatusListener(ch)
		select {
		case <-ch:
			report()
		case <-ctx.Done():
		}
	}()
}
