package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuemetrics"
)

// SampleDataDir is the shipped sample folder, relative to the repository
// root, that DATA_DIR defaults to.
const SampleDataDir = "data"

// Defaults of the local stack's settings (DEV_*). A zero [Config.NATS]
// StoreDir or [Config.BatchOutDir] takes these; zero Workers means none.
const (
	DefaultNATSDir     = ".data/nats"  // JetStream storage of the embedded server (DEV_NATS_DIR)
	DefaultBatchOutDir = ".data/batch" // output of the in-process batch server (DEV_BATCH_OUT_DIR)
	DefaultWorkers     = 2             // workers started in-process (DEV_WORKERS)
	// DefaultHTTPAddr is where the local stack serves the API and the
	// dashboard unless told otherwise (HTTP_ADDR): loopback only, so a
	// laptop's stack, without API_TOKEN, is not open to its network.
	DefaultHTTPAddr = "127.0.0.1:8000"
)

// Config configures a local stack: its parts' configurations, already
// mapped from the settings (internal/wiring/dev does that).
type Config struct {
	// HTTPAddr is where the HTTP API listens.
	HTTPAddr string
	// NATS configures the embedded JetStream server.
	NATS NATSConfig
	// Conn says how the stack's parts connect to NATS; its URL is
	// replaced by the embedded server's.
	Conn queue.ConnOptions
	// Queue is the topology the stack opens, as a worker does.
	Queue queue.Config
	// DataDir is the workers' data directory; empty means the shipped
	// sample folder ([SampleDataDir]) in the current directory.
	DataDir string
	// DomainsFile adds domain definitions (optional).
	DomainsFile string
	// BatchServer names an external batch server; empty runs the reference
	// batch server in-process, writing under BatchOutDir
	// ([DefaultBatchOutDir] when empty).
	BatchServer string
	BatchOutDir string
	// Workers is how many workers run in-process (0: none), each built by
	// NewWorker.
	Workers int
	// WorkerConcurrency is the jobs each worker runs at once, for the
	// banner.
	WorkerConcurrency int
	// API configures the HTTP API; the stack sets its DataDir (resolved)
	// and Ready.
	API httpapi.Config
	// NewWorker builds one in-process worker from what the stack hands it.
	// Required when Workers > 0.
	NewWorker func(ctx context.Context, spec WorkerSpec) (Worker, error)
}

// WorkerSpec is what the stack hands [Config.NewWorker] for each worker.
type WorkerSpec struct {
	Name      string           // dev-worker-<n>
	BatchAddr string           // the batch server's address
	DataDir   string           // the resolved data directory
	Conn      *nats.Conn       // the stack's NATS connection
	Queue     *queue.Queue     // the stack's queue, opened on Conn
	Domains   *domain.Registry // the stack's domains
	Log       zerolog.Logger   // carries part=worker and worker=<Name>
	// Metrics is where the worker registers its own metrics (not the Go
	// and process collectors): the stack's /metrics, under the label
	// worker=<Name>.
	Metrics prometheus.Registerer
}

// Worker is an in-process worker: the stack runs it until the stack stops,
// then closes it (its batch client).
type Worker interface {
	Run(ctx context.Context) error
	Close() error
}

// Options are the parts of the stack that are not settings: where output
// goes and how the HTTP API is mounted.
type Options struct {
	// Out receives the human-readable banner (what runs where, the curl
	// command to try). Nil discards it.
	Out io.Writer
	// Handler, when set, wraps the API handler (e.g. to mount the
	// dashboard beside it). dataDir is the data directory as the stack
	// resolved it (absolute).
	Handler func(api http.Handler, q *queue.Queue, ix *jobindex.Index, domains *domain.Registry, dataDir string) (http.Handler, error)
}

// Stack is a running local stack. Create it with [Start]; stop it by
// cancelling Start's context and calling [Stack.Wait].
type Stack struct {
	log      zerolog.Logger
	cfg      Config
	ns       *server.Server
	nc       *nats.Conn
	q        *queue.Queue
	batch    *batchserver.Server
	batchLis net.Listener
	httpLis  net.Listener
	index    *jobindex.Index
	dataDir  string
	workers  int

	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
	done chan struct{}
}

