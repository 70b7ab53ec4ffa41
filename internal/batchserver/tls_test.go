package batchserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, as PEM files in a temp dir.
type testPKI struct {
	caFile, serverCert, serverKey string
	caPool                        *x509.CertPool
	client                        tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	p := &testPKI{caPool: x509.NewCertPool()}
	p.caPool.AddCert(ca)
	p.caFile = write("ca.pem", "CERTIFICATE", caDER)
	sDER, sKey := issue(2, x509.ExtKeyUsageServerAuth)
	p.serverCert, p.serverKey = write("server.pem", "CERTIFICATE", sDER), write("server.key", "PRIVATE KEY", keyDER(sKey))
	cDER, cKey := issue(3, x509.ExtKeyUsageClientAuth)
	p.client = tls.Certificate{Certificate: [][]byte{cDER}, PrivateKey: cKey}
	return p
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	tc, err := LoadTLS(pki.serverCert, pki.serverKey, pki.caFile)
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, Config{TLS: tc})

	dial := func(certs ...tls.Certificate) pb.EmbeddingStreamServiceClient {
		creds := credentials.NewTLS(&tls.Config{RootCAs: pki.caPool, Certificates: certs, MinVersion: tls.VersionTLS12})
		cc, err := grpc.NewClient(b.addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		return pb.NewEmbeddingStreamServiceClient(cc)
	}
	tb := testTable(4)
	if _, err := send(context.Background(), dial(pki.client), messages("job-tls", tb, 2)); err != nil {
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
