package worker_test

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
	"github.com/embedstream/embedstream/internal/wiring/worker"
)

// TestRunProcessesAJob runs a worker process as worker/main.go does, from
// its settings, against a real NATS and batch server: a job enqueued
// succeeds, and Run returns nil once its context ends.
func TestRunProcessesAJob(t *testing.T) {
	ns := queuetest.StartServer(t)
	bs := batchservertest.Start(t, batchserver.Config{}, zerolog.Nop())
	dataDir := t.TempDir()
	src, err := os.ReadFile("../../pickleload/testdata/fixtures/recruit_small_df.pkl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "recruit.pkl"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg, err := worker.Load(fs, []string{"--metrics-addr", "127.0.0.1:0", "--worker-name", "run-test"}, func(k string) string {
		return map[string]string{"NATS_URL": ns.URL(), "BATCH_SERVER_ADDR": bs.Addr, "DATA_DIR": dataDir}[k]
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx, cfg, zerolog.Nop()) }()

	qcfg := queuetest.Config()
	qcfg.KeepTopology = true // the worker's settings rule the topology, as in production
	q := queuetest.OpenQueue(t, ns, qcfg)
	res, err := q.Enqueue(context.Background(), queue.Job{Domain: "recruit", FileName: "recruit.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	var st queue.Status
	polltest.Until(t, 30*time.Second, "the job to succeed", func() bool {
		st, err = q.GetStatus(context.Background(), res.JobID)
		if err == nil && st.State == queue.StateFailed {
			t.Fatalf("job failed: %+v", st.Error)
		}
		return err == nil && st.State == queue.StateSucceeded
	})
	if st.Worker != "run-test" {
		t.Errorf("status worker = %q, want run-test", st.Worker)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of its context ending")
	}
}
