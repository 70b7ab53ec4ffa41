package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinarySmoke builds the binary, runs it, waits until its healthcheck
// subcommand passes, stops it with SIGTERM and expects a clean exit.
func TestBinarySmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	if out, err := exec.Command(bin, "--version").Output(); err != nil || !strings.HasPrefix(string(out), "batchserver ") {
		t.Fatalf("--version: %q, %v", out, err)
	}
	if err := exec.Command(bin, "--help").Run(); err != nil {
		t.Fatalf("--help: %v", err)
	}
	if err := exec.Command(bin, "--fail-rate", "2").Run(); err == nil {
		t.Fatal("an invalid flag was accepted")
	}

	addr := freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--log-format", "json")
	cmd.Env = append(os.Environ(), "BATCH_LISTEN_ADDR="+addr, "BATCH_OUT_DIR="+filepath.Join(dir, "out"))
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	deadline := time.Now().Add(20 * time.Second)
	for {
		err := exec.Command(bin, "healthcheck", "--addr", addr, "--timeout", "2s").Run()
		if err == nil {
			break
		}
		select {
		case err := <-exited:
			reaped = true
			t.Fatalf("server exited early: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthcheck never passed: %v\n%s", err, logs.String())
		}
		<-time.After(20 * time.Millisecond) // poll interval
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		reaped = true
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after SIGTERM\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "batch server stopped") {
		t.Fatalf("logs lack the stop:\n%s", logs.String())
	}
}

func TestProbeAddr(t *testing.T) {
	for in, want := range map[string]string{
		"":                "127.0.0.1:50051",
		"0.0.0.0:50051":   "127.0.0.1:50051",
		":7000":           "127.0.0.1:7000",
		"[::]:7000":       "127.0.0.1:7000",
		"10.0.0.5:50051":  "10.0.0.5:50051",
		"batch:50051":     "batch:50051",
		"127.0.0.1:50051": "127.0.0.1:50051",
	} {
		if got := probeAddr(in); got != want {
			t.Errorf("probeAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
