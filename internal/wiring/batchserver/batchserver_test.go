package batchserver

import (
	"flag"
	"io"
	"testing"
	"time"
)

func newFS() *flag.FlagSet {
	fs := flag.NewFlagSet("batchserver", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestLoad(t *testing.T) {
	c, err := Load(newFS(), []string{"--fail-first", "2", "--discard"}, func(k string) string {
		return map[string]string{"BATCH_OUT_DIR": "/tmp/x", "BATCH_CHUNK_DELAY": "50ms"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.FailFirst != 2 || !c.Discard || c.OutDir != "/tmp/x" || c.ChunkDelay != 50*time.Millisecond || c.MaxRecvMsgSize != 16<<20 || c.Listen != "127.0.0.1:50051" {
		t.Fatalf("got %+v", c)
	}
	if _, err := Load(newFS(), []string{"--fail-rate", "2"}, nil); err == nil {
		t.Fatal("fail-rate 2 accepted")
	}
	if c.MaxConcurrentStreams != 100 || c.Contract != "v2" || c.StagingMaxBytes != 64<<30 || c.StagingTTL != 24*time.Hour ||
		c.StagingSyncBytes != 8<<20 || c.StagingSyncInterval != 500*time.Millisecond {
		t.Fatalf("v2 defaults: %+v", c)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err = Load(newFS(), []string{"--contract", "v1", "--staging-ttl", "1h"}, env(map[string]string{"BATCH_STAGING_MAX_BYTES": "2GiB", "BATCH_STAGING_SYNC_BYTES": "1"}))
	if err != nil || c.Contract != "v1" || c.StagingTTL != time.Hour || c.StagingMaxBytes != 2<<30 || c.StagingSyncBytes != 1 {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, bad := range [][]string{{"--contract", "v3"}, {"--staging-ttl", "0s"}, {"--staging-max-bytes", "1000"}, {"--staging-sync-bytes", "0"}, {"--staging-sync-interval", "0s"}} {
		if _, err := Load(newFS(), bad, env(nil)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := Load(newFS(), nil, env(map[string]string{"BATCH_MAX_CONCURRENT_STREAMS": "0"})); err == nil {
		t.Fatal("max-concurrent-streams 0 accepted")
	}
	got, err := serverConfig(c)
	if err != nil || got.Contract != "v1" || got.StagingTTL != time.Hour || got.StagingMaxBytes != 2<<30 || got.StagingSyncBytes != 1 || got.MaxConcurrentStreams != 100 {
		t.Fatalf("server config %+v, %v", got, err)
	}
}

func TestServerConfigFollowsSettings(t *testing.T) {
	c, err := Load(newFS(), []string{"--out", "/o", "--max-recv-msg-bytes", "2MiB", "--fail-rate", "0.5", "--fail-seed", "7", "--discard"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := serverConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if got.OutDir != "/o" || got.MaxRecvMsgSize != 2<<20 || got.FailRate != 0.5 || got.FailSeed != 7 || !got.Discard || got.TLS != nil {
		t.Fatalf("server config = %+v", got)
	}
	c.TLSClientCA = "ca.pem" // a client CA without a server certificate
	if _, err := serverConfig(c); err == nil {
		t.Fatal("a client CA without TLS accepted")
	}
}
