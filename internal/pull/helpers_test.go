package pull_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/picklegen"
	"github.com/embedstream/embedstream/internal/pull"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// waitTimeout bounds every wait for an event; reaching it fails the test.
const waitTimeout = 60 * time.Second

// Compile-time checks: the real implementations satisfy what the server
// consumes.
var (
	_ pull.Loader  = (*dataset.Loader)(nil)
	_ pull.Domains = (*domain.Registry)(nil)
)

// worker is a pull server serving on loopback, as a worker runs it.
type worker struct {
	*pull.Server
	Addr    string
	Loader  *dataset.Loader
	DataDir string
	// stop ends Serve (as the worker's SIGTERM does) and returns its
	// error; the test's cleanup calls it if the test did not.
	stop func() error
}

// workerOpts shape a pull server.
type workerOpts struct {
	cfg     pull.Config
	domains pull.Domains   // default: the built-in domains
	limits  dataset.Limits // default: no file size limit
	objects dataset.Objects
	log     zerolog.Logger
}

// startWorker serves a pull server reading dataDir until the test ends.
func startWorker(t testing.TB, dataDir string, o workerOpts) *worker {
	t.Helper()
	if o.domains == nil {
		reg, err := domain.NewRegistry("")
		if err != nil {
			t.Fatal(err)
		}
		o.domains = reg
	}
	loader := dataset.NewLoader(dataset.Config{DataDir: dataDir, Objects: o.objects, Limits: o.limits})
	srv, err := pull.New(o.cfg, o.domains, loader, nil, o.log)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	w := &worker{Server: srv, Addr: lis.Addr().String(), Loader: loader, DataDir: dataDir}
	stopped := false
	var stopErr error
	w.stop = func() error {
		if stopped {
			return stopErr
		}
		stopped = true
		cancel()
		select {
		case stopErr = <-served:
		case <-time.After(waitTimeout):
			t.Errorf("pull server did not stop within %s", waitTimeout)
		}
		return stopErr
	}
	t.Cleanup(func() {
		if err := w.stop(); err != nil {
			t.Errorf("pull server: %v", err)
		}
	})
	return w
}

// newSink returns a reference batch server to pull into (not serving:
// Pull is a client), closed when the test ends.
func newSink(t testing.TB, cfg batchserver.Config) *batchserver.Server {
	t.Helper()
	if cfg.OutDir == "" {
		cfg.OutDir = t.TempDir()
	}
	bs, err := batchserver.New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bs.Close(); err != nil {
			t.Errorf("close batch server: %v", err)
		}
	})
	return bs
}

// dial returns a pull client connection to addr, closed when the test
// ends.
func dial(t testing.TB, addr string, tc *tls.Config, token string) *grpc.ClientConn {
	t.Helper()
	cc, err := batchserver.DialWorker(addr, tc, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// fileRequest asks for file name of domain dom.
func fileRequest(dom, name, ingestID string) *pb.DatasetRequest {
	return &pb.DatasetRequest{Domain: dom, Source: &pb.DatasetRequest_FileName{FileName: name}, IngestId: ingestID}
}

// pullInto pulls req from conn into bs with a bounded context.
func pullInto(t testing.TB, bs *batchserver.Server, conn grpc.ClientConnInterface, req *pb.DatasetRequest) (batchserver.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return bs.Pull(ctx, conn, req)
}

// writeRecruit writes a recruit DataFrame pickle of rows rows with
// embeddings of dim floats into dir/name. A non-nil modify changes the
// source first (e.g. to break a row).
func writeRecruit(t testing.TB, dir, name string, rows, dim int, modify func(picklegen.Source) picklegen.Source) string {
	t.Helper()
	var src picklegen.Source = picklegen.Spec{Rows: rows, Dim: dim, Seed: 7}.Source()
	if modify != nil {
		src = modify(src)
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := picklegen.WriteFrame(f, src); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return name
}

// duplicateLast repeats row 0 as the last row: the id field's uniqueness
// fails on the last row, after every other chunk is sent.
type duplicateLast struct{ picklegen.Source }

func (d duplicateLast) Fill(i int, f picklegen.Field, r *picklegen.Recruit) {
	if i == d.Rows()-1 {
		i = 0
	}
	d.Source.Fill(i, f, r)
}

// copyFile copies src into dir under its base name and returns the name.
func copyFile(t testing.TB, src, dir string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(src)
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}
