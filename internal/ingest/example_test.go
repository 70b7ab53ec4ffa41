package ingest_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/queue"
)

// The worker's lifecycle against real dependencies: an embedded NATS server
// with JetStream, the reference batch server on loopback, and a pickle in a
// data directory. A job is enqueued, the worker runs it to its commit, and
// a cancelled context stops the worker cleanly.
func ExampleWorker() {
	dir, err := os.MkdirTemp("", "ingest-example-")
	check(err)
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// NATS with JetStream, and the queue topology on it.
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: filepath.Join(dir, "nats"), NoLog: true, NoSigs: true})
	check(err)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		log.Fatal("nats not ready")
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	check(err)
	defer nc.Close()
	q, err := queue.Open(ctx, nc, queue.Config{})
	check(err)

	// The reference batch server.
	bs, err := batchserver.New(batchserver.Config{OutDir: filepath.Join(dir, "batch")}, zerolog.Nop())
	check(err)
	defer bs.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	serveCtx, stopServing := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- bs.Serve(serveCtx, lis) }()
	defer func() { stopServing(); <-served }()

	// The worker: a processor (files, domains, batch client) and the run loop.
	bc, err := batchclient.New(ctx, batchclient.Config{Addr: lis.Addr().String()}, zerolog.Nop())
	check(err)
	defer bc.Close()
	domains, err := domain.NewRegistry("")
	check(err)
	proc := ingest.NewProcessor(ingest.ProcessorConfig{DataDir: fixtureDir, MaxFileBytes: 1 << 30}, domains, q, bc)
	w := ingest.NewWorker(ingest.WorkerConfig{Name: "example", Concurrency: 2}, q, nc, proc, nil, zerolog.Nop())
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(runCtx) }()

	// Enqueue a job, as the publisher does, and follow its status record.
	statuses, err := q.WatchStatus(runCtx)
	check(err)
	job, err := q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: "recruit_small_df.pkl"})
	check(err)
	for s := range statuses {
		if s.JobID == job.JobID && (s.State == queue.StateSucceeded || s.State == queue.StateFailed) {
			fmt.Printf("%s: %d of %d records on attempt %d\n", s.State, s.RecordsSent, s.RecordsTotal, s.Attempts)
			break
		}
	}
	_, committed := bs.Committed(job.JobID)
	fmt.Println("committed:", committed)

	// Stop: no new jobs; running ones finish (SHUTDOWN_TIMEOUT), then Run returns.
	stop()
	fmt.Println("stopped:", <-stopped)
	// Output:
	// succeeded: 50 of 50 records on attempt 1
	// committed: true
	// stopped: <nil>
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
