package healthprobe

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// ErrUnhealthy is wrapped by the error of a probe that reached the server
// and was told it is not healthy (as opposed to not reaching it).
var ErrUnhealthy = errors.New("unhealthy")

// DefaultTimeout bounds a probe run by [Run] unless --timeout says
// otherwise.
const DefaultTimeout = 3 * time.Second

// Probe checks the server at addr (host:port), returning nil if it is
// healthy.
type Probe func(ctx context.Context, addr string) error

// HTTP returns a Probe that GETs http://addr<path> and is healthy on 200
// OK.
func HTTP(path string) Probe {
	return func(ctx context.Context, addr string) error {
		url := "http://" + addr + path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("healthprobe: %w", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("healthprobe: GET %s: %w", url, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512)) // best effort: for the message only
			return fmt.Errorf("healthprobe: GET %s: %w: %s %s", url, ErrUnhealthy, resp.Status, body)
		}
		return nil
	}
}

// GRPC returns a Probe that asks the standard gRPC health service (the
// server as a whole: service "") and is healthy when it answers SERVING.
// tc nil dials in plaintext.
func GRPC(tc *tls.Config) Probe {
	return func(ctx context.Context, addr string) error {
		creds := insecure.NewCredentials()
		if tc != nil {
			creds = credentials.NewTLS(tc)
		}
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return fmt.Errorf("healthprobe: gRPC client for %s: %w", addr, err)
		}
		defer cc.Close()
		resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return fmt.Errorf("healthprobe: gRPC health check of %s: %w", addr, err)
		}
		if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("healthprobe: gRPC health check of %s: %w: %s", addr, ErrUnhealthy, st)
		}
		return nil
	}
}

// LocalAddr turns a listen address into one to dial on the same host: an
// empty listen becomes def, and an empty or unspecified host ("",
// "0.0.0.0", "::") becomes 127.0.0.1.
func LocalAddr(listen, def string) (string, error) {
	if listen == "" {
		listen = def
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("healthprobe: address %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// Run is a healthcheck subcommand named name: it parses args (--addr,
// default listen made local by [LocalAddr], and --timeout), runs probe and
// returns the exit status: 0 healthy (or --help), 1 unhealthy or
// unreachable, 2 bad usage. Errors go to stderr.
func Run(name string, args []string, listen string, probe Probe, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", listen, "address of the server to probe (an unspecified host is 127.0.0.1)")
	timeout := fs.Duration("timeout", DefaultTimeout, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "%s: takes no arguments\n", name)
		return 2
	}
	target, err := LocalAddr(*addr, listen)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := probe(ctx, target); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// LocalTLS returns the TLS configuration of a probe of a local server: the
// server's certificate is not verified (the probe checks liveness, not
// identity), and certFile/keyFile, when certFile is set, are presented as
// the client certificate, for a server that requires one.
func LocalTLS(certFile, keyFile string) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // a liveness probe of the local server
	if certFile != "" {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("healthprobe: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{kp}
	}
	return tc, nil
}
