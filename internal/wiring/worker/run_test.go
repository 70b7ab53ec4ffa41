package worker_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
	"github.com/embedstream/embedstream/internal/wiring/worker"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
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

// TestRunServesPulls runs a worker process with PULL_ADDR set: a batch
// server pulls a file from DATA_DIR and an object from the object store
// and commits them; a missing object is NOT_FOUND; Run returns nil once
// its context ends, the pull server stopped with it.
func TestRunServesPulls(t *testing.T) {
	ns := queuetest.StartServer(t)
	dataDir := t.TempDir()
	src, err := os.ReadFile("../../pickleload/testdata/fixtures/recruit_small_df.pkl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "recruit.pkl"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pullAddr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg, err := worker.Load(fs, []string{"--metrics-addr", "127.0.0.1:0", "--worker-name", "pull-test"}, func(k string) string {
		return map[string]string{"NATS_URL": ns.URL(), "DATA_DIR": dataDir, "PULL_ADDR": pullAddr, "PULL_TOKEN": "tok"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx, cfg, zerolog.Nop()) }()

	qcfg := queuetest.Config()
	qcfg.KeepTopology = true
	q := queuetest.OpenQueue(t, ns, qcfg)
	if _, err := q.PutFile(context.Background(), "up.pkl", bytes.NewReader(src)); err != nil {
		t.Fatal(err)
	}
	bs, err := batchserver.New(batchserver.Config{OutDir: t.TempDir()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	conn, err := batchserver.DialWorker(pullAddr, nil, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pullOnce := func(req *pb.DatasetRequest) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := bs.Pull(ctx, conn, req)
		return err
	}
	// The pull server may not listen yet, and objects need the queue open.
	polltest.Until(t, 30*time.Second, "the file pull to commit", func() bool {
		return pullOnce(&pb.DatasetRequest{Domain: "recruit", Source: &pb.DatasetRequest_FileName{FileName: "recruit.pkl"}, IngestId: "f-1"}) == nil
	})
	polltest.Until(t, 30*time.Second, "the object pull to commit", func() bool {
		return pullOnce(&pb.DatasetRequest{Domain: "recruit", Source: &pb.DatasetRequest_ObjectName{ObjectName: "up.pkl"}, IngestId: "o-1"}) == nil
	})
	f, _ := bs.Committed("f-1")
	o, _ := bs.Committed("o-1")
	if f.Records == 0 || f.Records != o.Records || f.SHA256 != o.SHA256 {
		t.Fatalf("file %+v, object %+v", f, o)
	}
	err = pullOnce(&pb.DatasetRequest{Domain: "recruit", Source: &pb.DatasetRequest_ObjectName{ObjectName: "gone.pkl"}})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("missing object: %v, want NOT_FOUND", err)
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
