package ingest_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
)

// binDir holds the worker binary, built once per test run on first use.
var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ingest-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// workerBinary builds the worker command (once) and returns its path.
func workerBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("process tests build and run the worker binary")
	}
	path := filepath.Join(binDir, "worker")
	buildOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", path, "github.com/embedstream/embedstream/worker").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build worker: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return path
}

// logLine is one JSON log line of a worker process.
type logLine struct {
	Message     string `json:"message"`
	Level       string `json:"level"`
	Addr        string `json:"addr"`
	JobID       string `json:"job_id"`
	MemoryLimit int64  `json:"memory_limit"`
	JobBudget   int64  `json:"job_memory_budget"`
}

// proc is a worker process.
type proc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	lines   chan logLine
	exited  chan struct{}
	waitErr error
	addr    string  // its health and metrics address, once started
	memory  logLine // its "memory" line: the limit and budget it resolved
}

// startProcess runs the worker binary against e, with env overriding the
// defaults, and waits until it has bound its consumer. It is killed when
// the test ends if still running.
func (e *env) startProcess(name string, env ...string) *proc {
	e.t.Helper()
	return e.startProcessWith(name, (*exec.Cmd).Start, env...)
}

// startProcessWith is startProcess with the command started by start (e.g.
// inside a memory cgroup: memcg.Group.Start).
func (e *env) startProcessWith(name string, start func(*exec.Cmd) error, env ...string) *proc {
	e.t.Helper()
	bin := workerBinary(e.t)
	cmd := exec.Command(bin)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"NATS_URL=" + e.nats.URL(),
		"NATS_STREAM=" + e.qcfg.Stream,
		"ACK_WAIT=" + e.qcfg.AckWait.String(),
		fmt.Sprint("MAX_DELIVER=", e.qcfg.MaxDeliver),
		"QUEUE_MAX_BYTES=0",
		"QUEUE_MAX_MSGS=0",
		"JOB_STATUS_TTL=" + e.qcfg.StatusTTL.String(),
		"BATCH_SERVER_ADDR=" + e.batchAddr,
		"DATA_DIR=" + e.dataDir,
		"WORKER_CONCURRENCY=2",
		"RETRY_BACKOFF_MIN=20ms",
		"RETRY_BACKOFF_MAX=100ms",
		"SHUTDOWN_TIMEOUT=10s",
		"METRICS_ADDR=127.0.0.1:0",
		"WORKER_NAME=" + name,
		"LOG_LEVEL=info",
		"LOG_FORMAT=json",
	}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	p := &proc{t: e.t, name: name, cmd: cmd, lines: make(chan logLine, 1024), exited: make(chan struct{})}
	if err := start(cmd); err != nil {
		e.t.Fatal(err)
	}
	logw := testLogger(e.t)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			logw.Log().Str("process", name).RawJSON("line", append([]byte(nil), sc.Bytes()...)).Send()
			var l logLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				select {
				case p.lines <- l:
				default:
				}
			}
		}
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	e.t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	seen := p.waitLogs("memory", "health and metrics listening", "worker started")
	p.addr = seen["health and metrics listening"].Addr
	p.memory = seen["memory"]
	return p
}

// waitLogs waits until the process has logged each message in msgs, in
// any order, and returns those lines by message.
func (p *proc) waitLogs(msgs ...string) map[string]logLine {
	p.t.Helper()
	want := map[string]bool{}
	for _, m := range msgs {
		want[m] = true
	}
	seen := map[string]logLine{}
	deadline := time.After(waitTimeout)
	for len(seen) < len(want) {
		select {
		case l := <-p.lines:
			if want[l.Message] {
				seen[l.Message] = l
			}
		case <-p.exited:
			p.t.Fatalf("worker %s exited (%v) before logging %q", p.name, p.waitErr, msgs)
		case <-deadline:
			p.t.Fatalf("worker %s did not log %q", p.name, msgs)
		}
	}
	return seen
}

// signal sends sig and waits for the process to exit; it returns the exit
// error (nil: status 0).
func (p *proc) signal(sig os.Signal) error {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(waitTimeout):
		p.t.Fatalf("worker %s did not exit after %v", p.name, sig)
		return nil
	}
}

