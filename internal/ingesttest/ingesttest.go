package ingesttest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// stopTimeout bounds how long a worker may take to stop.
const stopTimeout = 60 * time.Second

// Config is one in-process worker's setup.
type Config struct {
	// Queue is the queue configuration the worker opens (zero:
	// [queuetest.Config]).
	Queue queue.Config
	// BatchAddr is the batch server the worker streams to.
	BatchAddr string
	// Worker and Processor configure the worker; see [WorkerConfig] and
	// [ProcessorConfig] for quick test settings.
	Worker    ingest.WorkerConfig
	Processor ingest.ProcessorConfig
	// Log is the worker's logger.
	Log zerolog.Logger
	// BeforeRun, if set, is called after the worker's queue is opened
	// (which creates the consumers) and before the worker is built, e.g.
	// to break the topology under the worker.
	BeforeRun func()
	// Domains are the domains the worker validates against (nil: the
	// builtin ones).
	Domains ingest.Domains
}

// WorkerConfig returns a worker configuration with quick test timings:
// two job slots, backoff 20ms..100ms, fetch wait 200ms, status every
// 20ms, and no shutdown grace.
func WorkerConfig(name string) ingest.WorkerConfig {
	return ingest.WorkerConfig{
		Name:           name,
		Concurrency:    2,
		BackoffMin:     20 * time.Millisecond,
		BackoffMax:     100 * time.Millisecond,
		FetchWait:      200 * time.Millisecond,
		StatusInterval: 20 * time.Millisecond,
	}
}

// ProcessorConfig returns a processor configuration that resolves files
// in dataDir and accepts files up to 64 MiB.
func ProcessorConfig(dataDir string) ingest.ProcessorConfig {
	return ingest.ProcessorConfig{DataDir: dataDir, MaxFileBytes: 64 << 20}
}

// Worker is an [ingest.Worker] running in the test's process.
type Worker struct {
	*ingest.Worker

	stop func()
}

// Stop cancels the worker's Run, waits for it to return and closes its
// batch client, failing the test if Run reports an error (other than a
// cancellation before the worker bound its consumer) or does not return
// in time. It may be called more than once; the test's cleanup calls it.
func (w *Worker) Stop() { w.stop() }

// StartWorker runs a worker with cfg on ns: it connects to ns, opens the
// queue, dials cfg.BatchAddr and runs the worker until the test ends.
func StartWorker(t testing.TB, ns *queuetest.Server, cfg Config) *Worker {
	t.Helper()
	if cfg.Queue.Stream == "" {
		cfg.Queue = queuetest.Config()
	}
	nc := queuetest.Connect(t, ns)
	ctx, cancel := context.WithCancel(context.Background())
	q, err := queue.Open(ctx, nc, cfg.Queue)
	if err != nil {
		cancel()
		t.Fatalf("ingesttest: open queue: %v", err)
	}
	if cfg.BeforeRun != nil {
		cfg.BeforeRun()
	}
	bc, err := batchclient.New(ctx, batchclient.Config{Addr: cfg.BatchAddr}, cfg.Log)
	if err != nil {
		cancel()
		t.Fatalf("ingesttest: batch client: %v", err)
	}
	domains := cfg.Domains
	if domains == nil {
		reg, err := domain.NewRegistry("")
		if err != nil {
			cancel()
			_ = bc.Close()
			t.Fatalf("ingesttest: domains: %v", err)
		}
		domains = reg
	}
	name := cfg.Worker.Name
	w := ingest.NewWorker(cfg.Worker, q, nc, ingest.NewProcessor(cfg.Processor, domains, q, bc), nil, cfg.Log)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-ran:
				// Cancelled before it bound its consumer: the test ended
				// (or failed) before the worker started.
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("ingesttest: worker %s: %v", name, err)
				}
			case <-time.After(stopTimeout):
				t.Errorf("ingesttest: worker %s did not stop within %s", name, stopTimeout)
			}
			if err := bc.Close(); err != nil {
				t.Errorf("ingesttest: worker %s: close batch client: %v", name, err)
			}
		})
	}
	t.Cleanup(stop)
	return &Worker{Worker: w, stop: stop}
}
