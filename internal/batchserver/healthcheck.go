package batchserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// ErrNotServing is returned (wrapped) by [HealthCheck] when the server
// answers with a status other than SERVING (e.g. while it stops).
var ErrNotServing = errors.New("batch server is not serving")

// HealthCheck asks the standard gRPC health service at addr (host:port) for
// the server's overall status and returns nil when it is SERVING,
// [ErrNotServing] for another status, or the call's error. tlsConf nil dials
// plaintext. Bound the call with ctx's deadline.
func HealthCheck(ctx context.Context, addr string, tlsConf *tls.Config) error {
	creds := insecure.NewCredentials()
	if tlsConf != nil {
		creds = credentials.NewTLS(tlsConf)
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("batchserver: health check %s: %w", addr, err)
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("batchserver: health check %s: %w", addr, err)
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%w: %s reports %s", ErrNotServing, addr, st)
	}
	return nil
}
