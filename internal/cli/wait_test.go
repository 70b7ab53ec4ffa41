package cli_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/cli"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/ingest"
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
	bs, err := batchserver.New(batchserver.Config{OutDir: t.TempDir(), ChunkDelay: chunkDelay}, log)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- bs.Serve(ctx, lis) }()
	nc := queuetest.Connect(t, ns)
	q, err := queue.Open(ctx, nc, queuetest.Config())
	if err != nil {
		t.Fatal(err)
	}
	bc, err := batchclient.New(ctx, batchclient.Config{Addr: lis.Addr().String()}, log)
	if err != nil {
		t.Fatal(err)
	}
	domains, err := domain.NewRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	w := ingest.NewWorker(ingest.WorkerConfig{
		Name: "cli-test-worker", Concurrency: 2, FetchWait: 200 * time.Millisecond, StatusInterval: 20 * time.Millisecond,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	}, q, nc, ingest.NewProcessor(ingest.ProcessorConfig{DataDir: dataDir, MaxFileBytes: 64 << 20, ChunkRecords: 10}, domains, q, bc), nil, log)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for _, c := range []chan error{ran, served} {
			select {
			case err := <-c:
				if err != nil && !errors.Is(err, context.Canceled) { // cancelled before it bound: the test failed already
					t.Error(err)
				}
			case <-time.After(60 * time.Second):
				t.Error("worker or batch server did not stop")
			}
		}
		_ = bc.Close()
		_ = bs.Close()
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
		final := "succeeded: " + strconv.Itoa(records) + " of " + strconv.Itoa(records) + " records sent"
		if !strings.Contains(r.stdout, final) {
			t.Errorf("stdout lacks %q:\n%s", final, r.stdout)
		}
		if !strings.Contains(r.stdout, "[##############################] "+strconv.Itoa(records)+"/"+strconv.Itoa(records)+" records 100%") {
			t.Errorf("no completed progress bar:\n%s", r.stdout)
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
	})
}
