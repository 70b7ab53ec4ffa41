package worker

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/ingest"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func newFS() *flag.FlagSet {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestDefaults(t *testing.T) {
	c, err := Load(newFS(), nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.AckWait != 30*time.Second || c.MaxDeliver != 5 || c.Concurrency != 2 || c.ChunkBytes != 1<<20 ||
		c.ChunkRecords != 10000 || c.MaxFileBytes != 4<<30 || c.DataDir != "./data" ||
		c.MetricsAddr != ":9090" || c.Stream != "INGEST" || c.Replicas != 1 || c.JobTTL != 7*24*time.Hour ||
		c.BatchServerAddr != "127.0.0.1:50051" || c.DecodedFactor != 8 || c.MaxDepth != 256 ||
		c.RetryBackoffMin != 2*time.Second || c.RetryBackoffMax != 2*time.Minute || c.ShutdownTimeout != 30*time.Second {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestFlagsWinOverEnv(t *testing.T) {
	c, err := Load(newFS(), []string{"--ack-wait=10s", "--concurrency", "4"}, env(map[string]string{
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
		{"retry budget", map[string]string{"RETRY_BUDGET": "0s"}, "--retry-budget (RETRY_BUDGET)"},
		{"pickle factor", map[string]string{"PICKLE_DECODED_FACTOR": "0"}, "--pickle-decoded-factor (PICKLE_DECODED_FACTOR)"},
		{"memory limit", map[string]string{"MEMORY_LIMIT": "a lot"}, "--memory-limit (MEMORY_LIMIT)"},
		{"memory too small", map[string]string{"MEMORY_LIMIT": "64MiB"}, "--memory-limit (MEMORY_LIMIT)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(newFS(), nil, env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

// TestPartsFollowSettings: every setting reaches the part it configures;
// MAX_FILE_BYTES and the pickle limits reach the processor, which hands
// them to the dataset stage (see package ingest's and dataset's tests).
func TestPartsFollowSettings(t *testing.T) {
	c, err := Load(newFS(), []string{"--pickle-decoded-factor", "3", "--worker-name", "w-1"}, env(map[string]string{
		"PICKLE_MAX_DEPTH": "64", "MAX_FILE_BYTES": "123456", "CHUNK_RECORDS": "77", "CHUNK_BYTES": "8KiB",
		"DATA_DIR": "/data", "WORKER_CONCURRENCY": "3", "ACK_WAIT": "45s", "MAX_DELIVER": "9",
		"RETRY_BACKOFF_MIN": "1s", "RETRY_BACKOFF_MAX": "1m", "RETRY_BUDGET": "40m", "SHUTDOWN_TIMEOUT": "5s",
		"BATCH_SERVER_ADDR": "batch:1", "BATCH_SERVER_TLS_CA": "ca.pem", "BATCH_SERVER_TLS_CERT": "c.pem", "BATCH_SERVER_TLS_KEY": "k.pem",
		"MEMORY_LIMIT": "1GiB", "SCRATCH_DIR": "/scratch",
	}))
	if err != nil {
		t.Fatal(err)
	}
	w, p, b := parts(c)
	if w != (ingest.WorkerConfig{Name: "w-1", Concurrency: 3, AckWait: 45 * time.Second, MaxDeliver: 9,
		BackoffMin: time.Second, BackoffMax: time.Minute, RetryBudget: 40 * time.Minute, ShutdownTimeout: 5 * time.Second}) {
		t.Errorf("worker config = %+v", w)
	}
	if p != (ingest.ProcessorConfig{DataDir: "/data", MaxFileBytes: 123456, ChunkRecords: 77, ChunkBytes: 8 << 10,
		PickleDecodedFactor: 3, PickleMaxDepth: 64, MemoryBudget: (1<<30 - MemoryReserve) / 3, BudgetAdvice: BudgetAdvice, ScratchDir: "/scratch"}) {
		t.Errorf("processor config = %+v", p)
	}
	if b != (batchclient.Config{Addr: "batch:1", TLSCA: "ca.pem", TLSCert: "c.pem", TLSKey: "k.pem"}) {
		t.Errorf("batch client config = %+v", b)
	}
}

func TestNameDefaultsToHostAndPID(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skip("no host name")
	}
	if got := Name(Config{}); !strings.HasPrefix(got, host+"-") {
		t.Fatalf("Name = %q, want %s-<pid>", got, host)
	}
	if got := Name(Config{WorkerName: "w"}); got != "w" {
		t.Fatalf("Name = %q, want w", got)
	}
}
