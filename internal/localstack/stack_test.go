package localstack_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/localstack"
)

func TestDevStackReportsBusyPort(t *testing.T) {
	work := t.TempDir()
	first, err := localstack.StartNATS(localstack.NATSConfig{Port: -1, StoreDir: filepath.Join(work, "a")}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown()
	n := first.Addr().(*net.TCPAddr).Port
	_, err = localstack.StartNATS(localstack.NATSConfig{Port: n, StoreDir: filepath.Join(work, "b")}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "--nats-port") {
		t.Fatalf("second server on port %d: err = %v, want a busy-port error naming --nats-port", n, err)
	}
}

func TestStartNeedsAWorkerBuilder(t *testing.T) {
	_, err := localstack.Start(context.Background(), localstack.Config{Workers: 1}, zerolog.Nop(), localstack.Options{})
	if err == nil || !strings.Contains(err.Error(), "NewWorker") {
		t.Fatalf("err = %v, want a message about Config.NewWorker", err)
	}
}