// Start starts, in order: the embedded NATS server, the queue topology, the
// in-process batch server (unless cfg.BatchServer names an external one),
// cfg.Workers workers and the HTTP API. It returns once everything accepts
// work. When ctx ends, the parts stop in reverse order; [Stack.Wait] waits
// for that and returns what went wrong.
func Start(ctx context.Context, cfg Config, log zerolog.Logger, opts Options) (st *Stack, err error) {
	if cfg.NATS.StoreDir == "" {
		cfg.NATS.StoreDir = DefaultNATSDir
	}
	if cfg.BatchOutDir == "" {
		cfg.BatchOutDir = DefaultBatchOutDir
	}
	if cfg.Workers > 0 && cfg.NewWorker == nil {
		return nil, errors.New("localstack: Config.NewWorker is nil")
	}
	s := &Stack{log: log, cfg: cfg, workers: cfg.Workers, done: make(chan struct{})}
	// The stack also stops, with an error, when its NATS connection is
	// closed for good (see below).
	ctx, stop := context.WithCancelCause(ctx)
	// Until every part is built, nothing runs: on an error, teardown
	// closes what was opened and no goroutine is left behind.
	var workers []Worker
	defer func() {
		if err != nil {
			for _, w := range workers {
				w.Close()
			}
			s.teardown()
			stop(err)
		}
	}()

	s.dataDir, err = resolveDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	domains, err := domain.NewRegistry(cfg.DomainsFile)
	if err != nil {
		return nil, fmt.Errorf("domains: %w", err)
	}
	// The HTTP port is the one most often taken: claim it first.
	s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("HTTP API: listen on %s (HTTP_ADDR / --http-addr): %w", cfg.HTTPAddr, err)
	}

	s.ns, err = StartNATS(cfg.NATS, log)
	if err != nil {
		return nil, err
	}
	conn := cfg.Conn
	conn.URL = s.ns.ClientURL()
	s.nc, err = queue.Connect(ctx, conn, "publisher-dev", log)
	if err != nil {
		return nil, err
	}
	queue.WatchClosed(ctx, s.nc, func(err error) {
		log.Error().Err(err).Msg("the NATS connection was closed for good: stopping the stack")
		s.addErr(err)
		stop(err)
	})
	s.q, err = queue.Open(ctx, s.nc, cfg.Queue)
	if err != nil {
		return nil, fmt.Errorf("open queue: %w", err)
	}

	batchAddr := cfg.BatchServer
	if batchAddr == "" {
		s.batch, err = batchserver.New(batchserver.Config{OutDir: cfg.BatchOutDir}, log.With().Str("part", "batchserver").Logger())
		if err != nil {
			return nil, fmt.Errorf("batch server: %w", err)
		}
		s.batchLis, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("batch server: %w", err)
		}
		batchAddr = s.batchLis.Addr().String()
	}

	// The publisher's part: the job index (run below) and the API, whose
	// /metrics also serves the queue's figures and every in-process
	// worker's metrics (labelled worker=<name>).
	s.index = jobindex.New(s.q, jobindex.Config{}, log.With().Str("part", "api").Logger())
	apiCfg := cfg.API
	apiCfg.DataDir = s.dataDir
	apiCfg.Ready = s.q.Ready
	apiCfg.Index = s.index
	api := httpapi.New(apiCfg, s.q, domains, log.With().Str("part", "api").Logger())
	if err := api.Registry().Register(queuemetrics.New(s.q, s.index)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := api.Registry().Register(buildinfo.Collector("dev")); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	var h http.Handler = api
	if opts.Handler != nil {
		if h, err = opts.Handler(api, s.q, s.index, domains, s.dataDir); err != nil {
			return nil, err
		}
	}

	for i := range cfg.Workers {
		name := fmt.Sprintf("dev-worker-%d", i+1)
		w, werr := cfg.NewWorker(ctx, WorkerSpec{
			Name:      name,
			BatchAddr: batchAddr,
			DataDir:   s.dataDir,
			Conn:      s.nc,
			Queue:     s.q,
			Domains:   domains,
			Log:       log.With().Str("part", "worker").Str("worker", name).Logger(),
			Metrics:   prometheus.WrapRegistererWith(prometheus.Labels{"worker": name}, api.Registry()),
		})
		if werr != nil {
			return nil, fmt.Errorf("%s: %w", name, werr)
		}
		workers = append(workers, w)
	}

	// Everything is built: run it. Workers run on runCtx, the batch
	// server on a context of its own that ends only after the workers
	// stopped (they may still be streaming).
	runCtx, cancel := context.WithCancel(ctx)
	batchCtx, stopBatch := context.WithCancel(context.WithoutCancel(ctx))
	if s.batch != nil {
		s.goRun("batch server", func() error { return s.batch.Serve(batchCtx, s.batchLis) })
	}
	s.goRun("job index", func() error { return s.index.Run(runCtx) })
	var workerWG sync.WaitGroup
	for i, w := range workers {
		workerWG.Add(1)
		s.goRun(fmt.Sprintf("dev-worker-%d", i+1), func() error {
			defer workerWG.Done()
			defer w.Close()
			return w.Run(runCtx)
		})
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.goRun("http api", func() error {
		if err := hs.Serve(s.httpLis); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})

	// Shutdown, in reverse order: HTTP API, workers (they finish or hand
	// back their jobs), batch server, NATS.
	go func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := hs.Shutdown(sctx); err != nil {
			s.addErr(fmt.Errorf("http api shutdown: %w", err))
		}
		scancel()
		cancel()
		workerWG.Wait()
		stopBatch()
		s.wg.Wait()
		s.teardown()
		stop(nil)
		close(s.done)
	}()

	if opts.Out != nil {
		s.printBanner(opts.Out, batchAddr, opts.Handler != nil)
	}
	return s, nil
}

