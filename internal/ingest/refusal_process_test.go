package ingest_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/embedstream/embedstream/internal/queuetest"
)

const natsSecret = "s3cret-pw"

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// bareWorker runs the worker binary with only the given settings (and a
// data directory and a free metrics port) and returns its output and a
// channel closed when it exits, with its wait error in *waitErr.
func bareWorker(t *testing.T, natsURL string) (out *lockedBuffer, exited chan struct{}, waitErr *error) {
	t.Helper()
	cmd := exec.Command(workerBinary(t))
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "NATS_URL=" + natsURL, "DATA_DIR=" + t.TempDir(),
		"METRICS_ADDR=127.0.0.1:0", "BATCH_SERVER_ADDR=127.0.0.1:1", "LOG_FORMAT=json",
	}
	out = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, waitErr = make(chan struct{}), new(error)
	go func() { *waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return out, exited, waitErr
}

// waitExit waits until the process exits and checks its status is not 0.
func waitExit(t *testing.T, what string, out *lockedBuffer, exited chan struct{}, waitErr *error) {
	t.Helper()
	select {
	case <-exited:
	case <-time.After(waitTimeout):
		t.Fatalf("the worker still runs %s:\n%s", what, out.String())
	}
	var ee *exec.ExitError
	if !errors.As(*waitErr, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("the worker exited with %v %s, want a non-zero status:\n%s", *waitErr, what, out.String())
	}
	if strings.Contains(out.String(), natsSecret) {
		t.Errorf("the password leaked into the worker's log:\n%s", out.String())
	}
}

func withNATSUser(o *server.Options) { o.Username, o.Password = "embed", natsSecret }

func natsHostPort(s *queuetest.Server) string {
	_, hp, _ := strings.Cut(s.URL(), "://")
	return hp
}

// TestProcessExitsWhenNATSRefusesIt: a worker whose credentials NATS
// refuses exits non-zero at once, naming the authorization violation,
// instead of retrying forever; its log never holds the password.
func TestProcessExitsWhenNATSRefusesIt(t *testing.T) {
	t.Parallel()
	ns := queuetest.StartServerWith(t, withNATSUser)
	out, exited, waitErr := bareWorker(t, "nats://embed:wrong-"+natsSecret+"@"+natsHostPort(ns))
	waitExit(t, "after NATS refused its credentials", out, exited, waitErr)
	if !strings.Contains(strings.ToLower(out.String()), "authorization violation") || !strings.Contains(out.String(), "nats refused the connection") {
		t.Errorf("the worker's log does not name the cause:\n%s", out.String())
	}
}

// TestProcessExitsWhenNATSClosesItsConnectionForGood: a running worker
// whose connection NATS closes for good (its credentials were rotated: an
// authorization violation on reconnect) exits non-zero, to be restarted,
// instead of answering 503 forever.
func TestProcessExitsWhenNATSClosesItsConnectionForGood(t *testing.T) {
	t.Parallel()
	ns := queuetest.StartServerWith(t, withNATSUser)
	out, exited, waitErr := bareWorker(t, "nats://embed:"+natsSecret+"@"+natsHostPort(ns))
	deadline := time.After(waitTimeout)
	for !strings.Contains(out.String(), `"worker started"`) {
		select {
		case <-exited:
			t.Fatalf("the worker exited early (%v):\n%s", *waitErr, out.String())
		case <-deadline:
			t.Fatalf("the worker did not start:\n%s", out.String())
		case <-time.After(20 * time.Millisecond): // poll interval
		}
	}
	ns.RestartWith(t, func(o *server.Options) { o.Password = "rotated" })
	waitExit(t, "after NATS closed its connection for good", out, exited, waitErr)
	if !strings.Contains(out.String(), "closed for good") {
		t.Errorf("the worker's log does not say why it stopped:\n%s", out.String())
	}
}