func TestProcessKilledMidStreamJobFinishesElsewhere(t *testing.T) {
	t.Parallel()
	// AckWait is how long the job waits after the kill; keep it short, but
	// not so short that a loaded machine starves the live worker's lease.
	e := newEnv(t, envOpts{AckWait: 4 * time.Second, ChunkDelay: 100 * time.Millisecond})
	e.addFixture("recruit_small_df.pkl")
	a := e.startProcess("a")
	id := e.enqueue(queue.Job{Domain: "recruit", FileName: "recruit_small_df.pkl", Options: queue.JobOptions{ChunkRecords: 1}})
	e.waitChunk(id)
	if err := a.signal(syscall.SIGKILL); err == nil {
		t.Fatal("SIGKILL'd worker exited with status 0")
	}
	e.startProcess("b")
	s := e.waitFinished(id)
	if s.State != queue.StateSucceeded || s.Worker != "b" || s.Attempts != 2 {
		t.Fatalf("status %+v, want succeeded by b on attempt 2", s)
	}
	if st := e.batch.Stats(); st.Commits != 1 {
		t.Errorf("batch server stats %+v, want exactly one commit", st)
	}
	e.checkCommitted("recruit", id, "recruit_small_df.jsonl")
}

func TestProcessSIGTERMMidJobLosesNothing(t *testing.T) {
	t.Parallel()
	t.Run("handed back", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{AckWait: 10 * time.Second, ChunkDelay: 60 * time.Millisecond})
		e.addFixture("candidate_small_df.pkl")
		a := e.startProcess("a", "SHUTDOWN_TIMEOUT=200ms")
		id := e.enqueue(queue.Job{Domain: "candidate", FileName: "candidate_small_df.pkl", Options: queue.JobOptions{ChunkRecords: 1}})
		e.waitChunk(id)
		e.startProcess("b")
		if err := a.signal(syscall.SIGTERM); err != nil {
			t.Fatalf("worker a after SIGTERM: %v, want exit status 0", err)
		}
		s := e.waitFinished(id)
		if s.State != queue.StateSucceeded || s.Worker != "b" {
			t.Fatalf("status %+v, want succeeded by b", s)
		}
		if len(s.History) < 2 || s.History[0].Outcome != "shutdown" {
			t.Errorf("history %+v, want a shutdown attempt first", s.History)
		}
		if st := e.batch.Stats(); st.Commits != 1 {
			t.Errorf("batch server stats %+v, want exactly one commit", st)
		}
		e.checkCommitted("candidate", id, "candidate_small_df.jsonl")
	})
	t.Run("finished here", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{AckWait: 10 * time.Second, ChunkDelay: 20 * time.Millisecond})
		e.addFixture("recruit_small_records.pkl")
		a := e.startProcess("a", "SHUTDOWN_TIMEOUT=1m")
		id := e.enqueue(queue.Job{Domain: "recruit", FileName: "recruit_small_records.pkl", Options: queue.JobOptions{ChunkRecords: 1}})
		e.waitChunk(id)
		if err := a.signal(syscall.SIGTERM); err != nil {
			t.Fatalf("worker a after SIGTERM: %v, want exit status 0", err)
		}
		s := e.waitFinished(id)
		if s.State != queue.StateSucceeded || s.Worker != "a" || s.Attempts != 1 {
			t.Fatalf("status %+v, want succeeded by a on attempt 1", s)
		}
		e.checkCommitted("recruit", id, "recruit_small_records.jsonl")
	})
}

func TestProcessesShareJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{AckWait: 10 * time.Second, ChunkDelay: 5 * time.Millisecond})
	e.addFixture("recruit_small_df.pkl")
	a := e.startProcess("a")
	e.startProcess("b")

	// The healthcheck subcommand probes a running worker.
	if out, err := exec.Command(workerBinary(t), "healthcheck", "--addr", a.addr).CombinedOutput(); err != nil {
		t.Errorf("worker healthcheck: %v\n%s", err, out)
	}

	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.enqueue(queue.Job{ID: fmt.Sprintf("share-%02d", i), Domain: "recruit", FileName: "recruit_small_df.pkl", Options: queue.JobOptions{ChunkRecords: 10}})
	}
	byWorker := map[string]int{}
	for _, id := range ids {
		s := e.waitFinished(id)
		if s.State != queue.StateSucceeded {
			t.Fatalf("job %s: %+v", id, s)
		}
		byWorker[s.Worker]++
		if _, ok := e.batch.Committed(id); !ok {
			t.Errorf("job %s not committed", id)
		}
	}
	if byWorker["a"] == 0 || byWorker["b"] == 0 || byWorker["a"]+byWorker["b"] != n {
		t.Errorf("jobs by worker %v, want both to do some of %d", byWorker, n)
	}
	if st := e.batch.Stats(); st.Commits != n || st.Duplicates != 0 {
		t.Errorf("batch server stats %+v, want %d commits and no duplicates", st, n)
	}
}
