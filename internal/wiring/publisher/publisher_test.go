package publisher_test

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/wiring/publisher"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func newFS() *flag.FlagSet {
	fs := flag.NewFlagSet("publisher", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestExtensions(t *testing.T) {
	c, err := publisher.Load(newFS(), nil, env(map[string]string{"ALLOWED_EXTENSIONS": " .pkl , .p ,"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.AllowedExtensions, "|") != ".pkl|.p" || c.HTTPAddr != ":8000" {
		t.Fatalf("got %+v", c)
	}
	if _, err := publisher.Load(newFS(), nil, env(map[string]string{"ALLOWED_EXTENSIONS": " , "})); err == nil ||
		!strings.Contains(err.Error(), "--allowed-extensions (ALLOWED_EXTENSIONS)") {
		t.Fatalf("empty extension list: err = %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c, err := publisher.Load(newFS(), nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.AllowedExtensions, ",") != ".pkl,.pickle,.joblib,.gz,.bz2,.xz,.zst,.zip,.tar,.tgz,.npy,.npz" || c.MaxUploadBytes != 4<<30 || c.DataDir != "" ||
		c.URL != "nats://127.0.0.1:4222" || c.AckWait != 30*time.Second {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

// TestCLISettingsFollowSettings: what the commands get is the settings,
// mapped; the queue is opened with KeepTopology, never rewriting what the
// workers set up.
func TestCLISettingsFollowSettings(t *testing.T) {
	s, err := publisher.LoadCLI(newFS(), []string{"--api-token", "tok", "--nats-stream", "JOBS"}, env(map[string]string{
		"NATS_URL": "nats://a:1,nats://b:2", "NATS_CREDS": "x.creds", "DATA_DIR": "/data", "MAX_UPLOAD_BYTES": "1MiB",
		"ACK_WAIT": "45s", "MAX_DELIVER": "9", "JOB_STATUS_TTL": "2h", "QUEUE_MAX_MSGS": "10", "LOG_LEVEL": "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Conn != (queue.ConnOptions{URL: "nats://a:1,nats://b:2", Creds: "x.creds"}) {
		t.Errorf("conn = %+v", s.Conn)
	}
	if s.Queue != (queue.Config{Stream: "JOBS", Replicas: 1, MaxBytes: queue.DefaultMaxBytes, MaxMsgs: 10,
		AckWait: 45 * time.Second, MaxDeliver: 9, StatusTTL: 2 * time.Hour, KeepTopology: true}) {
		t.Errorf("queue = %+v", s.Queue)
	}
	if s.API.Token != "tok" || s.API.DataDir != "/data" || s.API.MaxUploadBytes != 1<<20 || !slices.Equal(s.API.AllowedExt, httpapi.DefaultAllowedExt()) {
		t.Errorf("api = %+v", s.API)
	}
	if s.Dashboard.Token != "tok" || s.Dashboard.DataDir != "/data" || !slices.Equal(s.Dashboard.AllowedExt, httpapi.DefaultAllowedExt()) {
		t.Errorf("dashboard = %+v", s.Dashboard)
	}
	if s.LogLevel != "debug" || s.LogFormat != "json" || s.DataDir != "/data" || s.MaxUploadBytes != 1<<20 || s.HTTPAddr != ":8000" {
		t.Errorf("settings = %+v", s)
	}
}
