package ingest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// The batch server binary, built once per test run on first use.
var (
	outageBatchBuildOnce sync.Once
	outageBatchBuildErr  error
)

func outageBatchBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("process tests build and run the batch server binary")
	}
	path := filepath.Join(binDir, "batchserver-outage")
	outageBatchBuildOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", path, "github.com/embedstream/embedstream/batchserver").CombinedOutput()
		if err != nil {
			outageBatchBuildErr = fmt.Errorf("go build batchserver: %v\n%s", err, out)
		}
	})
	if outageBatchBuildErr != nil {
		t.Fatal(outageBatchBuildErr)
	}
	return path
}

// batchServerProc is a reference batch server process.
type batchServerProc struct {
	cmd     *exec.Cmd
	out     *lockedBuffer
	exited  chan struct{}
	waitErr error
}

// runBatchServer runs the batch server binary on addr, committing into
// outDir, and waits until it serves. It is killed when the test ends if
// still running.
func runBatchServer(t *testing.T, addr, outDir string, args ...string) *batchServerProc {
	t.Helper()
	p := &batchServerProc{out: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(outageBatchBinary(t), append([]string{"--listen", addr, "--out", outDir, "--log-format", "json"}, args...)...)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	waitOutput(t, "the batch server to serve", p.out, p.exited, "batch server serving")
	return p
}

// kill takes the server down at once, as a crash or a lost host would.
func (p *batchServerProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// waitOutput waits until out holds want, failing the test if the process
// exits first or the deadline passes.
func waitOutput(t *testing.T, what string, out *lockedBuffer, exited <-chan struct{}, want string) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(out.String(), want) {
		select {
		case <-exited:
			t.Fatalf("waiting for %s: the process exited:\n%s", what, out.String())
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s:\n%s", what, out.String())
		case <-tick.C:
		}
	}
}

// defaultWorker runs the worker binary with the default settings: only
// where NATS, the batch server and the data are, a free metrics port and
// its name. It is killed when the test ends if still running.
func defaultWorker(t *testing.T, name, natsURL, batchAddr, dataDir string) {
	t.Helper()
	cmd := exec.Command(workerBinary(t))
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "NATS_URL=" + natsURL, "BATCH_SERVER_ADDR=" + batchAddr, "DATA_DIR=" + dataDir,
		"METRICS_ADDR=127.0.0.1:0", "WORKER_NAME=" + name, "LOG_FORMAT=json",
	}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("worker %s's log:\n%s", name, out.String())
		}
	})
	waitOutput(t, "worker "+name+" to start", out, exited, `"worker started"`)
}

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// watchJobs reads the status records of ids every 500ms until cond holds
// for all of them, failing the test after timeout; it returns the last
// records read.
func watchJobs(t *testing.T, q *queue.Queue, ids []string, timeout time.Duration, what string, cond func(queue.Status) bool) map[string]queue.Status {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last := map[string]queue.Status{}
	for {
		all := true
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s, err := q.GetStatus(ctx, id)
			cancel()
			if err == nil {
				last[id] = s
				if s.State == queue.StateFailed {
					t.Fatalf("job %s failed: %+v", id, s)
				}
			}
			if err != nil || !cond(s) {
				all = false
			}
		}
		if all {
			return last
		}
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s; last records: %+v", timeout, what, last)
		case <-tick.C:
		}
	}
}