func (s *Stack) goRun(name string, f func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := f(); err != nil {
			s.log.Error().Err(err).Str("part", name).Msg("stopped with an error")
			s.addErr(fmt.Errorf("%s: %w", name, err))
		}
	}()
}

func (s *Stack) addErr(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

// teardown closes what Start opened; safe on a partly started stack.
func (s *Stack) teardown() {
	if s.httpLis != nil {
		s.httpLis.Close() // already closed by a served http.Server: harmless
	}
	if s.batchLis != nil {
		s.batchLis.Close() // likewise, once the batch server served it
	}
	if s.nc != nil {
		if err := s.nc.Drain(); err != nil {
			s.nc.Close()
		}
	}
	if s.batch != nil {
		if err := s.batch.Close(); err != nil {
			s.addErr(fmt.Errorf("batch server close: %w", err))
		}
	}
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	}
}

// Done is closed once the stack has stopped: after Start's ctx ended, or
// by itself when its NATS connection was closed for good ([Stack.Wait]
// then returns that error).
func (s *Stack) Done() <-chan struct{} { return s.done }

// Wait blocks until the stack has stopped (after Start's ctx ended) and
// returns the errors its parts stopped with.
func (s *Stack) Wait() error {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}

// NATSURL is the embedded NATS server's client URL.
func (s *Stack) NATSURL() string { return s.ns.ClientURL() }

// HTTPAddr is the address the HTTP API listens on.
func (s *Stack) HTTPAddr() net.Addr { return s.httpLis.Addr() }

// Queue is the stack's job queue.
func (s *Stack) Queue() *queue.Queue { return s.q }

// Index is the stack's job index.
func (s *Stack) Index() *jobindex.Index { return s.index }

// BatchServer is the in-process batch server, or nil when an external one
// is used.
func (s *Stack) BatchServer() *batchserver.Server { return s.batch }

// DataDir is the data directory the workers read.
func (s *Stack) DataDir() string { return s.dataDir }

// resolveDataDir returns DATA_DIR as an absolute path; empty means the
// shipped sample folder in the current directory.
func resolveDataDir(dir string) (string, error) {
	if dir == "" {
		dir = SampleDataDir
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("no DATA_DIR given and the sample folder ./%s is not here: run `go run ./publisher/dev` from the repository root, or set DATA_DIR (--data-dir)", SampleDataDir)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("DATA_DIR %q: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("DATA_DIR %q: %w", dir, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("DATA_DIR %q is not a directory", dir)
	}
	return abs, nil
}

func (s *Stack) printBanner(w io.Writer, batchAddr string, dashboard bool) {
	httpURL := "http://" + hostPort(s.httpLis.Addr())
	api := httpURL
	if dashboard {
		api += "   (dashboard: " + httpURL + "/)"
	}
	batch := batchAddr + " (in-process reference batch server, output in " + s.cfg.BatchOutDir + ")"
	if s.batch == nil {
		batch = batchAddr + " (external)"
	}
	var files []string
	if ents, err := os.ReadDir(s.dataDir); err == nil {
		for _, e := range ents {
			if ext := strings.ToLower(filepath.Ext(e.Name())); !e.IsDir() && slices.Contains(httpapi.DefaultAllowedExt(), ext) {
				files = append(files, e.Name())
			}
		}
	}
	slices.Sort(files)
	example := "processed_recruitment_data.pkl"
	if len(files) > 0 && !slices.Contains(files, example) {
		example = files[0]
	}
	fmt.Fprintf(w, `
embedstream local stack is running
  NATS JetStream  %s   (store %s; the nats CLI and extra 'go run ./worker' processes can join)
  batch server    %s
  workers         %d in-process, %d jobs each at once
  HTTP API        %s
  data dir        %s (%s)

Try:
  curl -X POST "%s/data/ingest/recruit?file_name=%s" -H "accept: application/json"
  curl %s/jobs/<job_id>

Ctrl-C stops everything.
`, s.ns.ClientURL(), s.cfg.NATS.StoreDir, batch, s.workers, s.cfg.WorkerConcurrency, api, s.dataDir, strings.Join(files, ", "), httpURL, example, httpURL)
}

func hostPort(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}
