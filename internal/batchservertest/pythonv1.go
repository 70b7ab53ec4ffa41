package batchservertest

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// v1Server holds the Python v1 batch server and the v1 contract it was
// written from.
//
//go:embed testdata/v1server/server.py testdata/v1server/embedding_stream.proto
var v1Server embed.FS

// pythonWait bounds how long the Python server may take to start or stop.
const pythonWait = 60 * time.Second

// PythonV1 is a batch server of wire contract v1 written in Python (grpcio)
// from the v1 proto alone, running as a separate process on loopback: the
// reference for how a v2 client must behave against a v1 server (it answers
// GetIngestState UNIMPLEMENTED and sees a resumed stream as a sequence gap).
// It commits each valid stream all or nothing to
// <OutDir>/<domain>/<ingest_id>.jsonl (one JSON object per record, columns in
// schema order, in Python's json form, not canonical JSON) and a line of
// <OutDir>/ledger.jsonl, and answers a committed ingest_id duplicate=true.
type PythonV1 struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string
	// OutDir is the directory it commits into.
	OutDir string

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	err    error         // the process's exit status; set before exited is closed
	logs   *syncBuffer   // its stderr
}

// PythonV1Entry is one commit in the Python server's ledger.
type PythonV1Entry struct {
	IngestID string `json:"ingest_id"`
	Domain   string `json:"domain"`
	Records  uint64 `json:"records"`
	Chunks   uint64 `json:"chunks"`
	Attempt  uint32 `json:"attempt"`
	SHA256   string `json:"sha256"`
}

var (
	pythonOnce sync.Once
	pythonPath string
	pythonErr  error
)

// findPython returns a python3 that imports grpc and grpc_tools: Debian's
// /usr/bin/python3 with python3-grpcio and python3-grpc-tools first, then
// the python3 on PATH.
func findPython() (string, error) {
	pythonOnce.Do(func() {
		candidates := []string{"/usr/bin/python3"}
		if p, err := exec.LookPath("python3"); err == nil {
			candidates = append(candidates, p)
		}
		var errs []error
		for _, py := range candidates {
			out, err := exec.Command(py, "-c", "import grpc, grpc_tools.protoc").CombinedOutput()
			if err == nil {
				pythonPath = py
				return
			}
			errs = append(errs, fmt.Errorf("%s: %v: %s", py, err, bytes.TrimSpace(out)))
		}
		pythonErr = errors.Join(errs...)
		if len(errs) == 0 {
			pythonErr = errors.New("no python3 found")
		}
	})
	return pythonPath, pythonErr
}

// StartPythonV1 generates the Python stubs of the v1 contract into a temp
// directory (python3 -m grpc_tools.protoc), starts the Python v1 batch
// server as a process on 127.0.0.1 and a free port, writing into a fresh
// t.TempDir(), and waits until it listens. It skips the test when no
// python3 with grpcio and grpc_tools is installed (Debian: apt-get install
// python3-grpcio python3-grpc-tools). The server is stopped (SIGTERM) at
// cleanup, and its log is printed if the test failed.
func StartPythonV1(t testing.TB) *PythonV1 {
	t.Helper()
	py, err := findPython()
	if err != nil {
		t.Skipf("batchservertest: the Python v1 batch server needs python3 with grpcio and grpc_tools "+
			"(Debian: apt-get install python3-grpcio python3-grpc-tools): %v", err)
	}
	dir := t.TempDir()
	for _, name := range []string{"server.py", "embedding_stream.proto"} {
		b, err := v1Server.ReadFile("testdata/v1server/" + name)
		if err != nil {
			t.Fatalf("batchservertest: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatalf("batchservertest: %v", err)
		}
	}
	stubs := filepath.Join(dir, "stubs")
	if err := os.Mkdir(stubs, 0o755); err != nil {
		t.Fatalf("batchservertest: %v", err)
	}
	gen := exec.Command(py, "-m", "grpc_tools.protoc", "-I", dir, "--python_out", stubs, "--grpc_python_out", stubs,
		filepath.Join(dir, "embedding_stream.proto"))
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("batchservertest: generate the Python stubs: %v\n%s", err, out)
	}

	p := &PythonV1{OutDir: filepath.Join(dir, "out"), exited: make(chan struct{}), logs: &syncBuffer{}}
	p.cmd = exec.Command(py, filepath.Join(dir, "server.py"), "--stubs", stubs, "--out", p.OutDir)
	p.cmd.Stderr = p.logs
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("batchservertest: %v", err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("batchservertest: start the Python v1 server: %v", err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("Python v1 batch server log:\n%s", p.logs.String())
		}
	})
	select {
	case p.Addr = <-addr:
	case <-p.exited:
		t.Fatalf("batchservertest: the Python v1 server exited before it listened: %v\n%s", p.err, p.logs.String())
	case <-time.After(pythonWait):
		t.Fatalf("batchservertest: the Python v1 server did not listen within %s\n%s", pythonWait, p.logs.String())
	}
	return p
}

// Stop stops the server with SIGTERM and waits for it to exit (killing it
// if it does not within a minute). It is idempotent.
func (p *PythonV1) Stop(t testing.TB) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("batchservertest: signal the Python v1 server: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(pythonWait):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("batchservertest: the Python v1 server did not stop on SIGTERM within %s", pythonWait)
	}
}

// Committed returns the ledger entry of ingestID, if the server has
// committed it.
func (p *PythonV1) Committed(t testing.TB, ingestID string) (PythonV1Entry, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.OutDir, "ledger.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return PythonV1Entry{}, false
	}
	if err != nil {
		t.Fatalf("batchservertest: %v", err)
	}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		var e PythonV1Entry
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("batchservertest: Python v1 ledger line %q: %v", line, err)
		}
		if e.IngestID == ingestID {
			return e, true
		}
	}
	return PythonV1Entry{}, false
}

// Records returns the committed records of ingestID in domain, one decoded
// JSON object per record, in stream order; nil if it is not committed.
func (p *PythonV1) Records(t testing.TB, domain, ingestID string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.OutDir, domain, ingestID+".jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("batchservertest: %v", err)
	}
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for dec.More() {
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("batchservertest: %s record %d: %v", ingestID, len(out), err)
		}
		out = append(out, r)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
