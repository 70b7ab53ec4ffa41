package queue_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
	"github.com/embedstream/embedstream/internal/tlstest"
)

// logBuffer is a zerolog destination safe for the NATS client's callback
// goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const secret = "s3cret-pw"

func withUser(o *server.Options) { o.Username, o.Password = "embed", secret }

// hostPort returns the host:port of a server's client URL.
func hostPort(s *queuetest.Server) string {
	_, hp, _ := strings.Cut(s.URL(), "://")
	return hp
}

// TestConnectNamesRefusals: a server that refuses the client ends Connect
// at once (not when its context ends) with ErrRefused and the real cause,
// and no password reaches the error or the log.
func TestConnectNamesRefusals(t *testing.T) {
	t.Parallel()
	auth := queuetest.StartServerWith(t, withUser)
	pki := tlstest.NewPKI(t)
	tlsSrv := queuetest.StartServerWith(t, func(o *server.Options) {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: pki.ServerCertFile, KeyFile: pki.ServerKeyFile})
		if err != nil {
			t.Fatal(err)
		}
		o.TLSConfig, o.TLS, o.TLSTimeout = tc, true, 2
	})
	plain := queuetest.StartServer(t)

	for _, c := range []struct {
		name string
		opts queue.ConnOptions
		want string
	}{
		{"wrong password", queue.ConnOptions{URL: "nats://embed:wrong-" + secret + "@" + hostPort(auth)}, "authorization violation"},
		{"no credentials", queue.ConnOptions{URL: "nats://" + hostPort(auth)}, "authorization violation"},
		{"TLS server, unknown CA", queue.ConnOptions{URL: "nats://" + hostPort(tlsSrv)}, "TLS"},
		{"TLS wanted, plain server", queue.ConnOptions{URL: "tls://u:" + secret + "@" + hostPort(plain), TLSCA: pki.CAFile}, "secure connection not available"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var logs logBuffer
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			_, err := queue.Connect(ctx, c.opts, "test", zerolog.New(&logs))
			if !errors.Is(err, queue.ErrRefused) || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.want)) {
				t.Fatalf("err = %v, want ErrRefused naming %q", err, c.want)
			}
			if ctx.Err() != nil {
				t.Fatalf("Connect retried until its context ended: %v", err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
				t.Errorf("the password leaked:\nerr: %v\nlog: %s", err, logs.String())
			}
		})
	}
}

// TestConnectRedactsWhileRetrying: while nothing listens, Connect logs
// the cause with the URL redacted; with FailFast it returns at the first
// attempt, saying nothing listens there.
func TestConnectRedactsWhileRetrying(t *testing.T) {
	t.Parallel()
	url := "nats://embed:" + secret + "@127.0.0.1:1"
	var logs logBuffer
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	_, err := queue.Connect(ctx, queue.ConnOptions{URL: url}, "test", zerolog.New(&logs))
	if !errors.Is(err, queue.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if !strings.Contains(logs.String(), "nats not reachable yet, retrying") || !strings.Contains(logs.String(), "embed:xxxxx@127.0.0.1:1") {
		t.Errorf("log does not name the redacted URL:\n%s", logs.String())
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
		t.Errorf("the password leaked:\nerr: %v\nlog: %s", err, logs.String())
	}

	ctx, cancel = context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err = queue.Connect(ctx, queue.ConnOptions{URL: url, FailFast: true}, "test", zerolog.Nop())
	if !errors.Is(err, queue.ErrUnavailable) || !strings.Contains(err.Error(), "no NATS server is listening") || ctx.Err() != nil {
		t.Fatalf("FailFast: err = %v, want ErrUnavailable at once saying nothing listens", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("the password leaked: %v", err)
	}
}

// TestWatchClosedReportsAConnectionClosedForGood: a server that refuses
// the client's credentials on reconnect (they were changed) closes the
// connection for good; WatchClosed says so, once. A connection closed
// after the watch's context ended is not reported.
func TestWatchClosedReportsAConnectionClosedForGood(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServerWith(t, withUser)
	var logs logBuffer
	nc, err := queue.Connect(testCtx(t), queue.ConnOptions{URL: "nats://embed:" + secret + "@" + hostPort(s)}, "test", zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if !strings.Contains(logs.String(), "nats connected") || strings.Contains(logs.String(), secret) {
		t.Errorf("the connected line is missing or holds the password:\n%s", logs.String())
	}
	closed := make(chan error, 2)
	queue.WatchClosed(t.Context(), nc, func(err error) { closed <- err })

	s.RestartWith(t, func(o *server.Options) { o.Password = "rotated" })
	select {
	case err := <-closed:
		if !errors.Is(err, queue.ErrClosed) || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
			t.Fatalf("err = %v, want ErrClosed naming the authorization violation", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the connection was not reported closed")
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the password leaked into the log:\n%s", logs.String())
	}

	nc2, err := queue.Connect(testCtx(t), queue.ConnOptions{URL: "nats://embed:rotated@" + hostPort(s)}, "test", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	queue.WatchClosed(ctx, nc2, func(err error) { closed <- err })
	cancel()
	nc2.Close()
	if err := nc2.FlushTimeout(time.Second); err == nil {
		t.Fatal("flush on a closed connection succeeded")
	}
	select {
	case err := <-closed:
		t.Fatalf("a connection closed by the process was reported: %v", err)
	default:
	}
}
