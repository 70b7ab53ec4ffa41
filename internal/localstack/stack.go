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
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/queue"
)

// SampleDataDir is the shipped sample folder, relative to the repository
// root, that DATA_DIR defaults to.
const SampleDataDir = "data"

// Options are the parts of the stack that are not settings: where output
// goes and how the HTTP API is mounted.
type Options struct {
	// Out receives the human-readable banner (what runs where, the curl
	// command to try). Nil discards it.
	Out io.Writer
	// Handler, when set, wraps the API handler (e.g. to mount the
	// dashboard beside it). cfg is the publisher's configuration as the
	// stack resolved it (DATA_DIR made absolute).
	Handler func(api http.Handler, q *queue.Queue, domains *domain.Registry, cfg config.Publisher) (http.Handler, error)
}

// Stack is a running local stack. Create it with [Start]; stop it by
// cancelling Start's context and calling [Stack.Wait].
type Stack struct {
	log      zerolog.Logger
	cfg      config.Dev
	ns       *server.Server
	nc       *nats.Conn
	q        *queue.Queue
	batch    *batchserver.Server
	batchLis net.Listener
	httpLis  net.Listener
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
func Start(ctx context.Context, cfg config.Dev, log zerolog.Logger, opts Options) (st *Stack, err error) {
	s := &Stack{log: log, cfg: cfg, workers: cfg.Workers, done: make(chan struct{})}
	// Until every part is built, nothing runs: on an error, teardown
	// closes what was opened and no goroutine is left behind.
	var clients []*batchclient.Client
	defer func() {
		if err != nil {
			for _, bc := range clients {
				bc.Close()
			}
			s.teardown()
		}
	}()

	s.dataDir, err = resolveDataDir(cfg.Publisher.DataDir)
	if err != nil {
		return nil, err
	}
	domains, err := domain.NewRegistry(cfg.Publisher.DomainsFile)
	if err != nil {
		return nil, fmt.Errorf("domains: %w", err)
	}
	// The HTTP port is the one most often taken: claim it first.
	pcfg := cfg.Publisher
	pcfg.DataDir = s.dataDir
	s.httpLis, err = net.Listen("tcp", pcfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("HTTP API: listen on %s (HTTP_ADDR / --http-addr): %w", pcfg.HTTPAddr, err)
	}

	s.ns, err = StartNATS(NATSConfig{Port: cfg.NATSPort, StoreDir: cfg.NATSDir}, log)
	if err != nil {
		return nil, err
	}
	natsCfg := cfg.Publisher.NATS
	natsCfg.URL = s.ns.ClientURL()
	s.nc, err = queue.Connect(ctx, natsCfg, "publisher-dev", log)
	if err != nil {
		return nil, err
	}
	s.q, err = queue.Open(ctx, s.nc, queue.ConfigFromNATS(natsCfg))
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

	wcfg := cfg.Worker
	wcfg.NATS = natsCfg
	wcfg.DataDir = s.dataDir
	wcfg.BatchServerAddr = batchAddr
	workers := make([]*ingest.Worker, cfg.Workers)
	for i := range workers {
		wc := wcfg
		wc.WorkerName = fmt.Sprintf("dev-worker-%d", i+1)
		w, bc, werr := newWorker(ctx, wc, domains, s.nc, s.q, log)
		if werr != nil {
			return nil, werr
		}
		workers[i] = w
		clients = append(clients, bc)
	}

	apiCfg := httpapi.ConfigFrom(pcfg)
	apiCfg.Ready = s.q.Ready
	api := httpapi.New(apiCfg, s.q, domains, log.With().Str("part", "api").Logger())
	var h http.Handler = api
	if opts.Handler != nil {
		if h, err = opts.Handler(api, s.q, domains, pcfg); err != nil {
			return nil, err
		}
	}

	// Everything is built: run it. Workers run on runCtx, the batch
	// server on a context of its own that ends only after the workers
	// stopped (they may still be streaming).
	runCtx, cancel := context.WithCancel(ctx)
	batchCtx, stopBatch := context.WithCancel(context.WithoutCancel(ctx))
	if s.batch != nil {
		s.goRun("batch server", func() error { return s.batch.Serve(batchCtx, s.batchLis) })
	}
	var workerWG sync.WaitGroup
	for i, w := range workers {
		bc := clients[i]
		workerWG.Add(1)
		s.goRun(fmt.Sprintf("dev-worker-%d", i+1), func() error {
			defer workerWG.Done()
			defer bc.Close()
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
		close(s.done)
	}()

	if opts.Out != nil {
		s.printBanner(opts.Out, batchAddr, opts.Handler != nil)
	}
	return s, nil
}

func newWorker(ctx context.Context, wc config.Worker, domains *domain.Registry, nc *nats.Conn, q *queue.Queue, log zerolog.Logger) (*ingest.Worker, *batchclient.Client, error) {
	wcfg, _, _ := ingest.Configs(wc)
	w, bc, err := ingest.Wire(ctx, wc, domains, q, nc, ingest.NewMetrics(), log.With().Str("part", "worker").Str("worker", wcfg.Name).Logger())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", wcfg.Name, err)
	}
	return w, bc, nil
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
			return "", fmt.Errorf("no DATA_DIR given and the sample folder ./%s is not here: run `go run ./publisher dev` from the repository root, or set DATA_DIR (--data-dir)", SampleDataDir)
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
			if ext := strings.ToLower(filepath.Ext(e.Name())); !e.IsDir() && (ext == ".pkl" || ext == ".pickle") {
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
`, s.ns.ClientURL(), s.cfg.NATSDir, batch, s.workers, s.cfg.Worker.Concurrency, api, s.dataDir, strings.Join(files, ", "), httpURL, example, httpURL)
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
