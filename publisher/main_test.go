package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/embedstream/embedstream/internal/queuetest"
)

// The publisher binary, built once per test run on first use.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func publisherBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the publisher binary")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "publisher-test-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "publisher")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// run runs the publisher with args and env (over a minimal environment)
// and returns its exit code and combined output; it fails the test if
// the process does not exit within limit.
func run(t *testing.T, limit time.Duration, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, publisherBinary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("publisher %v did not exit within %s:\n%s", args, limit, out)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

const secret = "s3cret-pw"

func hostPort(s *queuetest.Server) string {
	_, hp, _ := strings.Cut(s.URL(), "://")
	return hp
}

// TestCLINamesNATSRefusals: the CLI fails at once, naming the real cause,
// when nothing listens at NATS_URL (with a hint to start the local stack)
// or NATS refuses its credentials; the password never reaches its output.
func TestCLINamesNATSRefusals(t *testing.T) {
	t.Parallel()
	auth := queuetest.StartServerWith(t, func(o *server.Options) { o.Username, o.Password = "embed", secret })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nothing := l.Addr().String()
	l.Close()

	for _, c := range []struct {
		name, url string
		want      []string
	}{
		{"nothing listening", "nats://embed:" + secret + "@" + nothing, []string{"cannot reach NATS at nats://embed:xxxxx@", "go run ./publisher/dev"}},
		{"wrong password", "nats://embed:wrong-" + secret + "@" + hostPort(auth), []string{"nats refused the connection", "Authorization Violation", "NATS_CREDS"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// The CLI waits up to 10s for NATS: it must not need that.
			start := time.Now()
			code, out := run(t, 30*time.Second, []string{"NATS_URL=" + c.url}, "jobs")
			if code != 1 {
				t.Errorf("exit code %d, want 1:\n%s", code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not say %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, secret) {
				t.Errorf("the password leaked:\n%s", out)
			}
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("the CLI took %s to give up", d)
			}
		})
	}
}

// TestServeRequiresATokenWhenTold: with REQUIRE_API_TOKEN (set in the
// production overlays), serve refuses to start without API_TOKEN.
func TestServeRequiresATokenWhenTold(t *testing.T) {
	t.Parallel()
	code, out := run(t, 30*time.Second, []string{"REQUIRE_API_TOKEN=true", "NATS_URL=nats://127.0.0.1:1"}, "serve")
	if code != 2 || !strings.Contains(out, "API_TOKEN") || !strings.Contains(out, "REQUIRE_API_TOKEN") {
		t.Fatalf("serve with REQUIRE_API_TOKEN and no token: exit %d, want 2 naming API_TOKEN:\n%s", code, out)
	}
}

// TestServeExitsWhenNATSClosesTheConnectionForGood: serve's connection is
// closed for good by NATS (its credentials were rotated: an authorization
// violation on reconnect); serve exits non-zero, to be restarted, instead
// of answering 503 forever, and names the cause without the password.
func TestServeExitsWhenNATSClosesTheConnectionForGood(t *testing.T) {
	t.Parallel()
	ns := queuetest.StartServerWith(t, func(o *server.Options) { o.Username, o.Password = "embed", secret })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(publisherBinary(t), "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "NATS_URL=nats://embed:" + secret + "@" + hostPort(ns), "HTTP_ADDR=" + addr, "LOG_FORMAT=json"}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.After(30 * time.Second)
	for !strings.Contains(out.String(), "http api listening") {
		select {
		case <-exited:
			t.Fatalf("serve exited early (%v):\n%s", waitErr, out.String())
		case <-deadline:
			t.Fatalf("serve did not start:\n%s", out.String())
		case <-time.After(20 * time.Millisecond): // poll interval
		}
	}
	ns.RestartWith(t, func(o *server.Options) { o.Password = "rotated" })
	select {
	case <-exited:
		err := waitErr
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("serve exited with %v, want a non-zero status:\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("serve still runs after NATS closed its connection for good:\n%s", out.String())
	}
	if !strings.Contains(strings.ToLower(out.String()), "authorization violation") || !strings.Contains(out.String(), "closed for good") {
		t.Errorf("serve's log does not name the cause:\n%s", out.String())
	}
	if strings.Contains(out.String(), secret) {
		t.Errorf("the password leaked:\n%s", out.String())
	}
}
