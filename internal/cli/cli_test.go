package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/cli"
	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
	"github.com/embedstream/embedstream/internal/wiring/publisher"
)

// result is what one CLI run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads (serve runs in a goroutine).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs the publisher CLI with args and the environment env.
func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	code := cli.Run(ctx, args, cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: mapEnv(env), LoadSettings: publisher.LoadCLI})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func mapEnv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func (r result) wantCode(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

func (r result) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not JSON (%v):\n%s", err, r.stdout)
	}
}

// natsEnv starts NATS and returns the environment pointing the CLI at it,
// with a data directory holding sample.pkl.
func natsEnv(t *testing.T) (map[string]string, *queuetest.Server) {
	t.Helper()
	ns := queuetest.StartServer(t)
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "sample.pkl"), []byte("pickle"), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"NATS_URL": ns.URL(), "DATA_DIR": dataDir}, ns
}

// The local stack moved to its own command: `publisher dev` says where, in
// one line, and exits 2.
func TestDevMoved(t *testing.T) {
	t.Parallel()
	r := run(t, nil, "dev", "--workers", "1")
	r.wantCode(t, cli.ExitUsage)
	if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "go run ./publisher/dev") || r.stdout != "" {
		t.Fatalf("stdout %q, stderr %q; want one line naming go run ./publisher/dev", r.stdout, r.stderr)
	}
}

// Commands that read settings need the composition root's loader.
func TestNoSettingsLoader(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	code := cli.Run(context.Background(), []string{"status", "x"}, cli.Env{Stderr: &stderr})
	if code != cli.ExitFailure || !strings.Contains(stderr.String(), "LoadSettings") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	r := run(t, nil, "--help")
	r.wantCode(t, cli.ExitOK)
	for _, c := range []string{"serve", "enqueue", "upload", "status", "jobs", "dlq", "inspect", "healthcheck"} {
		if !strings.Contains(r.stdout, "\n  "+c+" ") {
			t.Errorf("--help does not list %s:\n%s", c, r.stdout)
		}
	}
	r = run(t, nil, "--version")
	r.wantCode(t, cli.ExitOK)
	if !strings.HasPrefix(r.stdout, "publisher ") {
		t.Errorf("--version printed %q", r.stdout)
	}
	run(t, nil).wantCode(t, cli.ExitUsage)
	r = run(t, nil, "frobnicate")
	r.wantCode(t, cli.ExitUsage)
	if !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("stderr %q", r.stderr)
	}
	if strings.Contains(r.stdout, "\n  dev ") {
		t.Errorf("--help still lists dev:\n%s", r.stdout)
	}
	r = run(t, nil, "enqueue", "--help")
	r.wantCode(t, cli.ExitOK)
	if !strings.Contains(r.stderr, "-idempotency-key") || !strings.Contains(r.stderr, "NATS_URL") {
		t.Errorf("enqueue --help lacks its flags or the settings:\n%s", r.stderr)
	}
	for _, args := range [][]string{
		{"enqueue", "recruit"},
		{"enqueue", "recruit", "a.pkl", "--idempotency-key", "bad key"},
		{"enqueue", "recruit", "a.pkl", "--no-such-flag"},
		{"status"},
		{"jobs", "--state", "done"},
		{"dlq"},
		{"dlq", "replay"},
		{"dlq", "explode", "x"},
		{"upload", "notes.txt"},
		{"serve", "extra"},
		{"enqueue", "recruit", "a.pkl", "--log-level", "loud"},
	} {
		r := run(t, nil, args...)
		if r.code != cli.ExitUsage || r.stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 with a message", args, r.code, r.stderr)
		}
	}
}

