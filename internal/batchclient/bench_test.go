package batchclient_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/sink"
)

// BenchmarkStream streams tables to the reference batch server on loopback
// with Discard on (it validates and keeps its ledger, writes no JSONL), for
// vector-heavy and string-heavy rows. Bytes are the encoded chunk bytes.
func BenchmarkStream(b *testing.B) {
	for _, bc := range []struct {
		name      string
		rows, dim int
	}{
		{"vectors-384", 20000, 384},
		{"strings", 100000, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv, err := batchserver.New(batchserver.Config{OutDir: b.TempDir(), Discard: true}, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ctx, lis) }()
			defer func() { cancel(); <-served; _ = srv.Close() }()
			c, err := batchclient.New(ctx, batchclient.Config{Addr: lis.Addr().String()}, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			tb := sampleTable(bc.rows, bc.dim)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				res, err := c.Stream(ctx, meta(fmt.Sprint("bench-", i)), tb, sink.Options{}, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(res.BytesSent))
				i++
			}
		})
	}
}
