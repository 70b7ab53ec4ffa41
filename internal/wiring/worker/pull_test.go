package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/pull"
)

// TestPullSettings: pull mode is off by default; its settings reach the
// pull server's configuration, with the worker's chunk bounds and
// shutdown timeout; bad combinations name their variables.
func TestPullSettings(t *testing.T) {
	c, err := Load(newFS(), nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.PullAddr != "" || c.PullConcurrency != pull.DefaultConcurrency || c.PullToken != "" {
		t.Fatalf("pull defaults: %+v", c)
	}
	c, err = Load(newFS(), []string{"--pull-concurrency", "10"}, env(map[string]string{
		"PULL_ADDR": ":50052", "PULL_TOKEN": "t", "CHUNK_RECORDS": "77", "CHUNK_BYTES": "8KiB", "SHUTDOWN_TIMEOUT": "5s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := pullConfig(c, nil)
	if want := (pull.Config{Concurrency: 10, Token: "t", ChunkRecords: 77, ChunkBytes: 8 << 10, StopTimeout: 5 * time.Second}); got.Concurrency != want.Concurrency ||
		got.Token != want.Token || got.ChunkRecords != want.ChunkRecords || got.ChunkBytes != want.ChunkBytes || got.StopTimeout != want.StopTimeout || got.TLS != nil {
		t.Fatalf("pull config = %+v, want %+v", got, want)
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PULL_ADDR": ":1", "PULL_CONCURRENCY": "0"}, "--pull-concurrency (PULL_CONCURRENCY)"},
		{map[string]string{"PULL_ADDR": ":1", "PULL_TLS_CERT": "c.pem"}, "PULL_TLS_KEY"},
		{map[string]string{"PULL_ADDR": ":1", "PULL_TLS_CLIENT_CA": "ca.pem"}, "PULL_TLS_CLIENT_CA"},
		{map[string]string{"PULL_TOKEN": "t"}, "--pull-addr (PULL_ADDR)"},
	} {
		if _, err := Load(newFS(), nil, env(tt.env)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want mention of %q", tt.env, err, tt.want)
		}
	}
}
