package batchserver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/healthprobe"
)

// TestStopMidStreamCommitsNothing stops the server while a stream is half
// sent and stalled: the graceful stop times out, the stream is cancelled
// and nothing of it is committed; its received chunk stays staged (and in
// contract v1, nothing stays).
func TestStopMidStreamCommitsNothing(t *testing.T) {
	t.Parallel()
	for _, contract := range []Contract{ContractV2, ContractV1} {
		t.Run(string(contract), func(t *testing.T) {
			t.Parallel()
			testStopMidStream(t, contract)
		})
	}
}

func testStopMidStream(t *testing.T, contract Contract) {
	b := setup(t, Config{StopTimeout: time.Millisecond, Contract: contract})
	tb := testTable(30)
	msgs := messages("job-stop", tb, 10)
	st, err := b.client.IngestDataStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs[:2] {
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	b.waitChunk(t, "job-stop", 0)
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	if r := b.waitDone(t, "job-stop"); r.Outcome != OutcomeAborted {
		t.Fatalf("server saw %+v, want aborted", r)
	}
	if _, err := st.CloseAndRecv(); err == nil {
		t.Fatal("the stopped stream succeeded")
	}
	b.assertNothingOnDisk(t, "job-stop")
	manifest := filepath.Join(b.cfg.OutDir, stagingDirName, "job-stop"+manifestSuffix)
	if contract == ContractV1 {
		assertNoStagedFiles(t, b.cfg.OutDir, "")
		return
	}
	m, err := os.ReadFile(manifest)
	if err != nil || !strings.Contains(string(m), `"chunks":1,"records":10,`) {
		t.Fatalf("manifest: %s, %v; want chunk 0 (10 records) staged", m, err)
	}
}

// TestGracefulStopLetsRunningStreamCommit begins a stop while a stream is
// half sent: new connections are refused, and the running stream still
// completes and commits.
func TestGracefulStopLetsRunningStreamCommit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{StopTimeout: time.Hour})
	tb := testTable(30)
	msgs := messages("job-drain", tb, 10)
	st, err := b.client.IngestDataStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs[:2] {
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	b.waitChunk(t, "job-drain", 0)
	stopped := make(chan error, 1)
	go func() { stopped <- b.stop() }()

	// Wait until the stop has begun: the health check fails.
	deadline := time.Now().Add(waitTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := healthprobe.GRPC(nil)(ctx, b.addr)
		cancel()
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("health check still SERVING after the stop began")
		}
		<-time.After(5 * time.Millisecond) // poll interval
	}
	for _, m := range msgs[2:] {
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := st.CloseAndRecv()
	if err != nil || resp.GetRecordsReceived() != 30 {
		t.Fatalf("draining stream: %v, %v", resp, err)
	}
	if err := waitFor(t, stopped, "the graceful stop"); err != nil {
		t.Fatal(err)
	}
	// The server is closed: check the files directly.
	got, err := os.ReadFile(filepath.Join(b.cfg.OutDir, "recruit", "job-drain.jsonl"))
	if err != nil || strings.Count(string(got), "\n") != 30 {
		t.Fatalf("committed file: %d lines, %v", strings.Count(string(got), "\n"), err)
	}
}

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := healthprobe.GRPC(nil)(ctx, b.addr); err != nil {
		t.Fatal(err)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	if err := healthprobe.GRPC(nil)(ctx, b.addr); err == nil {
		t.Fatal("health check passed on a stopped server")
	}
}

// assertNothingOnDisk checks, for a closed server, that id is not
// committed: no file, no ledger line.
func (b *bundle) assertNothingOnDisk(t *testing.T, id string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(b.cfg.OutDir, "recruit", id+".jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("committed file exists (stat: %v)", err)
	}
	if l, err := os.ReadFile(filepath.Join(b.cfg.OutDir, ledgerName)); err != nil || strings.Contains(string(l), id) {
		t.Errorf("ledger: %q, %v", l, err)
	}
}

func TestLedgerRecovery(t *testing.T) {
	t.Parallel()
	t.Run("committed file without ledger entry", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, "recruit", "job-lost.jsonl"), "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n")
		mustWrite(t, filepath.Join(dir, "recruit", "not an id.jsonl"), "x\n")
		b := setup(t, Config{OutDir: dir})
		e, ok := b.srv.Committed("job-lost")
		if !ok || !e.Recovered || e.Records != 3 || e.Domain != "recruit" {
			t.Fatalf("recovered entry %+v, %v", e, ok)
		}
		resp, err := send(context.Background(), b.client, messages("job-lost", testTable(3), 3))
		if err != nil || !resp.GetDuplicate() {
			t.Fatalf("%v, %v; want duplicate", resp, err)
		}
	})
	t.Run("torn last line", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		good := `{"ingest_id":"job-1","domain":"recruit","records":2,"chunks":1,"sha256":"` + strings.Repeat("5e", 32) + `","committed_at":"2026-01-01T00:00:00Z"}` + "\n"
		mustWrite(t, filepath.Join(dir, ledgerName), good+`{"ingest_id":"job-2","dom`)
		b := setup(t, Config{OutDir: dir})
		if _, ok := b.srv.Committed("job-1"); !ok {
			t.Fatal("job-1 lost")
		}
		if _, ok := b.srv.Committed("job-2"); ok {
			t.Fatal("torn job-2 replayed")
		}
		if _, err := send(context.Background(), b.client, messages("job-3", testTable(2), 2)); err != nil {
			t.Fatal(err)
		}
		l, err := os.ReadFile(filepath.Join(dir, ledgerName))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(l), "\n"), "\n")
		if len(lines) != 2 || lines[0]+"\n" != good || !strings.Contains(lines[1], `"job-3"`) {
			t.Fatalf("ledger after append:\n%s", l)
		}
	})
	t.Run("corrupt line", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, ledgerName), "not json\n{\"ingest_id\":\"job-1\"}\n")
		if _, err := New(Config{OutDir: dir}, zerolog.Nop()); !errors.Is(err, errCorruptLedger) {
			t.Fatalf("New = %v, want errCorruptLedger", err)
		}
	})
	t.Run("stale temp files removed", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, legacyTmpDirName, "job-9.123.jsonl"), "{}\n")
		mustWrite(t, filepath.Join(dir, stagingDirName, "job-8.jsonl"), "{}\n")        // no manifest
		mustWrite(t, filepath.Join(dir, stagingDirName, "job-7.manifest.tmp"), "{}\n") // never installed
		mustWrite(t, filepath.Join(dir, stagingDirName, "not an id.manifest"), "{}\n") // a stranger
		b := setup(t, Config{OutDir: dir})
		b.assertNothing(t, "job-9")
		assertNoStagedFiles(t, dir, "")
	})
}

func TestOutDirLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1, err := New(Config{OutDir: dir}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{OutDir: dir}, zerolog.Nop()); !errors.Is(err, errLocked) {
		t.Fatalf("second New = %v, want errLocked", err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := New(Config{OutDir: dir}, zerolog.Nop())
	if err != nil {
		t.Fatalf("New after Close: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMessageTooLargeIsResourceExhausted(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{MaxRecvMsgSize: 1 << 20})
	tb := testTable(1)
	tb.Columns[1].Strings[0] = strings.Repeat("x", 2<<20)
	_, err := send(context.Background(), b.client, messages("job-big", tb, 1))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("err = %v, want RESOURCE_EXHAUSTED", err)
	}
	b.waitDone(t, "job-big")
	b.assertNothing(t, "job-big")
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
