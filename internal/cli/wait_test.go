package cli_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/cli"
	"github.com/embedstream/embedstream/internal/ingesttest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

const fixture = "../pickleload/testdata/fixtures/recruit_small_df"

// startWorker runs the reference batch server and one in-process worker on
// ns, resolving files in dataDir; both stop when the test ends.
func startWorker(t *testing.T, ns *queuetest.Server, dataDir string, chunkDelay time.Duration) {
	t.Helper()
	log := zerolog.Nop()
	if testing.Verbose() {
		log = zerolog.New(zerolog.NewTestWriter(t))
	}
	bs := batchservertest.Start(t, batchserver.Config{ChunkDelay: chunkDelay}, log)
	pcfg := ingesttest.ProcessorConfig(dataDir)
	pcfg.ChunkRecords = 10
	ingesttest.StartWorker(t, ns, ingesttest.Config{
		BatchAddr: bs.Addr, Worker: ingesttest.WorkerConfig("cli-test-worker"), Processor: pcfg, Log: log,
	})
}

// enqueue --wait against a running worker exits 0 and prints the final
// counts after a progress bar; against a failing job it exits 1 with the
// reason.
func TestEnqueueWait(t *testing.T) {
	t.Parallel()
	ns := queuetest.StartServer(t)
	workerDir := t.TempDir()
	data, err := os.ReadFile(fixture + ".pkl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(workerDir, "recruit.pkl"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(fixture + ".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	records := strings.Count(string(want), "\n")
	startWorker(t, ns, workerDir, 50*time.Millisecond)
	// The CLI does not see the workers' data directory.
	env := map[string]string{"NATS_URL": ns.URL()}

	t.Run("succeeds", func(t *testing.T) {
		t.Parallel()
		r := run(t, env, "enqueue", "recruit", "recruit.pkl", "--wait")
		r.wantCode(t, cli.ExitOK)
		t.Logf("stdout:\n%s", r.stdout)
		final := "succeeded: " + strconv.Itoa(records) + " of " + strconv.Itoa(records) + " records acknowledged by the batch server"
		if !strings.Contains(r.stdout, final) {
			t.Errorf("stdout lacks %q:\n%s", final, r.stdout)
		}
		if !strings.Contains(r.stdout, "[##############################] "+strconv.Itoa(records)+"/"+strconv.Itoa(records)+" records acknowledged") {
			t.Errorf("no completed progress bar:\n%s", r.stdout)
		}
		// The bar is full only once the batch server answered.
		for line := range strings.Lines(r.stdout) {
			if strings.Contains(line, "running") && strings.Contains(line, "[##############################]") {
				t.Errorf("a full bar before the batch server acknowledged: %q", line)
			}
		}
		if !strings.Contains(r.stdout, "running streaming") && !strings.Contains(r.stdout, "running committing") {
			t.Errorf("no phase shown:\n%s", r.stdout)
		}
		if strings.Contains(r.stderr, "nats disconnected") || r.stderr != "" {
			t.Errorf("stderr of a successful run: %q", r.stderr)
		}
	})
	t.Run("succeeds, json", func(t *testing.T) {
		t.Parallel()
		r := run(t, env, "enqueue", "--wait", "--json", "recruit", "recruit.pkl")
		r.wantCode(t, cli.ExitOK)
		var st queue.Status
		r.json(t, &st)
		if st.State != queue.StateSucceeded || st.RecordsSent != uint64(records) {
			t.Errorf("final status %+v", st)
		}
	})
	t.Run("fails", func(t *testing.T) {
		t.Parallel()
		r := run(t, env, "enqueue", "recruit", "missing.pkl", "--wait")
		r.wantCode(t, cli.ExitFailure)
		if !strings.Contains(r.stderr, "failed after 1 attempt(s): file_not_found") || !strings.Contains(r.stderr, "missing.pkl") {
			t.Errorf("stderr does not give the reason:\n%s", r.stderr)
		}
		// One line: what failed, then what to do.
		if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "then run 'publisher dlq replay ") {
			t.Errorf("stderr is not one actionable line:\n%s", r.stderr)
		}
	})
}
