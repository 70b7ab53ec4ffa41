package healthprobe_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/embedstream/embedstream/internal/healthprobe"
)

func TestLocalAddr(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ listen, def, want string }{
		{"", ":9090", "127.0.0.1:9090"},
		{":8000", "", "127.0.0.1:8000"},
		{"0.0.0.0:50051", "", "127.0.0.1:50051"},
		{"[::]:50051", "", "127.0.0.1:50051"},
		{"10.1.2.3:9090", "", "10.1.2.3:9090"},
		{"worker:9090", "", "worker:9090"},
	} {
		got, err := healthprobe.LocalAddr(c.listen, c.def)
		if err != nil || got != c.want {
			t.Errorf("LocalAddr(%q, %q) = %q, %v; want %q", c.listen, c.def, got, err, c.want)
		}
	}
	if _, err := healthprobe.LocalAddr("no-port", ""); err == nil {
		t.Error("LocalAddr accepted an address without a port")
	}
}

func TestRunHTTP(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || !healthy.Load() {
			http.Error(rw, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	var stderr bytes.Buffer
	if code := healthprobe.Run("t", nil, addr, healthprobe.HTTP("/healthz"), &stderr); code != 0 {
		t.Fatalf("healthy server: exit %d: %s", code, stderr.String())
	}
	healthy.Store(false)
	if code := healthprobe.Run("t", []string{"--addr", addr}, ":1", healthprobe.HTTP("/healthz"), &stderr); code != 1 {
		t.Fatalf("unhealthy server: exit %d", code)
	}
	if err := healthprobe.HTTP("/healthz")(context.Background(), addr); !errors.Is(err, healthprobe.ErrUnhealthy) {
		t.Fatalf("unhealthy server: %v, want ErrUnhealthy", err)
	}
	if code := healthprobe.Run("t", []string{"--bogus"}, addr, healthprobe.HTTP("/healthz"), &stderr); code != 2 {
		t.Fatalf("bad flag: exit %d, want 2", code)
	}
}

func TestRunGRPC(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(lis) }() // returns when stopped
	defer gs.Stop()
	addr := lis.Addr().String()
	var stderr bytes.Buffer
	if code := healthprobe.Run("t", nil, addr, healthprobe.GRPC(nil), &stderr); code != 0 {
		t.Fatalf("serving: exit %d: %s", code, stderr.String())
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if err := healthprobe.GRPC(nil)(context.Background(), addr); !errors.Is(err, healthprobe.ErrUnhealthy) {
		t.Fatalf("not serving: %v, want ErrUnhealthy", err)
	}
	gs.Stop()
	if code := healthprobe.Run("t", []string{"--timeout", "2s"}, addr, healthprobe.GRPC(nil), &stderr); code != 1 {
		t.Fatalf("stopped server: exit %d, want 1", code)
	}
}
