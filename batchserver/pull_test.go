package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// TestPullCommandAgainstAWorkerProcess runs `batchserver pull` as a process
// against a worker process serving pulls (PULL_ADDR, PULL_TOKEN): it
// commits the shipped recruit sample and its ledger line and prints what it
// committed; a second pull is a duplicate; a missing file and a missing
// token fail with one line naming the status code; the worker then stops
// cleanly on SIGTERM.
func TestPullCommandAgainstAWorkerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	bin := buildBinary(t)
	workerBin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", workerBin, "../worker").CombinedOutput(); err != nil {
		t.Fatalf("go build worker: %v\n%s", err, out)
	}
	dataDir, err := filepath.Abs("../data")
	if err != nil {
		t.Fatal(err)
	}
	ns := queuetest.StartServer(t)
	pullAddr := freeAddr(t)
	var logs bytes.Buffer
	w := exec.Command(workerBin, "--log-format", "json")
	w.Env = append(os.Environ(), "NATS_URL="+ns.URL(), "DATA_DIR="+dataDir, "PULL_ADDR="+pullAddr, "PULL_TOKEN=tok",
		"METRICS_ADDR="+freeAddr(t), "BATCH_SERVER_ADDR="+freeAddr(t))
	w.Stderr = &logs
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- w.Wait() }()
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			_ = w.Process.Kill()
			<-exited
		}
	})
	// The pull port's health service answers without the token.
	polltest.Until(t, 30*time.Second, "the worker's pull server to serve", func() bool {
		return exec.Command(bin, "healthcheck", "--addr", pullAddr, "--timeout", "2s").Run() == nil
	})

	out := t.TempDir()
	pull := func(args ...string) (code int, stdout, stderr string) {
		t.Helper()
		var o, e bytes.Buffer
		cmd := exec.Command(bin, append([]string{"pull", "--addr", pullAddr, "--out", out, "--log-level", "warn"}, args...)...)
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit):
			code = exit.ExitCode()
		default:
			t.Fatal(err)
		}
		return code, o.String(), e.String()
	}

	code, stdout, stderr := pull("--domain", "recruit", "--file", "processed_recruitment_data.pkl", "--token", "tok")
	if code != 0 || !strings.HasPrefix(stdout, "committed pull-recruit-") || !strings.Contains(stdout, "3000 records") {
		t.Fatalf("pull: exit %d\nstdout: %s\nstderr: %s\nworker: %s", code, stdout, stderr, logs.String())
	}
	id := strings.TrimSuffix(strings.Fields(stdout)[1], ":")
	data, err := os.ReadFile(filepath.Join(out, "recruit", id+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(data, []byte("\n")); n != 3000 {
		t.Fatalf("committed %d lines, want 3000", n)
	}
	ledger, err := os.ReadFile(filepath.Join(out, "ledger.jsonl"))
	if err != nil || !bytes.Contains(ledger, []byte(`"ingest_id":"`+id+`"`)) {
		t.Fatalf("ledger %q, %v", ledger, err)
	}

	code, stdout, _ = pull("--domain", "recruit", "--file", "processed_recruitment_data.pkl", "--token", "tok")
	if code != 0 || !strings.HasPrefix(stdout, "duplicate "+id) {
		t.Fatalf("second pull: exit %d, stdout %q", code, stdout)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--domain", "recruit", "--file", "missing.pkl", "--token", "tok"}, "batchserver pull: NOT_FOUND: worker: "},
		{[]string{"--domain", "recruit", "--file", "processed_recruitment_data.pkl"}, "batchserver pull: UNAUTHENTICATED: worker: "},
		{[]string{"--domain", "candidate", "--file", "processed_recruitment_data.pkl", "--token", "tok"}, "batchserver pull: INVALID_ARGUMENT: worker: "},
	} {
		code, _, stderr := pull(tt.args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != 1 || !strings.HasPrefix(lines[len(lines)-1], tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and a last line %q...", tt.args, code, stderr, tt.want)
		}
	}
	if code, _, _ := pull("--domain", "recruit"); code != 2 {
		t.Errorf("pull without a source: exit %d, want 2", code)
	}

	if err := w.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		reaped = true
		if err != nil {
			t.Fatalf("worker exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("worker did not exit after SIGTERM\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "pull server stopped") {
		t.Fatalf("worker logs lack the pull server's stop:\n%s", logs.String())
	}
}
