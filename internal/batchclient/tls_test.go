package batchclient_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
)

// pki writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, PEM-encoded, into a temp dir.
type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newPKI(t *testing.T) pki {
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
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".crt", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kder)
	}
	var p pki
	p.ca = write("ca.crt", "CERTIFICATE", caDER)
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func TestStreamMutualTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	tc, err := batchserver.LoadTLS(p.serverCert, p.serverKey, p.ca)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, batchserver.Config{TLS: tc})

	c := newClient(t, batchclient.Config{Addr: s.addr, TLSCA: p.ca, TLSCert: p.clientCert, TLSKey: p.clientKey})
	res, err := c.Stream(context.Background(), meta("tls-1"), sampleTable(100, 4), batchclient.Options{}, nil)
	if err != nil || res.RecordsReceived != 100 {
		t.Fatalf("mTLS stream: %+v, %v", res, err)
	}

	// Without a client certificate the server refuses the handshake.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	anon := newClient(t, batchclient.Config{Addr: s.addr, TLSCA: p.ca})
	if _, err := anon.Stream(ctx, meta("tls-2"), sampleTable(10, 4), batchclient.Options{}, nil); !errors.Is(err, batchclient.ErrUnavailable) {
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
