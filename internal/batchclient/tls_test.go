package batchclient_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/tlstest"
)

func TestStreamMutualTLS(t *testing.T) {
	t.Parallel()
	p := tlstest.NewPKI(t)
	tc, err := batchserver.LoadTLS(p.ServerCertFile, p.ServerKeyFile, p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, batchserver.Config{TLS: tc})

	c := newClient(t, batchclient.Config{Addr: s.addr, TLSCA: p.CAFile, TLSCert: p.ClientCertFile, TLSKey: p.ClientKeyFile})
	res, err := c.Stream(context.Background(), meta("tls-1"), sampleTable(100, 4), sink.Options{}, nil)
	if err != nil || res.RecordsReceived != 100 {
		t.Fatalf("mTLS stream: %+v, %v", res, err)
	}

	// Without a client certificate the server refuses the handshake.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	anon := newClient(t, batchclient.Config{Addr: s.addr, TLSCA: p.CAFile, ReadyTimeout: 2 * time.Second})
	if _, err := anon.Stream(ctx, meta("tls-2"), sampleTable(10, 4), sink.Options{}, nil); !errors.Is(err, sink.ErrUnavailable) {
		t.Fatalf("stream without a client certificate: %v, want ErrUnavailable", err)
	}
	if _, ok := s.srv.Committed("tls-2"); ok {
		t.Error("committed a stream from an unauthenticated client")
	}
}

func TestNewRefusesBadTLSFiles(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope.pem")
	if _, err := batchclient.New(context.Background(), batchclient.Config{Addr: "x:1", TLSCA: missing}, zeroLog()); err == nil {
		t.Error("missing CA file accepted")
	}
	if _, err := batchclient.New(context.Background(), batchclient.Config{Addr: "x:1", TLSCert: missing, TLSKey: missing}, zeroLog()); err == nil {
		t.Error("missing client certificate accepted")
	}
	if _, err := batchclient.New(context.Background(), batchclient.Config{}, zeroLog()); err == nil {
		t.Error("empty address accepted")
	}
}
