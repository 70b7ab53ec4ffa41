package batchserver

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestLoadPull(t *testing.T) {
	c, err := LoadPull(newFS(), []string{"--addr", "w:50052", "--domain", "recruit", "--file", "r.pkl", "--chunk-records", "50"},
		func(k string) string { return map[string]string{"PULL_TOKEN": "t", "BATCH_OUT_DIR": "/o"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "w:50052" || c.Token != "t" || c.OutDir != "/o" || c.MaxRecvMsg != 16<<20 {
		t.Fatalf("got %+v", c)
	}
	req := c.request()
	if req.GetDomain() != "recruit" || req.GetFileName() != "r.pkl" || req.GetOptions().GetMaxRecords() != 50 || req.GetIngestId() != "" {
		t.Fatalf("request %v", req)
	}
	c, err = LoadPull(newFS(), []string{"--addr", "w:1", "--domain", "d", "--object", "o.pkl", "--ingest-id", "x"}, nil)
	if err != nil || c.request().GetObjectName() != "o.pkl" || c.request().GetIngestId() != "x" || c.request().GetOptions() != nil {
		t.Fatalf("object request %v, %v", c.request(), err)
	}
	for _, bad := range [][]string{
		{"--domain", "d", "--file", "f"},                                   // no --addr
		{"--addr", "w:1", "--file", "f"},                                   // no --domain
		{"--addr", "w:1", "--domain", "d"},                                 // no source
		{"--addr", "w:1", "--domain", "d", "--file", "f", "--object", "o"}, // two
		{"--addr", "w:1", "--domain", "d", "--file", "f", "--tls-cert", "c"},
		{"--addr", "w:1", "--domain", "d", "--file", "f", "extra"},
	} {
		if _, err := LoadPull(newFS(), bad, nil); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestPullErrorLine(t *testing.T) {
	for err, want := range map[error]string{
		status.Error(codes.NotFound, "worker: open x.pkl:\nfile not found"): "NOT_FOUND: worker: open x.pkl: file not found",
		status.Error(codes.InvalidArgument, "bad"):                          "INVALID_ARGUMENT: bad",
		errors.New("plain"): "plain",
		errors.Join(status.Error(codes.Unavailable, "worker: down"), errors.New("close: fine")): "UNAVAILABLE: worker: down",
	} {
		if got := PullErrorLine(err); got != want {
			t.Errorf("PullErrorLine(%v) = %q, want %q", err, got, want)
		}
	}
}