func TestEnqueueStatusJobs(t *testing.T) {
	t.Parallel()
	env, _ := natsEnv(t)
	// Flags after the positional arguments, as people type them.
	r := run(t, env, "enqueue", "recruit", "sample.pkl", "--json")
	r.wantCode(t, cli.ExitOK)
	var enq httpapi.EnqueueResponse
	r.json(t, &enq)
	if enq.JobID == "" || enq.Domain != "recruit" || enq.FileName != "sample.pkl" || enq.Source != queue.SourceFile {
		t.Fatalf("enqueue answered %+v", enq)
	}

	r = run(t, env, "status", enq.JobID, "--json")
	r.wantCode(t, cli.ExitOK)
	var st queue.Status
	r.json(t, &st)
	if st.JobID != enq.JobID || st.State != queue.StateQueued {
		t.Errorf("status %+v, want queued", st)
	}
	r = run(t, env, "status", enq.JobID)
	r.wantCode(t, cli.ExitOK)
	if !strings.Contains(r.stdout, "queued") || !strings.Contains(r.stdout, "sample.pkl") {
		t.Errorf("status text:\n%s", r.stdout)
	}
	run(t, env, "status", "no-such-job").wantCode(t, cli.ExitFailure)

	// The same idempotency key twice: one job.
	for i, args := range [][]string{
		{"enqueue", "--json", "--idempotency-key", "cli-key-1", "candidate", "sample.pkl"},
		{"enqueue", "candidate", "sample.pkl", "--idempotency-key=cli-key-1", "--json"},
	} {
		r = run(t, env, args...)
		r.wantCode(t, cli.ExitOK)
		r.json(t, &enq)
		if enq.JobID != "cli-key-1" || enq.Duplicate != (i == 1) {
			t.Errorf("enqueue %d with a key answered %+v", i, enq)
		}
	}
	// The same key for another job: refused, naming the stored one.
	r = run(t, env, "enqueue", "--idempotency-key", "cli-key-1", "recruit", "sample.pkl")
	r.wantCode(t, cli.ExitFailure)
	if !strings.Contains(r.stderr, `already the id of a candidate job for "sample.pkl"`) {
		t.Errorf("a reused key for another job: stderr %q", r.stderr)
	}

	r = run(t, env, "jobs", "--json")
	r.wantCode(t, cli.ExitOK)
	var list httpapi.JobList // GET /jobs's shape
	r.json(t, &list)
	if len(list.Jobs) != 2 || list.Jobs[0].JobID != "cli-key-1" {
		t.Errorf("jobs: %+v, want 2, newest (cli-key-1) first", list.Jobs)
	}
	r = run(t, env, "jobs", "--domain", "candidate")
	r.wantCode(t, cli.ExitOK)
	if !strings.Contains(r.stdout, "cli-key-1") || strings.Contains(r.stdout, "recruit") {
		t.Errorf("jobs --domain candidate:\n%s", r.stdout)
	}
	r = run(t, env, "jobs", "--state", "failed")
	r.wantCode(t, cli.ExitOK)
	if !strings.Contains(r.stdout, "no jobs") {
		t.Errorf("jobs --state failed:\n%s", r.stdout)
	}

	// Refused before anything is enqueued.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"enqueue", "nope", "sample.pkl"}, "unknown domain"},
		{[]string{"enqueue", "recruit", "absent.pkl"}, "absent.pkl"},
		{[]string{"enqueue", "recruit", "../sample.pkl"}, ".."},
		{[]string{"enqueue", "recruit", "sample.csv"}, "extension"},
	} {
		r := run(t, env, tc.args...)
		if r.code == cli.ExitOK || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want a failure mentioning %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	r = run(t, env, "jobs", "--json")
	r.json(t, &list)
	if len(list.Jobs) != 2 {
		t.Errorf("refused enqueues left %d jobs, want 2", len(list.Jobs))
	}
}

