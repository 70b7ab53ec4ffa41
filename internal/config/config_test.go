package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func newFS() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestWorkerDefaults(t *testing.T) {
	c, err := LoadWorker(newFS(), nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.AckWait != 30*time.Second || c.MaxDeliver != 5 || c.Concurrency != 2 || c.ChunkBytes != 1<<20 ||
		c.MetricsAddr != ":9090" || c.Stream != "INGEST" || c.Replicas != 1 || c.JobTTL != 7*24*time.Hour ||
		c.RetryBackoffMin != 2*time.Second || c.RetryBackoffMax != 2*time.Minute || c.ShutdownTimeout != 30*time.Second {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestFlagsWinOverEnv(t *testing.T) {
	c, err := LoadWorker(newFS(), []string{"--ack-wait=10s", "--concurrency", "4"}, env(map[string]string{
		"ACK_WAIT": "1m", "WORKER_CONCURRENCY": "8", "MAX_DELIVER": "7", "CHUNK_BYTES": "2MiB", "LOG_FORMAT": "console",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.AckWait != 10*time.Second || c.Concurrency != 4 {
		t.Fatalf("flags did not win: ack=%v conc=%d", c.AckWait, c.Concurrency)
	}
	if c.MaxDeliver != 7 || c.ChunkBytes != 2<<20 || c.Format != "console" {
		t.Fatalf("env not applied: %+v", c)
	}
}

func TestValidationNamesFlagAndEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad duration", map[string]string{"ACK_WAIT": "soon"}, "ACK_WAIT"},
		{"concurrency", map[string]string{"WORKER_CONCURRENCY": "0"}, "--concurrency (WORKER_CONCURRENCY)"},
		{"log level", map[string]string{"LOG_LEVEL": "loud"}, "--log-level (LOG_LEVEL)"},
		{"tls pair", map[string]string{"BATCH_SERVER_TLS_CERT": "c.pem"}, "BATCH_SERVER_TLS_KEY"},
		{"backoff order", map[string]string{"RETRY_BACKOFF_MIN": "5m", "RETRY_BACKOFF_MAX": "1m"}, "RETRY_BACKOFF_MIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadWorker(newFS(), nil, env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestPublisherExtensions(t *testing.T) {
	c, err := LoadPublisher(newFS(), nil, env(map[string]string{"ALLOWED_EXTENSIONS": " .pkl , .p ,"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.AllowedExtensions, "|") != ".pkl|.p" || c.HTTPAddr != ":8000" {
		t.Fatalf("got %+v", c)
	}
}

func TestBatchServer(t *testing.T) {
	c, err := LoadBatchServer(newFS(), []string{"--fail-first", "2", "--discard"}, env(map[string]string{"BATCH_OUT_DIR": "/tmp/x", "BATCH_CHUNK_DELAY": "50ms"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.FailFirst != 2 || !c.Discard || c.OutDir != "/tmp/x" || c.ChunkDelay != 50*time.Millisecond || c.MaxRecvMsgSize != 16<<20 || c.Listen != "127.0.0.1:50051" {
		t.Fatalf("got %+v", c)
	}
	if _, err := LoadBatchServer(newFS(), []string{"--fail-rate", "2"}, env(nil)); err == nil {
		t.Fatal("fail-rate 2 accepted")
	}
	if c.MaxConcurrentStreams != 100 || c.Contract != "v2" || c.StagingMaxBytes != 64<<30 || c.StagingTTL != 24*time.Hour ||
		c.StagingSyncBytes != 8<<20 || c.StagingSyncInterval != 500*time.Millisecond {
		t.Fatalf("v2 defaults: %+v", c)
	}
	c, err = LoadBatchServer(newFS(), []string{"--contract", "v1", "--staging-ttl", "1h"}, env(map[string]string{"BATCH_STAGING_MAX_BYTES": "2GiB", "BATCH_STAGING_SYNC_BYTES": "1"}))
	if err != nil || c.Contract != "v1" || c.StagingTTL != time.Hour || c.StagingMaxBytes != 2<<30 || c.StagingSyncBytes != 1 {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, bad := range [][]string{{"--contract", "v3"}, {"--staging-ttl", "0s"}, {"--staging-max-bytes", "1000"}, {"--staging-sync-bytes", "0"}, {"--staging-sync-interval", "0s"}} {
		if _, err := LoadBatchServer(newFS(), bad, env(nil)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := LoadBatchServer(newFS(), nil, env(map[string]string{"BATCH_MAX_CONCURRENT_STREAMS": "0"})); err == nil {
		t.Fatal("max-concurrent-streams 0 accepted")
	}
}

func TestSettingsListEveryBinary(t *testing.T) {
	for _, bin := range []string{"worker", "publisher", "publisher-dev", "batchserver"} {
		s, err := Settings(bin)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, x := range s {
			if x.Env == "" || x.Flag == "" || x.Usage == "" {
				t.Errorf("%s: incomplete setting %+v", bin, x)
			}
			if seen[x.Env] {
				t.Errorf("%s: %s bound twice", bin, x.Env)
			}
			seen[x.Env] = true
		}
		if !seen["LOG_LEVEL"] || !seen["LOG_FORMAT"] {
			t.Errorf("%s: missing logging settings", bin)
		}
	}
	if _, err := Settings("nope"); err == nil {
		t.Fatal("unknown binary accepted")
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "16MiB": 16 << 20, "4k": 4 << 10, "2 GiB": 2 << 30, "10B": 10} {
		got, err := ParseBytes(in)
		if err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "ten", "1.5MiB"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
}
