package queue_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// TestJobStreamRefusesOversizedJobs: a job message above MaxJobBytes (here
// a 900 KB one, under the server's 1 MB max_payload) is refused when it is
// published, so no worker ever gets it; a plain NATS publish of it stores
// nothing.
func TestJobStreamRefusesOversizedJobs(t *testing.T) {
	t.Parallel()
	s, q, ctx := setup(t)
	js := queuetest.JetStream(t, s)
	big := bytes.Repeat([]byte{0xff}, 900_000)
	_, err := js.Publish(ctx, "ingest.jobs.recruit", big)
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10054 {
		t.Fatalf("publish of a 900 KB job: %v, want the stream's \"message size exceeds maximum allowed\"", err)
	}
	nc := queuetest.Connect(t, s)
	if err := nc.Publish("ingest.jobs.recruit", big); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "ingest.jobs.recruit", bytes.Repeat([]byte("x"), queue.MaxJobBytes-200)); err != nil {
		t.Fatalf("a job just under MaxJobBytes: %v", err)
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 1 {
		t.Fatalf("job stream holds %d messages, want only the one under the limit", n)
	}
}

// TestDeadLetterIsBounded: the dead letter of a large job that is not a
// job keeps its first DeadLetterJobBytes, its size and its sha256; its
// error message is cut; it cannot be replayed (it is not the job).
func TestDeadLetterIsBounded(t *testing.T) {
	t.Parallel()
	s, q, ctx := setup(t)
	body := bytes.Repeat([]byte("not json "), 60_000/9)
	msg := &nats.Msg{Subject: "ingest.jobs.recruit", Data: body, Header: nats.Header{}}
	msg.Header.Set(queue.HeaderMsgID, "big-1")
	if _, err := queuetest.JetStream(t, s).PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	d := fetchOne(t, q)
	_, perr := d.Job()
	jerr := queue.JobError{Class: "bad_job", Message: perr.Error() + strings.Repeat(" and more", 50_000), Permanent: true}
	if err := d.DeadLetter(ctx, jerr, queue.ReasonPermanent); err != nil {
		t.Fatal(err)
	}
	if err := d.Fail(ctx, queue.Progress{}, jerr, queue.ReasonPermanent); err != nil {
		t.Fatal(err)
	}
	dl, err := q.GetDeadLetter(ctx, "big-1")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if !dl.JobTruncated || dl.Job != nil || !bytes.Equal(dl.JobRaw, body[:queue.DeadLetterJobBytes]) ||
		dl.JobSize != len(body) || dl.JobSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("dead letter: truncated %v, %d raw bytes, size %d, sha256 %s; want the first %d of %d bytes and the whole's sha256",
			dl.JobTruncated, len(dl.JobRaw), dl.JobSize, dl.JobSHA256, queue.DeadLetterJobBytes, len(body))
	}
	if len(dl.Error.Message) > queue.MaxErrorBytes {
		t.Errorf("dead letter's error message is %d bytes", len(dl.Error.Message))
	}
	st, err := q.GetStatus(ctx, "big-1")
	if err != nil || st.Error == nil || len(st.Error.Message) > queue.MaxErrorBytes || len(st.History) != 1 || len(st.History[0].Error.Message) > queue.MaxErrorBytes {
		t.Fatalf("status %+v, %v: want the error cut to %d bytes", st, err, queue.MaxErrorBytes)
	}
	if _, err := q.ReplayDeadLetter(ctx, "big-1"); !errors.Is(err, queue.ErrBadJob) {
		t.Fatalf("replay of a truncated dead letter: %v, want ErrBadJob", err)
	}
}

// TestOversizedJobFromBeforeTheLimitIsDeadLettered: a 900 KB job stored
// before the job stream had its MaxMsgSize (a stream created by an older
// release) reaches the dead letters, instead of failing to be
// dead-lettered (its dead letter above max_payload) and coming back
// forever.
func TestOversizedJobFromBeforeTheLimitIsDeadLettered(t *testing.T) {
	t.Parallel()
	s, _, ctx := setup(t)
	js := queuetest.JetStream(t, s)
	stream, err := js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	old := stream.CachedInfo().Config
	old.MaxMsgSize = -1
	if _, err := js.UpdateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte{0xfe}, 900_000)
	msg := &nats.Msg{Subject: "ingest.jobs.recruit", Data: body, Header: nats.Header{}}
	msg.Header.Set(queue.HeaderMsgID, "legacy-1")
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	// A worker of this release opens the queue: the limit is applied, the
	// stored job stays.
	q := queuetest.OpenQueue(t, s, queuetest.Config())
	if info, err := js.Stream(ctx, queue.DefaultStream); err != nil || info.CachedInfo().Config.MaxMsgSize != queue.MaxJobBytes {
		t.Fatalf("job stream after Open: %v; want MaxMsgSize %d", err, queue.MaxJobBytes)
	}
	d := fetchOne(t, q)
	_, perr := d.Job()
	jerr := queue.JobError{Class: "bad_job", Message: perr.Error(), Permanent: true}
	if err := d.DeadLetter(ctx, jerr, queue.ReasonPermanent); err != nil {
		t.Fatalf("dead-letter a 900 KB job: %v", err)
	}
	if err := d.Fail(ctx, queue.Progress{}, jerr, queue.ReasonPermanent); err != nil {
		t.Fatal(err)
	}
	dl, err := q.GetDeadLetter(ctx, "legacy-1")
	if err != nil || !dl.JobTruncated || dl.JobSize != len(body) {
		t.Fatalf("dead letter %+v, %v", dl, err)
	}
	// The termination is acknowledged asynchronously: wait for the stream
	// to drop the message.
	polltest.Until(t, 20*time.Second, "the job stream to drop the dead-lettered job", func() bool {
		return streamMsgs(t, q, queue.DefaultStream) == 0
	})
}
