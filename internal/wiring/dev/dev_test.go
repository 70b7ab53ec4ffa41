package dev_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/wiring/dev"
)

const fixtures = "../../pickleload/testdata/fixtures"

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDevStackIngestsWithTheOriginalCall runs the local stack in-process
// from its settings, as publisher/dev does, sends the original Python
// service's call and waits for the job to succeed, then checks the
// committed records and a clean shutdown.
func TestDevStackIngestsWithTheOriginalCall(t *testing.T) {
	dataDir, work := t.TempDir(), t.TempDir()
	copyFile(t, filepath.Join(fixtures, "recruit_small_df.pkl"), filepath.Join(dataDir, "processed_recruitment_data.pkl"))

	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	cfg, err := dev.Load(fs, []string{
		"--http-addr", "127.0.0.1:0", "--nats-port", "-1", "--workers", "2",
		"--nats-dir", filepath.Join(work, "nats"), "--batch-out", filepath.Join(work, "batch"),
		"--data-dir", dataDir,
	}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var banner bytes.Buffer
	st, err := dev.Start(ctx, cfg, zerolog.Nop(), &banner)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(banner.String(), "/data/ingest/recruit?file_name=processed_recruitment_data.pkl") {
		t.Errorf("banner does not show the curl command:\n%s", banner.String())
	}
	base := "http://" + st.HTTPAddr().String()

	req, _ := http.NewRequest(http.MethodPost, base+"/data/ingest/recruit?file_name=processed_recruitment_data.pkl", nil)
	req.Header.Set("accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var accepted struct {
		JobID string `json:"job_id"`
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(body, &accepted) != nil || accepted.JobID == "" {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}

	var status struct {
		State        string `json:"state"`
		RecordsTotal uint64 `json:"records_total"`
		RecordsSent  uint64 `json:"records_sent"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for status.State != "succeeded" {
		if time.Now().After(deadline) {
			t.Fatalf("job not succeeded by the deadline: last state %q", status.State)
		}
		r, err := http.Get(base + "/jobs/" + accepted.JobID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if err := json.Unmarshal(b, &status); err != nil {
			t.Fatalf("GET /jobs: %v: %s", err, b)
		}
		if status.State == "failed" {
			t.Fatalf("job failed: %s", b)
		}
	}
	want, err := os.ReadFile(filepath.Join(fixtures, "recruit_small_df.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := uint64(bytes.Count(want, []byte("\n"))); status.RecordsTotal != lines || status.RecordsSent != lines {
		t.Errorf("records total/sent = %d/%d, want %d", status.RecordsTotal, status.RecordsSent, lines)
	}
	got, err := os.Open(filepath.Join(work, "batch", "recruit", accepted.JobID+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if err := canonical.Compare(got, bytes.NewReader(want)); err != nil {
		t.Errorf("committed records: %v", err)
	}

	// /metrics serves the in-process workers' metrics (labelled by worker),
	// the queue's figures and the build information.
	r, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, want := range []string{
		`embedstream_worker_jobs_total{domain="recruit",outcome="succeeded",worker="dev-worker-`,
		`embedstream_worker_enqueue_to_start_seconds_count{domain="recruit",worker="dev-worker-`,
		`embedstream_worker_jobs_in_flight{worker="dev-worker-2"} 0`,
		`embedstream_build_info{binary="dev"`,
		"embedstream_queue_pending_jobs 0\n",
		`embedstream_jobs{state="succeeded"} 1`,
		"\ngo_goroutines ",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	cancel()
	done := make(chan error, 1)
	go func() { done <- st.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stack stopped with: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("stack did not stop within 30s")
	}
}

func TestDevStackNeedsDataDir(t *testing.T) {
	t.Chdir(t.TempDir())
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	cfg, err := dev.Load(fs, []string{"--nats-port", "-1", "--http-addr", "127.0.0.1:0"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	_, err = dev.Start(context.Background(), cfg, zerolog.Nop(), nil)
	if err == nil || !strings.Contains(err.Error(), "DATA_DIR") {
		t.Fatalf("err = %v, want a message about DATA_DIR", err)
	}
}

// TestDevStackIsLocalByDefault: the local stack serves its API (with no
// API_TOKEN) on loopback only unless HTTP_ADDR opens it; REQUIRE_API_TOKEN
// holds for it as for the publisher.
func TestDevStackIsLocalByDefault(t *testing.T) {
	cfg, err := dev.Load(flag.NewFlagSet("dev", flag.ContinueOnError), nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Publisher.HTTPAddr != "127.0.0.1:8000" {
		t.Errorf("default HTTP_ADDR %q, want 127.0.0.1:8000", cfg.Publisher.HTTPAddr)
	}
	cfg, err = dev.Load(flag.NewFlagSet("dev", flag.ContinueOnError), []string{"--http-addr", ":8000"}, func(string) string { return "" })
	if err != nil || cfg.Publisher.HTTPAddr != ":8000" {
		t.Errorf("--http-addr :8000: %q, %v", cfg.Publisher.HTTPAddr, err)
	}
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := dev.Load(fs, nil, func(k string) string { return map[string]string{"REQUIRE_API_TOKEN": "true"}[k] }); err == nil ||
		!strings.Contains(err.Error(), "API_TOKEN") {
		t.Errorf("REQUIRE_API_TOKEN without a token: %v", err)
	}
}
