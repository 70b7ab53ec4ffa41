package batchservertest_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
)

// Start serves on loopback at once, with a temp output directory.
func TestStartServes(t *testing.T) {
	t.Parallel()
	bs := batchservertest.Start(t, batchserver.Config{}, zerolog.Nop())
	if bs.OutDir == "" || bs.Addr == "" {
		t.Fatalf("server %+v", bs)
	}
	cc, err := grpc.NewClient(bs.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, %v", res, err)
	}
}