func TestUploadAndObjectEnqueue(t *testing.T) {
	t.Parallel()
	env, _ := natsEnv(t)
	local := filepath.Join(t.TempDir(), "local.pkl")
	data := bytes.Repeat([]byte{0x80, 0x05, 'x'}, 100_000)
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	r := run(t, env, "upload", local, "--name", "named.pkl", "--json")
	r.wantCode(t, cli.ExitOK)
	var fr httpapi.FileResponse
	r.json(t, &fr)
	if fr.Name != "named.pkl" || fr.Size != int64(len(data)) || fr.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("upload answered %+v", fr)
	}
	// An object uploaded before, by name.
	r = run(t, env, "enqueue", "recruit", "named.pkl", "--object", "--json")
	r.wantCode(t, cli.ExitOK)
	var enq httpapi.EnqueueResponse
	r.json(t, &enq)
	if enq.Source != queue.SourceObject || enq.FileName != "named.pkl" {
		t.Errorf("enqueue --object answered %+v", enq)
	}
	// A local file: uploaded under its base name, then enqueued.
	r = run(t, env, "enqueue", "recruit", local, "--object")
	r.wantCode(t, cli.ExitOK)
	if !strings.Contains(r.stdout, "uploaded "+local+" as local.pkl") || !strings.Contains(r.stdout, "enqueued job") {
		t.Errorf("enqueue --object of a local file:\n%s", r.stdout)
	}
	// Neither a local file nor an object.
	r = run(t, env, "enqueue", "recruit", "ghost.pkl", "--object")
	r.wantCode(t, cli.ExitFailure)
	if !strings.Contains(r.stderr, "ghost.pkl") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestDLQCommands(t *testing.T) {
	t.Parallel()
	env, ns := natsEnv(t)
	q := queuetest.OpenQueue(t, ns, queuetest.Config())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range []string{"dead-a", "dead-b"} {
		if err := q.PublishDeadLetter(ctx, queue.DeadLetter{
			JobID: id, Domain: "recruit", Subject: "ingest.jobs.recruit",
			Job:      []byte(`{"file_name":"sample.pkl"}`),
			Error:    queue.JobError{Class: "file_not_found", Message: "sample.pkl is missing", Permanent: true},
			Attempts: 1, Reason: "permanent_error", FailedAt: time.Now().UTC(),
		}); err != nil {
			t.Fatal(err)
		}
	}
	r := run(t, env, "dlq", "list")
	r.wantCode(t, cli.ExitOK)
	if !strings.Contains(r.stdout, "dead-a") || !strings.Contains(r.stdout, "file_not_found: sample.pkl is missing") {
		t.Errorf("dlq list:\n%s", r.stdout)
	}
	run(t, env, "dlq", "purge", "dead-b").wantCode(t, cli.ExitOK)
	run(t, env, "dlq", "purge", "dead-b").wantCode(t, cli.ExitFailure)
	r = run(t, env, "dlq", "replay", "dead-a", "--json")
	r.wantCode(t, cli.ExitOK)
	var enq httpapi.EnqueueResponse
	r.json(t, &enq)
	if enq.JobID != "dead-a" {
		t.Errorf("replay answered %+v", enq)
	}
	r = run(t, env, "dlq", "list", "--json")
	r.wantCode(t, cli.ExitOK)
	var list httpapi.DeadLetterList
	r.json(t, &list)
	if len(list.DeadLetters) != 0 {
		t.Errorf("dead letters left: %+v", list.DeadLetters)
	}
	st, err := q.GetStatus(ctx, "dead-a")
	if err != nil || st.State != queue.StateQueued {
		t.Errorf("status of the replayed job: %+v, %v; want queued", st, err)
	}
}

