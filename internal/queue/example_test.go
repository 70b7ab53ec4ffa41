package queue_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/embedstream/embedstream/internal/queue"
)

// Example shows a job's way through the queue: the publisher enqueues it
// (a retry with the same id is a duplicate), a worker fetches it, records
// its progress in the status bucket and acknowledges it.
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
	cons, err := q.Consumer(ctx)
	if err != nil {
		panic(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		panic(err)
	}
	got, err := queue.ParseMsg(msg)
	if err != nil {
		panic(err) // a worker would dead-letter it: errors.Is(err, queue.ErrBadJob)
	}
	fmt.Println("fetched", got.ID, got.Domain, got.FileName, got.Source)
	for _, state := range []string{queue.StateRunning, queue.StateSucceeded} {
		if _, err := q.UpdateStatus(ctx, got.ID, func(s *queue.Status) error {
			s.State, s.RecordsTotal, s.RecordsSent = state, 3000, 3000
			return nil
		}); err != nil {
			panic(err)
		}
	}
	if err := msg.DoubleAck(ctx); err != nil {
		panic(err)
	}
	st, err := pub.GetStatus(ctx, "job-1")
	if err != nil {
		panic(err)
	}
	fmt.Println("status", st.State, st.RecordsSent, "of", st.RecordsTotal)
	// Output:
	// enqueued job-1 duplicate: false
	// enqueued job-1 duplicate: true
	// fetched job-1 recruit processed_recruitment_data.pkl file
	// status succeeded 3000 of 3000
}
