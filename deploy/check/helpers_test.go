package check

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/wiring/batchserver"
	"github.com/embedstream/embedstream/internal/wiring/publisher"
	"github.com/embedstream/embedstream/internal/wiring/worker"
)

// repoRoot is the product's module root, two levels above this module.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repo root %s: %v", root, err)
	}
	return root
}

// binaries lists the settings each deployed binary reads, from its
// composition root (internal/wiring/...): the one list of what each binary
// reads. The local stack (publisher/dev) is not deployed.
var binaries = map[string]func() []config.Setting{
	"worker":      worker.Settings,
	"publisher":   publisher.Settings,
	"batchserver": batchserver.Settings,
}

// settings returns the settings a binary reads, by environment variable.
func settings(t *testing.T, binary string) map[string]config.Setting {
	t.Helper()
	list, ok := binaries[binary]
	if !ok {
		t.Fatalf("unknown binary %q", binary)
	}
	m := make(map[string]config.Setting)
	for _, s := range list() {
		if s.Env != "" {
			m[s.Env] = s
		}
	}
	return m
}

// effective returns the value a binary would use for a variable: env's, or
// the setting's default.
func effective(t *testing.T, binary string, env map[string]string, name string) string {
	t.Helper()
	if v, ok := env[name]; ok && v != "" {
		return v
	}
	s, ok := settings(t, binary)[name]
	if !ok {
		t.Fatalf("%s does not read %s", binary, name)
	}
	return s.Default
}

func effectiveDuration(t *testing.T, binary string, env map[string]string, name string) time.Duration {
	t.Helper()
	v := effective(t, binary, env, name)
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

func effectiveInt(t *testing.T, binary string, env map[string]string, name string) int {
	t.Helper()
	v := effective(t, binary, env, name)
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// addrPort returns the port of a listen or dial address ("host:port" or
// ":port").
func addrPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: port: %v", addr, err)
	}
	return n
}
