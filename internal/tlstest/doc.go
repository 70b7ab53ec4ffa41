// Package tlstest issues a throwaway PKI for mutual-TLS tests: a test CA,
// a server certificate for 127.0.0.1 and a client certificate, written as
// PEM files into a t.TempDir() and also kept in memory.
//
// # Usage
//
//	p := tlstest.NewPKI(t)
//	tc, err := batchserver.LoadTLS(p.ServerCertFile, p.ServerKeyFile, p.CAFile)
//	...
//	creds := credentials.NewTLS(&tls.Config{RootCAs: p.CAPool, Certificates: []tls.Certificate{p.ClientCert}})
//
// Certificates are ECDSA P-256, valid from an hour ago to an hour from now.
package tlstest
