package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
)

// stack is the local pipeline the end-to-end stages run on, each part a
// process of its own: the batch server (--discard), the local stack
// (publisher/dev, built as publisher-dev) with --workers 0 (embedded
// JetStream and the HTTP API) and the workers.
type stack struct {
	dir     string // logs and state of this stack
	bin     string // directory of the built binaries
	dataDir string

	natsURL   string
	batch     *proc
	batchAddr string
	pub       *proc
	api       string // http://host:port
	http      *http.Client
	workers   []*proc
	nworkers  int
}

// startStack starts the batch server and the local stack under dir;
// pubArgs are extra flags of publisher-dev (e.g. --ack-wait).
func startStack(ctx context.Context, dir, bin, dataDir string, pubArgs ...string) (s *stack, err error) {
	s = &stack{dir: dir, bin: bin, dataDir: dataDir, http: &http.Client{Timeout: 10 * time.Second}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	if s.batchAddr, err = freeAddr(); err != nil {
		return nil, err
	}
	s.batch, err = startProc("batchserver", filepath.Join(bin, "batchserver"),
		[]string{"--listen", s.batchAddr, "--out", filepath.Join(dir, "batch"), "--discard"},
		[]string{"LOG_LEVEL=warn"}, filepath.Join(dir, "batchserver.log"))
	if err != nil {
		return nil, err
	}
	if err := waitUntil(ctx, "batch server", 15*time.Second, func() bool { return tcpOpen(s.batchAddr) }, s.batch); err != nil {
		return nil, err
	}

	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	natsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, natsPort, _ := strings.Cut(natsAddr, ":")
	s.natsURL = "nats://" + natsAddr
	s.api = "http://" + httpAddr
	s.pub, err = startProc("publisher-dev", filepath.Join(bin, "publisher-dev"), append([]string{
		"--workers", "0", "--batch-server", s.batchAddr, "--nats-port", natsPort, "--nats-dir", filepath.Join(dir, "nats"),
		"--http-addr", httpAddr, "--data-dir", dataDir, "--log-level", "warn", "--log-format", "json"}, pubArgs...),
		nil, filepath.Join(dir, "publisher.log"))
	if err != nil {
		return nil, err
	}
	if err := waitUntil(ctx, "publisher", 30*time.Second, func() bool { return httpOK(s.http, s.api+"/readyz") }, s.pub); err != nil {
		return nil, err
	}
	return s, nil
}

// startWorker starts one worker process running bin with extra args and
// waits until it is bound to the consumer.
func (s *stack) startWorker(ctx context.Context, bin string, args []string, concurrency int) (*proc, error) {
	return s.startWorkerWith(ctx, bin, args, concurrency, nil)
}

// startWorkerWith is startWorker with start in place of exec.Cmd.Start
// (see startProcWith) and extra environment.
func (s *stack) startWorkerWith(ctx context.Context, bin string, args []string, concurrency int, start func(*exec.Cmd) error, env ...string) (*proc, error) {
	s.nworkers++
	name := "bench-worker-" + strconv.Itoa(s.nworkers)
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := startProcWith(name, bin, args, append([]string{
		"LOG_LEVEL=warn", "NATS_URL=" + s.natsURL, "BATCH_SERVER_ADDR=" + s.batchAddr,
		"DATA_DIR=" + s.dataDir, "METRICS_ADDR=" + metrics, "WORKER_NAME=" + name,
		"WORKER_CONCURRENCY=" + strconv.Itoa(concurrency),
	}, env...), filepath.Join(s.dir, name+".log"), start)
	if err != nil {
		return nil, err
	}
	p.metrics = metrics
	s.workers = append(s.workers, p)
	if err := waitUntil(ctx, name, 30*time.Second, func() bool { return httpOK(s.http, "http://"+metrics+"/readyz") }, p); err != nil {
		return nil, err
	}
	return p, nil
}

// stopWorkers stops every worker started so far.
func (s *stack) stopWorkers() error {
	var errs []error
	for _, w := range s.workers {
		errs = append(errs, w.stop())
	}
	s.workers = nil
	return errors.Join(errs...)
}

// close stops everything; errors are only worth a line in the log.
func (s *stack) close() {
	_ = s.stopWorkers()
	for _, p := range []*proc{s.pub, s.batch} {
		if p != nil {
			_ = p.stop()
		}
	}
}

// enqueue posts one recruit job for fileName and returns its id.
func (s *stack) enqueue(ctx context.Context, fileName string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		s.api+"/data/ingest/recruit?file_name="+url.QueryEscape(fileName), nil)
	if err != nil {
		return "", err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("enqueue %s: %w", fileName, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("enqueue %s: %s: %s", fileName, resp.Status, body)
	}
	var r struct {
		JobID string `json:"job_id"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.JobID == "" {
		return "", fmt.Errorf("enqueue %s: bad answer %q", fileName, body)
	}
	return r.JobID, nil
}

// status returns a job's status record.
func (s *stack) status(ctx context.Context, id string) (queue.Status, error) {
	var st queue.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.api+"/jobs/"+id, nil)
	if err != nil {
		return st, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return st, fmt.Errorf("status %s: %w", id, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status %s: %s: %s", id, resp.Status, body)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("status %s: %w", id, err)
	}
	return st, nil
}

// wait polls a job's status every poll until it has succeeded; a failed
// job or a worker that exits is an error.
func (s *stack) wait(ctx context.Context, id string, poll time.Duration, timeout time.Duration) (queue.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		st, err := s.status(ctx, id)
		switch {
		case err == nil && st.State == queue.StateSucceeded:
			return st, nil
		case err == nil && st.State == queue.StateFailed:
			msg := ""
			if st.Error != nil {
				msg = st.Error.Class + ": " + st.Error.Message
			}
			return st, fmt.Errorf("job %s (%s) failed: %s: %w", id, st.FileName, msg, errStage)
		}
		for _, w := range s.workers {
			if err := w.exited(); err != nil {
				return st, err
			}
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("job %s: last state %q: %w", id, st.State, ctx.Err())
		case <-tick.C:
		}
	}
}

// phases returns the worker's embedstream_worker_phase_duration_seconds
// sums by phase (read, load, validate, stream) from its /metrics; nil when
// they cannot be read. The difference over one job is that job's phases.
func (s *stack) phases(w *proc) map[string]float64 {
	resp, err := s.http.Get("http://" + w.metrics + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "embedstream_worker_phase_duration_seconds_sum{")
		if !ok {
			continue
		}
		labels, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		_, ph, ok := strings.Cut(labels, `phase="`)
		if !ok {
			continue
		}
		ph, _, _ = strings.Cut(ph, `"`)
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[ph] += v
		}
	}
	return out
}

// jobPhases is how long each phase of one job took, from the worker's
// metrics: read (open and map or read the file), load (decode it whole,
// or index it for windows), validate (alongside the stream), stream (send
// every chunk and commit; for a file read in windows, decoding them too).
type jobPhases struct {
	Read     float64 `json:"read_seconds"`
	Load     float64 `json:"load_seconds"`
	Validate float64 `json:"validate_seconds"`
	Stream   float64 `json:"stream_seconds"`
}

func phaseDelta(before, after map[string]float64) jobPhases {
	return jobPhases{Read: after["read"] - before["read"], Load: after["load"] - before["load"],
		Validate: after["validate"] - before["validate"], Stream: after["stream"] - before["stream"]}
}
