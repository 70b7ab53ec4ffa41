package pull_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/pull"
	"github.com/embedstream/embedstream/internal/queue"
)

// BenchmarkPullVsPush moves one recruit DataFrame from a file to a
// committed ingest both ways, over loopback gRPC with the default chunk
// bounds: push (a worker's processor: load, validate, stream to the
// reference batch server's IngestDataStream) and pull (the reference batch
// server's Pull from a worker's pull server: load, validate, stream). The
// batch server runs with Discard (it checks every chunk and keeps the
// ledger, but writes no JSONL), as the end-to-end benchmark does, so the
// disk is not what is measured. The file is PULL_BENCH_FILE, or a
// generated DataFrame of PULL_BENCH_ROWS rows (default 20000) with
// 384-dimension embeddings.
//
//	PULL_BENCH_FILE=/path/recruit_df_100000_d384.pkl go test -run '^$' -bench PullVsPush -benchtime 3x ./internal/pull
func BenchmarkPullVsPush(b *testing.B) {
	dir := b.TempDir()
	name := "bench.pkl"
	if f := os.Getenv("PULL_BENCH_FILE"); f != "" {
		if err := os.Symlink(f, filepath.Join(dir, name)); err != nil {
			b.Fatal(err)
		}
	} else {
		rows := 20000
		if v := os.Getenv("PULL_BENCH_ROWS"); v != "" {
			if _, err := fmt.Sscan(v, &rows); err != nil {
				b.Fatal(err)
			}
		}
		writeRecruit(b, dir, name, rows, 384, nil)
	}
	st, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		b.Fatal(err)
	}
	// DATA_DIR refuses symlinks leading out of it: resolve into the dir.
	if real, err := filepath.EvalSymlinks(filepath.Join(dir, name)); err == nil && filepath.Dir(real) != dir {
		dir, name = filepath.Dir(real), filepath.Base(real)
	}
	reg, err := domain.NewRegistry("")
	if err != nil {
		b.Fatal(err)
	}
	log := zerolog.Nop()

	b.Run("push", func(b *testing.B) {
		bs := batchservertest.Start(b, batchserver.Config{Discard: true}, log)
		bc, err := batchclient.New(context.Background(), batchclient.Config{Addr: bs.Addr}, log)
		if err != nil {
			b.Fatal(err)
		}
		defer bc.Close()
		proc := ingest.NewProcessor(ingest.ProcessorConfig{DataDir: dir, MaxFileBytes: 8 << 30}, reg, nil, bc)
		b.SetBytes(st.Size())
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			n++
			if _, err := proc.Run(context.Background(), queue.Job{ID: fmt.Sprintf("push-%d", n), Domain: "recruit", FileName: name}, 1, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pull", func(b *testing.B) {
		w := startWorker(b, dir, workerOpts{cfg: pull.Config{}, domains: reg})
		bs := newSink(b, batchserver.Config{Discard: true})
		conn := dial(b, w.Addr, nil, "")
		b.SetBytes(st.Size())
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			n++
			if _, err := bs.Pull(context.Background(), conn, fileRequest("recruit", name, fmt.Sprintf("pull-%d", n))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
