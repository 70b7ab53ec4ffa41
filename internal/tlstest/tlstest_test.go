package tlstest_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"testing"

	"github.com/embedstream/embedstream/internal/tlstest"
)

// The files and the in-memory certificates make a mutual-TLS handshake
// succeed on 127.0.0.1, and the server refuses a client without one.
func TestPKIMutualHandshake(t *testing.T) {
	t.Parallel()
	p := tlstest.NewPKI(t)
	serverCert, err := tls.LoadX509KeyPair(p.ServerCertFile, p.ServerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(p.ClientCertFile, p.ClientKeyFile); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	if !clientCAs.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file holds no certificate")
	}
	serverCfg := &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: clientCAs, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}

	handshake := func(certs ...tls.Certificate) (clientErr, serverErr error) {
		c, s := net.Pipe()
		defer c.Close()
		defer s.Close()
		done := make(chan error, 1)
		go func() {
			srv := tls.Server(s, serverCfg)
			err := srv.Handshake()
			if err == nil {
				// TLS 1.3 reports a refused client certificate on the
				// client's first read; close so that read returns.
				_, err = srv.Write([]byte("ok"))
			}
			s.Close()
			done <- err
		}()
		cl := tls.Client(c, &tls.Config{RootCAs: p.CAPool, Certificates: certs, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		clientErr = cl.Handshake()
		if clientErr == nil {
			buf := make([]byte, 2)
			_, clientErr = cl.Read(buf)
		}
		c.Close()
		return clientErr, <-done
	}
	if cerr, serr := handshake(p.ClientCert); cerr != nil || serr != nil {
		t.Fatalf("with the client certificate: client %v, server %v", cerr, serr)
	}
	if _, serr := handshake(); serr == nil {
		t.Fatal("the server accepted a client without a certificate")
	}
}
