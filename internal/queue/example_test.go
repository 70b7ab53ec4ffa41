package queue_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/embedstream/embedstream/internal/queue"
)

// Example shows a job's way through the queue: the publisher enqueues it
// (a retry with the same id is a duplicate), a worker fetches its
// delivery, which records the attempt in the status bucket and
// acknowledges the message.
func Example() {
	dir, err := os.MkdirTemp("", "queue-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		panic("nats not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Publisher side.
	pub, err := queue.Open(ctx, nc, queue.Config{Stream: queue.DefaultStream, KeepTopology: true})
	if err != nil {
		panic(err)
	}
	job := queue.Job{ID: "job-1", Domain: "recruit", FileName: "processed_recruitment_data.pkl"}
	res, err := pub.Enqueue(ctx, job)
	if err != nil {
		panic(err)
	}
	fmt.Println("enqueued", res.JobID, "duplicate:", res.Duplicate)
	res, _ = pub.Enqueue(ctx, job) // the client retried its POST
	fmt.Println("enqueued", res.JobID, "duplicate:", res.Duplicate)

	// Worker side.
	q, err := queue.Open(ctx, nc, queue.Config{Stream: queue.DefaultStream, AckWait: 30 * time.Second, MaxDeliver: 5})
	if err != nil {
		panic(err)
	}
	cons, err := q.Jobs(ctx, "worker-1")
	if err != nil {
		panic(err)
	}
	d, err := cons.Next(10 * time.Second)
	if err != nil {
		panic(err)
	}
	got, err := d.Job()
	if err != nil {
		panic(err) // a worker would dead-letter it: d.DeadLetter, then d.Fail
	}
	fmt.Println("fetched", got.ID, got.Domain, got.FileName, got.Source, "attempt", d.Attempt())
	d.Start(ctx)
	// ... the worker streams the job, extending its lease (d.ExtendLease)
	// and writing its progress (d.Progress) as it goes ...
	if err := d.Succeed(ctx, queue.Progress{RecordsTotal: 3000, RecordsSent: 3000}); err != nil {
		panic(err)
	}
	st, err := pub.GetStatus(ctx, "job-1")
	if err != nil {
		panic(err)
	}
	fmt.Println("status", st.State, st.RecordsSent, "of", st.RecordsTotal, "by", st.Worker)
	// Output:
	// enqueued job-1 duplicate: false
	// enqueued job-1 duplicate: true
	// fetched job-1 recruit processed_recruitment_data.pkl file attempt 1
	// status succeeded 3000 of 3000 by worker-1
}
