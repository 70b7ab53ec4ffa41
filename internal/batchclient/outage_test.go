package batchclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/sink"
)

// oldRetryBudget is how long a job kept retrying a batch server outage
// with the README's defaults before this change (MAX_DELIVER 5, backoff
// 2 s doubling: 2+4+8+16 s).
const oldRetryBudget = 30 * time.Second

// serveAt runs a reference batch server on addr writing into outDir, and
// returns a func that stops it (Serve returns, then Close); the test's
// cleanup stops it if still running.
func serveAt(t *testing.T, addr, outDir string) (stop func()) {
	t.Helper()
	srv, err := batchserver.New(batchserver.Config{OutDir: outDir}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		_ = srv.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestStreamWaitsForTheServerToComeBack: an attempt started while the
// server is down waits for the connection instead of failing at once, and
// commits once the server is up.
func TestStreamWaitsForTheServerToComeBack(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	var logs syncBuffer
	c, err := batchclient.New(context.Background(), batchclient.Config{Addr: addr}, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	polltest.Until(t, waitTimeout, "the client to find the server unreachable", func() bool {
		return strings.Contains(logs.String(), "batch server not reachable yet")
	})
	type result struct {
		res sink.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := c.Stream(context.Background(), meta("waits"), sampleTable(100, 4), sink.Options{}, nil)
		done <- result{res, err}
	}()
	serveAt(t, addr, t.TempDir())
	select {
	case r := <-done:
		if r.err != nil || r.res.RecordsReceived != 100 {
			t.Fatalf("stream: %+v, %v", r.res, r.err)
		}
	case <-time.After(2 * batchclient.DefaultReadyTimeout):
		t.Fatal("the stream did not end")
	}
}

// TestChannelRecoversAfterALongOutage: the batch server goes down for
// longer than the old retry budget (attempts meanwhile fail after
// ReadyTimeout, saying the server is not reachable, as UNAVAILABLE), then
// comes back on the same address and directory: the client's connection,
// whose reconnect backoff is capped, is back within seconds. It logs the
// gap between the server's return and the first committed stream; timings
// are not asserted.
func TestChannelRecoversAfterALongOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("keeps a server down for longer than the old retry budget")
	}
	t.Parallel()
	addr, out := freeAddr(t), t.TempDir()
	stop := serveAt(t, addr, out)
	const ready = 5 * time.Second
	var logs syncBuffer
	c, err := batchclient.New(context.Background(), batchclient.Config{Addr: addr, ReadyTimeout: ready}, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tb := sampleTable(200, 4)
	if _, err := c.Stream(context.Background(), meta("before"), tb, sink.Options{}, nil); err != nil {
		t.Fatal(err)
	}

	stop()
	down := time.Now()
	attempts := 0
	for time.Since(down) < oldRetryBudget+10*time.Second {
		attempts++
		_, err := c.Stream(context.Background(), meta(fmt.Sprint("during-", attempts)), tb, sink.Options{}, nil)
		if !errors.Is(err, sink.ErrUnavailable) || status.Code(err) != codes.Unavailable {
			t.Fatalf("attempt %d during the outage: %v, want ErrUnavailable (UNAVAILABLE)", attempts, err)
		}
		if attempts > 1 && !strings.Contains(err.Error(), "batch server at "+addr+" not reachable for 5s: ") {
			t.Errorf("attempt %d during the outage: %q, want it to say the server is not reachable", attempts, err)
		}
	}

	serveAt(t, addr, out)
	back := time.Now()
	var committed time.Duration
	polltest.Until(t, 2*waitTimeout, "a stream to commit after the server's return", func() bool {
		_, err := c.Stream(context.Background(), meta("after"), tb, sink.Options{}, nil)
		committed = time.Since(back)
		return err == nil
	})
	t.Logf("server down %s (%d attempts failed meanwhile, each after the %s readiness wait); first stream committed %s after its return",
		back.Sub(down).Round(time.Millisecond), attempts, ready, committed.Round(time.Millisecond))
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "batch server reconnected") {
			t.Logf("client log: %s", strings.TrimSpace(line))
		}
	}
}

// TestCallRightAfterTheServerWentAway: a stream opened in the moment the
// server has gone but the connection still shows READY is bounded by
// ReadyTimeout like any other, and fails UNAVAILABLE instead of waiting
// for the attempt's whole deadline. The moment is a race, so the test
// runs it several times.
func TestCallRightAfterTheServerWentAway(t *testing.T) {
	t.Parallel()
	addr, out := freeAddr(t), t.TempDir()
	c, err := batchclient.New(context.Background(), batchclient.Config{Addr: addr, ReadyTimeout: 300 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tb := sampleTable(20, 4)
	for i := range 8 {
		stop := serveAt(t, addr, out)
		polltest.Until(t, waitTimeout, "a stream to commit", func() bool {
			_, err := c.Stream(context.Background(), meta(fmt.Sprint("up-", i)), tb, sink.Options{}, nil)
			return err == nil
		})
		stop()
		// Far longer than the ready bound: a call that ignored the bound
		// would end DEADLINE_EXCEEDED here.
		ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
		_, err := c.Stream(ctx, meta(fmt.Sprint("down-", i)), tb, sink.Options{}, nil)
		cancel()
		if !errors.Is(err, sink.ErrUnavailable) || status.Code(err) != codes.Unavailable {
			t.Fatalf("round %d: a stream right after the server went away: %v, want ErrUnavailable (UNAVAILABLE)", i, err)
		}
	}
}