// ledgerCommits counts the lines of the batch server's ledger per ingest
// id: how many times each was committed.
func ledgerCommits(t *testing.T, outDir string) map[string]int {
	t.Helper()
	f, err := os.Open(filepath.Join(outDir, "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e batchserver.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("ledger line %q: %v", sc.Text(), err)
		}
		n[e.IngestID]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// enqueueTen enqueues ten jobs of the 50-record fixture, one record per
// chunk, and returns their ids.
func enqueueTen(t *testing.T, q *queue.Queue, prefix string) []string {
	t.Helper()
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%02d", prefix, i)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		_, err := q.Enqueue(ctx, queue.Job{ID: ids[i], Domain: "recruit", FileName: "recruit_small_df.pkl", Options: queue.JobOptions{ChunkRecords: 1}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func running(s queue.Status) bool { return s.State == queue.StateRunning && s.ChunksSent > 0 }

// TestProcessBatchServerOutageWithDefaults: with every default setting
// (MAX_DELIVER 5, backoff 2s doubling to 2m, RETRY_BUDGET 15m), a batch
// server process killed with ten jobs in flight stays down until a job
// has been failing for a minute (the old budget, five deliveries in about
// 30s, dead-lettered 3 to 8 of 10), then comes back: every job commits
// exactly once and none is dead-lettered.
func TestProcessBatchServerOutageWithDefaults(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ns := queuetest.StartServer(t)
	q := queuetest.OpenQueue(t, ns, queuetest.Config())
	dataDir, outDir := t.TempDir(), t.TempDir()
	copyFixture(t, "recruit_small_df.pkl", dataDir)
	addr := freeLoopbackAddr(t)
	bs := runBatchServer(t, addr, outDir, "--chunk-delay", "100ms")
	defaultWorker(t, "a", ns.URL(), addr, dataDir)
	defaultWorker(t, "b", ns.URL(), addr, dataDir)

	ids := enqueueTen(t, q, "outage")
	watchJobsAny(t, q, ids, 2, waitTimeout, "two jobs streaming", running)
	killed := time.Now()
	bs.kill(t)

	const outage = time.Minute
	watchJobsAny(t, q, ids, 1, outage+2*time.Minute, "a job to fail for the outage", func(s queue.Status) bool {
		return s.State != queue.StateSucceeded && !s.RetryingSince.IsZero() && time.Since(s.RetryingSince) >= outage
	})
	down := time.Since(killed)
	runBatchServer(t, addr, outDir)
	final := watchJobs(t, q, ids, 10*time.Minute, "every job to succeed", func(s queue.Status) bool { return s.State == queue.StateSucceeded })

	maxAttempts := 0
	for _, id := range ids {
		maxAttempts = max(maxAttempts, final[id].Attempts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if n, err := q.DeadLetterCount(ctx); err != nil || n != 0 {
		t.Errorf("%d dead letters (%v), want none", n, err)
	}
	commits := ledgerCommits(t, outDir)
	for _, id := range ids {
		if commits[id] != 1 {
			t.Errorf("job %s committed %d times, want exactly once", id, commits[id])
		}
	}
	t.Logf("batch server down %s with default settings; jobs took up to %d attempts; test ran %s", down.Round(time.Second), maxAttempts, time.Since(start).Round(time.Second))
}

// TestProcessNATSRestartWithDefaults: the NATS server is restarted on the
// same store while two default worker processes stream ten jobs: nothing
// is lost, nothing dead-lettered, each job committed once.
func TestProcessNATSRestartWithDefaults(t *testing.T) {
	t.Parallel()
	ns := queuetest.StartServer(t)
	q := queuetest.OpenQueue(t, ns, queuetest.Config())
	dataDir := t.TempDir()
	copyFixture(t, "recruit_small_df.pkl", dataDir)
	bs := batchservertest.Start(t, batchserver.Config{ChunkDelay: 50 * time.Millisecond}, zerolog.Nop())
	defaultWorker(t, "a", ns.URL(), bs.Addr, dataDir)
	defaultWorker(t, "b", ns.URL(), bs.Addr, dataDir)

	ids := enqueueTen(t, q, "restart")
	watchJobsAny(t, q, ids, 2, waitTimeout, "two jobs streaming", running)
	ns.Restart(t)

	watchJobs(t, q, ids, 5*time.Minute, "every job to succeed", func(s queue.Status) bool { return s.State == queue.StateSucceeded })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if n, err := q.DeadLetterCount(ctx); err != nil || n != 0 {
		t.Errorf("%d dead letters (%v), want none", n, err)
	}
	commits := ledgerCommits(t, bs.OutDir)
	for _, id := range ids {
		if commits[id] != 1 {
			t.Errorf("job %s committed %d times, want exactly once", id, commits[id])
		}
	}
	if n := queuetest.StreamMsgs(t, ns, queue.DefaultStream); n != 0 {
		t.Errorf("job stream holds %d messages after every job succeeded", n)
	}
}

// watchJobsAny waits until cond holds for at least n of ids, failing the
// test after timeout or when a job fails.
func watchJobsAny(t *testing.T, q *queue.Queue, ids []string, n int, timeout time.Duration, what string, cond func(queue.Status) bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		got := 0
		for _, id := range ids {
			s, err := q.GetStatus(context.Background(), id)
			if err == nil && s.State == queue.StateFailed {
				t.Fatalf("job %s failed: %+v", id, s)
			}
			if err == nil && cond(s) {
				got++
			}
		}
		if got >= n {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func copyFixture(t *testing.T, name, dir string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
