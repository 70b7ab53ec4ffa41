package wiring_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/embedstream/embedstream/"

// TestBinariesLinkOnlyWhatTheyRun: each binary links the parts it runs and
// nothing else. In particular the production publisher links neither the
// embedded NATS server, nor the worker, nor the batch server, nor the local
// stack (publisher/dev has them), and the batch server links no NATS
// client.
func TestBinariesLinkOnlyWhatTheyRun(t *testing.T) {
	tests := []struct {
		main   string   // the main package, relative to the module root
		needs  string   // a package it must link (the list is not empty)
		banned []string // packages it must not link, nor any below them
	}{
		{"publisher", "internal/cli", []string{
			"github.com/nats-io/nats-server", "internal/ingest", "internal/batchserver", "internal/batchclient",
			"internal/localstack", "internal/wiring/worker", "internal/wiring/batchserver", "internal/wiring/dev",
		}},
		{"worker", "internal/ingest", []string{
			"github.com/nats-io/nats-server", "internal/batchserver", "internal/localstack", "internal/httpapi",
			"internal/dashboard", "internal/cli", "internal/wiring/publisher", "internal/wiring/batchserver", "internal/wiring/dev",
		}},
		{"batchserver", "internal/batchserver", []string{
			"github.com/nats-io/nats-server", "github.com/nats-io/nats.go", "internal/queue", "internal/ingest",
			"internal/batchclient", "internal/localstack", "internal/wiring/worker", "internal/wiring/publisher", "internal/wiring/dev",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.main, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "../../"+tt.main).Output()
			if err != nil {
				t.Fatalf("go list -deps ./%s: %v", tt.main, err)
			}
			deps := strings.Fields(string(out))
			if !slices.Contains(deps, module+tt.needs) {
				t.Fatalf("./%s does not link %s: %q", tt.main, tt.needs, deps)
			}
			for _, dep := range deps {
				for _, b := range tt.banned {
					if !strings.HasPrefix(b, "github.com/") {
						b = module + b
					}
					if dep == b || strings.HasPrefix(dep, b+"/") {
						t.Errorf("./%s links %s", tt.main, dep)
					}
				}
			}
		})
	}
}
