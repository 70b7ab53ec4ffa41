package tlstest

import (
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
)

// PKI is a test CA with one server and one client certificate it signed.
type PKI struct {
	// CAFile is the CA certificate (PEM).
	CAFile string
	// ServerCertFile and ServerKeyFile are the server's certificate, for
	// 127.0.0.1 with extended key usage serverAuth, and its PKCS #8 key.
	ServerCertFile, ServerKeyFile string
	// ClientCertFile and ClientKeyFile are the client's certificate, with
	// extended key usage clientAuth, and its PKCS #8 key.
	ClientCertFile, ClientKeyFile string
	// CAPool holds the CA certificate, e.g. for tls.Config.RootCAs.
	CAPool *x509.CertPool
	// ClientCert is the client certificate with its key, e.g. for
	// tls.Config.Certificates.
	ClientCert tls.Certificate
}

// NewPKI creates a CA and issues the server and client certificates,
// writing all of them into a fresh t.TempDir(). It fails the test on error.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("tlstest: create CA certificate: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("tlstest: parse CA certificate: %v", err)
	}
	issue := func(name string, serial int64, usage x509.ExtKeyUsage) (certFile, keyFile string, cert tls.Certificate) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatalf("tlstest: issue %s certificate: %v", name, err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatalf("tlstest: marshal %s key: %v", name, err)
		}
		certFile = writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", der)
		keyFile = writePEM(t, filepath.Join(dir, name+".key"), "PRIVATE KEY", keyDER)
		return certFile, keyFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	p := &PKI{CAPool: x509.NewCertPool()}
	p.CAPool.AddCert(ca)
	p.CAFile = writePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", caDER)
	p.ServerCertFile, p.ServerKeyFile, _ = issue("server", 2, x509.ExtKeyUsageServerAuth)
	p.ClientCertFile, p.ClientKeyFile, p.ClientCert = issue("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: generate key: %v", err)
	}
	return key
}

func writePEM(t testing.TB, path, typ string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("tlstest: write %s: %v", path, err)
	}
	return path
}
