package wiring

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/queue"
)

// shared binds and parses the shared groups, as a binary's root does.
func shared(args []string, env map[string]string) (NATS, Pickle, error) {
	var (
		n NATS
		p Pickle
	)
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	b := config.NewBinder(fs, func(k string) string { return env[k] })
	n.Bind(b)
	p.Bind(b)
	if err := b.Parse(args); err != nil {
		return n, p, err
	}
	return n, p, errors.Join(n.Validate(), p.Validate())
}

func TestSharedDefaults(t *testing.T) {
	n, p, err := shared(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n.URL != "nats://127.0.0.1:4222" || n.Stream != "INGEST" || n.Replicas != 1 || n.JobTTL != 7*24*time.Hour ||
		n.MaxBytes != 1<<30 || n.MaxMsgs != 1_000_000 || n.AckWait != 30*time.Second || n.MaxDeliver != 5 ||
		p.DecodedFactor != 8 || p.MaxDepth != 256 {
		t.Fatalf("unexpected defaults: %+v %+v", n, p)
	}
}

func TestSharedValidationNamesFlagAndEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad duration", map[string]string{"ACK_WAIT": "soon"}, "ACK_WAIT"},
		{"short ack wait", map[string]string{"ACK_WAIT": "10ms"}, "--ack-wait (ACK_WAIT)"},
		{"bad size", map[string]string{"QUEUE_MAX_BYTES": "lots"}, "QUEUE_MAX_BYTES"},
		{"tls pair", map[string]string{"NATS_TLS_CERT": "c.pem"}, "NATS_TLS_KEY"},
		{"replicas", map[string]string{"NATS_REPLICAS": "7"}, "--nats-replicas (NATS_REPLICAS)"},
		{"max deliver", map[string]string{"MAX_DELIVER": "0"}, "--max-deliver (MAX_DELIVER)"},
		{"pickle depth", map[string]string{"PICKLE_MAX_DEPTH": "3"}, "--pickle-max-depth (PICKLE_MAX_DEPTH)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := shared(nil, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestNATSMapping(t *testing.T) {
	n, _, err := shared([]string{"--nats-url", "tls://a:1,tls://b:2", "--nats-stream", "JOBS"}, map[string]string{
		"NATS_CREDS": "x.creds", "NATS_TLS_CA": "ca.pem", "NATS_TLS_CERT": "c.pem", "NATS_TLS_KEY": "k.pem",
		"NATS_REPLICAS": "3", "JOB_STATUS_TTL": "2h", "QUEUE_MAX_BYTES": "1MiB", "QUEUE_MAX_MSGS": "10",
		"ACK_WAIT": "45s", "MAX_DELIVER": "9",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := Conn(n); got != (queue.ConnOptions{URL: "tls://a:1,tls://b:2", Creds: "x.creds", TLSCA: "ca.pem", TLSCert: "c.pem", TLSKey: "k.pem"}) {
		t.Errorf("Conn = %+v", got)
	}
	if got := Queue(n); got != (queue.Config{Stream: "JOBS", Replicas: 3, MaxBytes: 1 << 20, MaxMsgs: 10,
		AckWait: 45 * time.Second, MaxDeliver: 9, StatusTTL: 2 * time.Hour}) {
		t.Errorf("Queue = %+v", got)
	}
}
