package batchserver

import (
	"context"
	"crypto/tls"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/embedstream/embedstream/internal/tlstest"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	pki := tlstest.NewPKI(t)
	tc, err := LoadTLS(pki.ServerCertFile, pki.ServerKeyFile, pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, Config{TLS: tc})

	dial := func(certs ...tls.Certificate) pb.EmbeddingStreamServiceClient {
		creds := credentials.NewTLS(&tls.Config{RootCAs: pki.CAPool, Certificates: certs, MinVersion: tls.VersionTLS12})
		cc, err := grpc.NewClient(b.addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		return pb.NewEmbeddingStreamServiceClient(cc)
	}
	tb := testTable(4)
	if _, err := send(context.Background(), dial(pki.ClientCert), messages("job-tls", tb, 2)); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	b.assertCommitted(t, "job-tls", tb)
	if _, err := send(context.Background(), dial(), messages("job-notls", tb, 2)); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	if _, err := send(context.Background(), b.client, messages("job-plain", tb, 2)); err == nil {
		t.Fatal("a plaintext client was served")
	}
	b.assertNothing(t, "job-notls")
}

func TestLoadTLS(t *testing.T) {
	t.Parallel()
	if tc, err := LoadTLS("", "", ""); tc != nil || err != nil {
		t.Fatalf("no files: %v, %v", tc, err)
	}
	if _, err := LoadTLS("", "", "ca.pem"); err == nil {
		t.Fatal("client CA without a certificate accepted")
	}
	if _, err := LoadTLS("missing.pem", "missing.key", ""); err == nil {
		t.Fatal("missing files accepted")
	}
}