// serve runs until its ctx ends; healthcheck probes it.
func TestServeAndHealthcheck(t *testing.T) {
	t.Parallel()
	env, _ := natsEnv(t)
	env["HTTP_ADDR"] = "127.0.0.1:0"
	env["LOG_LEVEL"] = "warn"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	done := make(chan int, 1)
	var stderr syncBuffer
	go func() {
		done <- cli.Run(ctx, []string{"serve"}, cli.Env{
			Stdout: &stderr, Stderr: &stderr, Getenv: mapEnv(env),
			OnListen:     func(a net.Addr) { addrc <- a },
			LoadSettings: publisher.LoadCLI,
		})
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case code := <-done:
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start listening")
	}
	r := run(t, nil, "healthcheck", "--addr", addr.String())
	r.wantCode(t, cli.ExitOK)

	// The original service's call, against the served API.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr.String()+"/data/ingest/recruit?file_name=sample.pkl", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var enq httpapi.EnqueueResponse
	err = json.NewDecoder(resp.Body).Decode(&enq)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted || enq.JobID == "" {
		t.Fatalf("POST to serve: %s, %+v, %v", resp.Status, enq, err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Ready once the job index has loaded (at once on a small bucket).
	polltest.Until(t, 30*time.Second, "serve to be ready", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	if code, body := get("/jobs"); code != http.StatusOK || !strings.Contains(body, enq.JobID) {
		t.Errorf("GET /jobs from serve's index: %d %s", code, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, `embedstream_build_info{binary="publisher"`) ||
		!strings.Contains(body, "embedstream_queue_up 1\n") || !strings.Contains(body, `embedstream_jobs{state="queued"} 1`) {
		t.Errorf("serve's /metrics lacks the build information or the queue's figures:\n%s", body)
	}
	for path, want := range map[string]int{"/readyz": 200, "/jobs/" + enq.JobID: 200, "/data/ingest/recruit?file_name=absent.pkl": 405} {
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %s, want %d", path, resp.Status, want)
		}
	}
	_, port, _ := net.SplitHostPort(addr.String())
	r = run(t, map[string]string{"HTTP_ADDR": ":" + port}, "healthcheck")
	r.wantCode(t, cli.ExitOK)

	cancel()
	select {
	case code := <-done:
		if code != cli.ExitOK {
			t.Fatalf("serve exited with %d after cancel: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
	r = run(t, nil, "healthcheck", "--addr", addr.String())
	r.wantCode(t, cli.ExitFailure)
}

// inspect delegates to package inspect, with the domain checks wired in.
func TestInspect(t *testing.T) {
	t.Parallel()
	const file = "../pickleload/testdata/fixtures/recruit_small_df.pkl"
	r := run(t, nil, "inspect", file, "--format", "schema")
	r.wantCode(t, cli.ExitOK)
	if !strings.Contains(r.stdout, "recruit_id") {
		t.Errorf("schema output:\n%s", r.stdout)
	}
	run(t, nil, "inspect", file, "--domain", "recruit", "--format", "schema").wantCode(t, cli.ExitOK)
	// The recruit file is not a valid candidate file.
	r = run(t, nil, "inspect", file, "--domain", "candidate")
	r.wantCode(t, cli.ExitFailure)
	if !strings.Contains(r.stderr, "candidate") {
		t.Errorf("stderr %q", r.stderr)
	}
	r = run(t, nil, "inspect", file, "--domain", "nope")
	r.wantCode(t, cli.ExitFailure)
	if !strings.Contains(r.stderr, "unknown domain") {
		t.Errorf("stderr %q", r.stderr)
	}
	r = run(t, nil, "inspect", filepath.Join(t.TempDir(), "absent.pkl"))
	r.wantCode(t, cli.ExitFailure)
}

// serve that cannot listen fails at once, one line, stopping what it
// started (the job index) instead of hanging.
func TestServeCannotListen(t *testing.T) {
	t.Parallel()
	env, _ := natsEnv(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	env["HTTP_ADDR"] = lis.Addr().String()
	r := run(t, env, "serve")
	r.wantCode(t, cli.ExitFailure)
	if !strings.Contains(r.stderr, "listen on "+lis.Addr().String()) {
		t.Errorf("stderr %q", r.stderr)
	}
}

// TestHostileNames: the CLI refuses names over the byte bounds before it
// reaches NATS (1,020 '€' are within 1,024 characters but 3,060 bytes:
// their object subject would pass NATS's control-line limit and close the
// connection), and NATS serves the next command.
func TestHostileNames(t *testing.T) {
	t.Parallel()
	env, _ := natsEnv(t)
	local := filepath.Join(t.TempDir(), "local.pkl")
	if err := os.WriteFile(local, []byte("pickle"), 0o644); err != nil {
		t.Fatal(err)
	}
	euro := strings.Repeat("€", 1020) + ".pkl"
	for _, args := range [][]string{
		{"upload", local, "--name", euro},
		{"upload", local, "--name", strings.Repeat("x", 3100) + ".pkl"},
		{"enqueue", "recruit", euro, "--object"},
		{"enqueue", "recruit", strings.Repeat("a", 300) + ".pkl"},
	} {
		r := run(t, env, args...)
		r.wantCode(t, cli.ExitUsage)
		if !strings.Contains(r.stderr, "bytes") || len(r.stderr) > 400 {
			t.Errorf("%s %.20s...: stderr %q, want a short message about the name's bytes", args[0], args[len(args)-1], r.stderr)
		}
	}
	run(t, env, "upload", local, "--name", "fine.pkl").wantCode(t, cli.ExitOK)
}
