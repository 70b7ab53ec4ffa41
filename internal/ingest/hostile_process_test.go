package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// TestProcessRefusesHostileJobs: job messages published straight to NATS
// with hostile names and bodies fail as permanent bad jobs on their first
// attempt, with small records, and the worker process keeps its NATS
// connection and serves the next job. Before, an object name of 1,020 '€'
// (within the old 1,024-character limit, 3,060 bytes) closed the worker's
// NATS connection for good (its object subject passed NATS's control-line
// limit), a 300-byte path component was retried as an I/O error
// (ENAMETOOLONG), and a 900 KB body that is not JSON could never be
// dead-lettered and came back forever.
func TestProcessRefusesHostileJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{AckWait: 10 * time.Second})
	e.addFixture("recruit_small_df.pkl")
	js := queuetest.JetStream(t, e.nats)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	// A 900 KB job stored by an older release, whose job stream had no
	// MaxMsgSize; the worker applies it when it opens the queue.
	stream, err := js.Stream(ctx, e.qcfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	old := stream.CachedInfo().Config
	old.MaxMsgSize = -1
	if _, err := js.UpdateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	legacy := bytes.Repeat([]byte{0xfd}, 900_000)
	e.publish("ingest.jobs.recruit", string(legacy), "legacy-900k")

	w := e.startProcess("a")

	// Once the worker opened the queue, a 900 KB job is refused at publish.
	if _, err := js.Publish(ctx, "ingest.jobs.recruit", legacy); !isTooLarge(err) {
		t.Fatalf("publish of a 900 KB job: %v, want the stream's message size limit", err)
	}

	euro := strings.Repeat("€", 1020)
	cases := []struct{ id, body string }{
		{"euro-object", `{"file_name":"` + euro + `.pkl","source":"object"}`},
		{"euro-file", `{"file_name":"` + euro + `.pkl"}`},
		{"long-component", `{"file_name":"` + strings.Repeat("a", 300) + `.pkl"}`},
		{"not-json-60k", strings.Repeat("<html>", 10_000)},
		{"huge-key", `{"` + strings.Repeat("k", 60_000) + `":1,"file_name":"a.pkl"}`},
	}
	for _, c := range cases {
		e.publish("ingest.jobs.recruit", c.body, c.id)
	}
	for _, id := range append([]string{"legacy-900k"}, "euro-object", "euro-file", "long-component", "not-json-60k", "huge-key") {
		s := e.waitFinished(id)
		if s.State != queue.StateFailed || s.Error == nil || s.Error.Class != ingest.ClassBadJob || !s.Error.Permanent || s.Attempts != 1 {
			t.Errorf("job %s: %+v, want failed as a permanent bad_job on attempt 1", id, s)
		}
		if s.Error != nil && len(s.Error.Message) > queue.MaxErrorBytes {
			t.Errorf("job %s: error message of %d bytes", id, len(s.Error.Message))
		}
	}
	dls := e.deadLetters()
	for id, size := range map[string]int{"legacy-900k": len(legacy), "not-json-60k": 60_000} {
		dl, ok := dls[id]
		if !ok {
			t.Errorf("job %s not in the dead letters", id)
			continue
		}
		if !dl.JobTruncated || len(dl.JobRaw) != queue.DeadLetterJobBytes || dl.JobSize != size || len(dl.JobSHA256) != 64 {
			t.Errorf("dead letter of %s: truncated %v, %d raw bytes, size %d; want the first %d of %d bytes", id, dl.JobTruncated, len(dl.JobRaw), dl.JobSize, queue.DeadLetterJobBytes, size)
		}
	}
	sum := sha256.Sum256(legacy)
	if got := dls["legacy-900k"].JobSHA256; got != hex.EncodeToString(sum[:]) {
		t.Errorf("legacy dead letter sha256 %s, want the whole job's", got)
	}
	if n := queuetest.StreamMsgs(t, e.nats, e.qcfg.Stream); n != 0 {
		t.Errorf("job stream still holds %d messages", n)
	}

	// The worker kept its connection: ready, and the next job succeeds.
	resp, err := http.Get("http://" + w.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("worker /readyz after the hostile jobs: %d", resp.StatusCode)
	}
	good := e.enqueue(queue.Job{Domain: "recruit", FileName: "recruit_small_df.pkl"})
	if s := e.waitFinished(good); s.State != queue.StateSucceeded {
		t.Fatalf("good job after the hostile ones: %+v", s)
	}
}

func isTooLarge(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == 10054
}
