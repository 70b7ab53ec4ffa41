package batchserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// syncEveryChunk makes the server sync a boundary after every chunk, so
// tests know exactly what is staged.
const syncEveryChunk = 1

// stageAndBreak opens a stream of tb for id (chunks of per rows, attempt),
// sends its metadata and first n chunks, waits until the server has staged
// them (cfg.StagingSyncBytes must be syncEveryChunk), then cancels the
// stream and waits for its end.
func (b *bundle) stageAndBreak(t *testing.T, id string, tb *table.Table, per, n int, attempt uint32) {
	t.Helper()
	msgs := messages(id, tb, per)
	msgs[0].GetMetadata().Attempt = attempt
	msgs[0].GetMetadata().ChunkOptions = &pb.ChunkOptions{MaxRecords: uint32(per), TargetBytes: 1 << 20}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := b.client.IngestDataStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs[:1+n] {
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	b.waitStaged(t, id, uint64(n))
	cancel()
	if r := b.waitDone(t, id); r.Outcome != OutcomeAborted {
		t.Fatalf("broken stream ended %+v", r)
	}
}

// resumeMessages returns the stream that resumes tb's ingest id at chunk
// seq (chunks of per rows): metadata with the resume point, then chunks
// seq, seq+1, ...
func resumeMessages(id string, tb *table.Table, per int, seq uint64, attempt uint32) []*pb.IngestDataRequest {
	msgs := messages(id, tb, per)
	md := msgs[0].GetMetadata()
	md.Attempt, md.ResumeFromSequence, md.ResumeFromRecord = attempt, seq, seq*uint64(per)
	return append(msgs[:1:1], msgs[1+seq:]...)
}

// state asks the server for id's state over gRPC.
func (b *bundle) state(t *testing.T, id string) *pb.GetIngestStateResponse {
	t.Helper()
	resp, err := b.client.GetIngestState(context.Background(), &pb.GetIngestStateRequest{IngestId: id})
	if err != nil {
		t.Fatalf("GetIngestState(%s): %v", id, err)
	}
	return resp
}

// wantStaged checks that id's state reports chunks chunks and records
// records staged under tb's metadata.
func (b *bundle) wantStaged(t *testing.T, id string, tb *table.Table, chunks, records uint64, attempt uint32) *pb.GetIngestStateResponse {
	t.Helper()
	got := b.state(t, id)
	md := metadata(id, tb)
	if got.GetIngestId() != id || got.GetCommitted() || got.GetStagedChunks() != chunks || got.GetStagedRecords() != records ||
		got.GetSourceSha256() != md.GetSourceSha256() || got.GetDomain() != md.GetDomain() || got.GetTotalRecords() != md.GetTotalRecords() ||
		got.GetAttempt() != attempt || got.GetStagedExpiresAtUnixMs() <= time.Now().UnixMilli() {
		t.Fatalf("state %v; want %d chunks, %d records staged by attempt %d", got, chunks, records, attempt)
	}
	if len(got.GetSchema()) != len(md.GetSchema()) {
		t.Fatalf("state schema %v, want %v", got.GetSchema(), md.GetSchema())
	}
	for i := range got.GetSchema() {
		if !proto.Equal(got.GetSchema()[i], md.GetSchema()[i]) {
			t.Fatalf("state schema field %d: %v, want %v", i, got.GetSchema()[i], md.GetSchema()[i])
		}
	}
	return got
}

// canonicalBytes is the canonical JSONL of tb: what a full stream commits.
func canonicalBytes(t *testing.T, tb *table.Table) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := canonical.WriteTable(&buf, tb); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// assertIdentical checks that id's committed file is byte for byte the
// canonical JSONL of tb.
func (b *bundle) assertIdentical(t *testing.T, id string, tb *table.Table) {
	t.Helper()
	got, err := os.ReadFile(b.srv.OutputPath("recruit", id))
	if err != nil {
		t.Fatal(err)
	}
	if want := canonicalBytes(t, tb); !bytes.Equal(got, want) {
		t.Fatalf("%s: committed %d bytes, not byte-identical to the %d bytes of a full stream", id, len(got), len(want))
	}
}

// TestResumeAfterBrokenStreamAndRestart: a stream breaks after 3 of 5
// chunks; GetIngestState reports them, also after a restart; a later
// attempt resumes at chunk 3 and the commit is byte-identical to a full
// stream's, with the staging gone.
func TestResumeAfterBrokenStreamAndRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{StagingSyncBytes: syncEveryChunk})
	tb := testTable(50)
	b.stageAndBreak(t, "job-resume", tb, 10, 3, 1)
	st := b.wantStaged(t, "job-resume", tb, 3, 30, 1)
	if o := st.GetChunkOptions(); o.GetMaxRecords() != 10 || o.GetTargetBytes() != 1<<20 {
		t.Fatalf("chunk options %v", o)
	}
	b.restart(t)
	b.wantStaged(t, "job-resume", tb, 3, 30, 1)

	resp, err := send(context.Background(), b.client, resumeMessages("job-resume", tb, 10, 3, 2))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDuplicate() || resp.GetRecordsReceived() != 20 || resp.GetChunksReceived() != 2 || !strings.Contains(resp.GetMessage(), "committed 50 records") {
		t.Fatalf("response %v", resp)
	}
	b.assertCommitted(t, "job-resume", tb)
	b.assertIdentical(t, "job-resume", tb)
	if e, _ := b.srv.Committed("job-resume"); e.Records != 50 || e.Chunks != 5 || e.ResumedFrom != 3 || e.Attempt != 2 {
		t.Fatalf("ledger entry %+v", e)
	}
	if got := b.state(t, "job-resume"); !got.GetCommitted() || got.GetStagedChunks() != 0 || got.GetTotalRecords() != 50 || got.GetAttempt() != 2 {
		t.Fatalf("state after commit %v", got)
	}
	if st := b.srv.Stats(); st.Resumed != 1 || st.Commits != 1 || st.Records != 50 || st.Staged != 0 || st.StagedBytes != 0 {
		t.Fatalf("stats %+v", st)
	}
	// A redelivery that would resume again is a duplicate.
	if resp, err := send(context.Background(), b.client, resumeMessages("job-resume", tb, 10, 3, 3)); err != nil || !resp.GetDuplicate() {
		t.Fatalf("resume after commit: %v, %v; want duplicate", resp, err)
	}
}

// TestGroupedSyncsReportOnlySyncedBoundaries: with syncs grouped beyond the
// stream's size, nothing is reported staged while the stream runs; when it
// breaks, its complete chunks are synced as one boundary.
func TestGroupedSyncsReportOnlySyncedBoundaries(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{StagingSyncBytes: 1 << 40, StagingSyncInterval: time.Hour})
	tb := testTable(50)
	msgs := messages("job-group", tb, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := b.client.IngestDataStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs[:4] {
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	b.waitChunk(t, "job-group", 2)
	if got := b.state(t, "job-group"); got.GetStagedChunks() != 0 || got.GetSourceSha256() != "" {
		t.Fatalf("state with nothing synced: %v, want empty", got)
	}
	select {
	case ev := <-b.staged:
		t.Fatalf("a boundary was synced mid-stream: %+v", ev)
	default:
	}
	cancel()
	if ev := b.waitStaged(t, "job-group", 3); ev.records != 30 {
		t.Fatalf("boundary %+v", ev)
	}
	b.waitDone(t, "job-group")
	b.wantStaged(t, "job-group", tb, 3, 30, 1)
}

// TestMismatchedResumeIsAborted: a resume point or metadata that differs
// from the staged state is answered ABORTED saying what differs, and the
// staging stays; an impossible resume point is INVALID_ARGUMENT.
func TestMismatchedResumeIsAborted(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{StagingSyncBytes: syncEveryChunk})
	tb := testTable(50)
	b.stageAndBreak(t, "job-mis", tb, 10, 3, 1)
	other := testTable(50)
	other.Columns = other.Columns[:8]
	for _, tc := range []struct {
		name   string
		id     string
		mutate func(md *pb.IngestMetadata)
		code   codes.Code
		want   string
	}{
		{"earlier sequence", "job-mis", func(md *pb.IngestMetadata) { md.ResumeFromSequence, md.ResumeFromRecord = 2, 20 }, codes.Aborted, "staged_chunks is 3, not resume_from_sequence 2"},
		{"other record", "job-mis", func(md *pb.IngestMetadata) { md.ResumeFromRecord = 29 }, codes.Aborted, "staged_records is 30, not resume_from_record 29"},
		{"other file", "job-mis", func(md *pb.IngestMetadata) { md.SourceSha256 = strings.Repeat("0f", 32) }, codes.Aborted, "source_sha256 is 5e5e"},
		{"other domain", "job-mis", func(md *pb.IngestMetadata) { md.Domain = "other" }, codes.Aborted, `domain is "recruit", not "other"`},
		{"other total", "job-mis", func(md *pb.IngestMetadata) { md.TotalRecords = 60 }, codes.Aborted, "total_records is 50, not 60"},
		{"other schema", "job-mis", func(md *pb.IngestMetadata) { md.Schema = wire.SchemaToProto(other.Schema()) }, codes.Aborted, "the schema differs"},
		{"nothing staged", "job-mis-none", func(md *pb.IngestMetadata) {}, codes.Aborted, "nothing is staged"},
		{"sequence without record", "job-mis", func(md *pb.IngestMetadata) { md.ResumeFromRecord = 0 }, codes.InvalidArgument, "both are 0"},
		{"record beyond total", "job-mis", func(md *pb.IngestMetadata) { md.ResumeFromRecord = 51 }, codes.InvalidArgument, "above total_records 50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs := resumeMessages(tc.id, tb, 10, 3, 2)
			tc.mutate(msgs[0].GetMetadata())
			_, err := send(context.Background(), b.client, msgs)
			if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.want) {
				t.Fatalf("err = %v, want %s containing %q", err, tc.code, tc.want)
			}
		})
	}
	b.wantStaged(t, "job-mis", tb, 3, 30, 1)
	// The right resume point still commits.
	if _, err := send(context.Background(), b.client, resumeMessages("job-mis", tb, 10, 3, 2)); err != nil {
		t.Fatal(err)
	}
	b.assertIdentical(t, "job-mis", tb)
}

// TestResumedStreamKeepsOrderRules: after a resume point, sequence and
// first_record continue from it; breaking them is INVALID_ARGUMENT, and an
// invalid stream drops what was staged.
func TestResumedStreamKeepsOrderRules(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{StagingSyncBytes: syncEveryChunk})
	tb := testTable(50)
	for _, tc := range []struct {
		name   string
		mutate func(c *pb.DataChunk)
		want   string
	}{
		{"sequence from 0", func(c *pb.DataChunk) { c.Sequence = 0 }, "chunk sequence 0, want 3"},
		{"first_record from 0", func(c *pb.DataChunk) { c.FirstRecord = 0 }, "chunk 3: first_record 0, want 30"},
	} {
		id := "job-order-" + strings.ReplaceAll(tc.name, " ", "-")
		b.stageAndBreak(t, id, tb, 10, 3, 1)
		msgs := resumeMessages(id, tb, 10, 3, 2)
		msgs[1] = proto.Clone(msgs[1]).(*pb.IngestDataRequest)
		tc.mutate(msgs[1].GetChunk())
		_, err := send(context.Background(), b.client, msgs)
		wantInvalid(t, err, tc.want)
		if r := b.waitDropped(t, id); r != DropRejected {
			t.Fatalf("dropped for %q, want %q", r, DropRejected)
		}
		b.assertNothing(t, id)
	}
}

// TestFullStreamReplacesStaging: a stream from sequence 0 replaces what the
// id had staged, even for another file.
func TestFullStreamReplacesStaging(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{StagingSyncBytes: syncEveryChunk})
	tb := testTable(50)
	b.stageAndBreak(t, "job-replace", tb, 10, 3, 1)

	// Another file under the same id breaks after one chunk: its chunk
	// replaces the three staged ones.
	other := testTable(40)
	msgs := messages("job-replace", other, 10)
	msgs[0].GetMetadata().SourceSha256 = strings.Repeat("0f", 32)
	msgs[0].GetMetadata().Attempt = 2
	ctx, cancel := context.WithCancel(context.Background())
	st, err := b.client.IngestDataStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs[:2] {
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	if r := b.waitDropped(t, "job-replace"); r != DropReplaced {
		t.Fatalf("dropped for %q, want %q", r, DropReplaced)
	}
	b.waitStaged(t, "job-replace", 1)
	cancel()
	b.waitDone(t, "job-replace")
	if got := b.state(t, "job-replace"); got.GetStagedChunks() != 1 || got.GetTotalRecords() != 40 || got.GetSourceSha256() != strings.Repeat("0f", 32) || got.GetAttempt() != 2 {
		t.Fatalf("state %v, want the new file's chunk", got)
	}
	// A full stream of the first file replaces it again and commits.
	full := messages("job-replace", tb, 10)
	full[0].GetMetadata().Attempt = 3
	if _, err := send(context.Background(), b.client, full); err != nil {
		t.Fatal(err)
	}
	b.assertCommitted(t, "job-replace", tb)
	b.assertIdentical(t, "job-replace", tb)
}

// TestResumeTakesOverFromStaleStream: attempt 1 holds the id mid-stream
// with two chunks staged; attempt 2 resumes at chunk 2: it preempts
// attempt 1 (which applies nothing) and commits exactly once.
func TestResumeTakesOverFromStaleStream(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{StagingSyncBytes: syncEveryChunk})
	tb := testTable(50)
	old := messages("job-take", tb, 10)
	a, err := b.client.IngestDataStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range old[:3] {
		if err := a.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	b.waitStaged(t, "job-take", 2)
	b.wantStaged(t, "job-take", tb, 2, 20, 1)
	// A resume of the same attempt is refused while attempt 1 holds the id.
	if _, err := send(context.Background(), b.client, resumeMessages("job-take", tb, 10, 2, 1)); status.Code(err) != codes.Aborted {
		t.Fatalf("same attempt: err = %v, want ABORTED", err)
	}
	resp, err := send(context.Background(), b.client, resumeMessages("job-take", tb, 10, 2, 2))
	if err != nil || resp.GetRecordsReceived() != 30 {
		t.Fatalf("attempt 2: %v, %v", resp, err)
	}
	if _, err := a.CloseAndRecv(); status.Code(err) != codes.Aborted {
		t.Fatalf("attempt 1: err = %v, want ABORTED", err)
	}
	if st := b.srv.Stats(); st.Commits != 1 || st.Records != 50 {
		t.Fatalf("stats %+v", st)
	}
	b.assertIdentical(t, "job-take", tb)
}

// TestGetIngestStateIDs: an unknown id has an empty state, an invalid one is
// INVALID_ARGUMENT.
func TestGetIngestStateIDs(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	got := b.state(t, "job-unknown")
	if !proto.Equal(got, &pb.GetIngestStateResponse{IngestId: "job-unknown"}) {
		t.Fatalf("unknown id: %v, want every field but ingest_id empty", got)
	}
	for _, id := range []string{"", "../x", strings.Repeat("a", 201)} {
		_, err := b.client.GetIngestState(context.Background(), &pb.GetIngestStateRequest{IngestId: id})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("GetIngestState(%q): %v, want INVALID_ARGUMENT", id, err)
		}
	}
}

// TestStagingTTL: staged chunks expire StagingTTL after their last write,
// unless a stream holds their id; expired ones are gone from the state and
// the disk, also when they expired while the server was down.
func TestStagingTTL(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{StagingSyncBytes: syncEveryChunk, StagingTTL: time.Hour})
	tb := testTable(50)
	before := time.Now()
	b.stageAndBreak(t, "job-ttl", tb, 10, 2, 1)
	after := time.Now()
	exp := time.UnixMilli(b.wantStaged(t, "job-ttl", tb, 2, 20, 1).GetStagedExpiresAtUnixMs())
	if exp.Before(before.Add(time.Hour).Truncate(time.Millisecond)) || exp.After(after.Add(time.Hour)) {
		t.Fatalf("expires at %s, want an hour after the last write (%s..%s)", exp, before, after)
	}
	if n := b.srv.expireStaging(time.Now().Add(30 * time.Minute)); n != 0 {
		t.Fatalf("expired %d before the TTL", n)
	}

	// A stream holding another id is not expired under it.
	held := messages("job-ttl-held", tb, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hs, err := b.client.IngestDataStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range held[:2] {
		if err := hs.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	b.waitStaged(t, "job-ttl-held", 1)
	if n := b.srv.expireStaging(time.Now().Add(2 * time.Hour)); n != 1 {
		t.Fatalf("expired %d, want only job-ttl", n)
	}
	if r := b.waitDropped(t, "job-ttl"); r != DropExpired {
		t.Fatalf("dropped for %q", r)
	}
	b.assertNothing(t, "job-ttl")
	if got := b.state(t, "job-ttl-held"); got.GetStagedChunks() != 1 {
		t.Fatalf("held stream's state %v", got)
	}
	cancel()
	b.waitDone(t, "job-ttl-held")

	// Expired while the server was down: dropped at start.
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	b.cfg.StagingTTL = time.Nanosecond
	b.start(t)
	b.assertNothing(t, "job-ttl-held")
}

// TestStagingTTLLoop: the clean-up loop drops expired staging by itself.
func TestStagingTTLLoop(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{StagingSyncBytes: syncEveryChunk, StagingTTL: 50 * time.Millisecond})
	tb := testTable(20)
	b.stageAndBreak(t, "job-loop", tb, 10, 1, 1)
	if r := b.waitDropped(t, "job-loop"); r != DropExpired {
		t.Fatalf("dropped for %q, want %q", r, DropExpired)
	}
	b.assertNothing(t, "job-loop")
}

// TestStagingDiskBound: with the staging area full, a new stream is
// answered RESOURCE_EXHAUSTED at once and a resume too, leaving the staged
// chunks; a stream that fills the area mid-way is answered
// RESOURCE_EXHAUSTED and its staging dropped, freeing the area.
func TestStagingDiskBound(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{StagingSyncBytes: syncEveryChunk})
	tb := testTable(100)
	b.stageAndBreak(t, "job-disk-a", tb, 10, 2, 1)
	used := b.srv.Stats().StagedBytes
	if used <= 0 {
		t.Fatalf("staged bytes %d", used)
	}

	// Full: the area holds exactly what is staged.
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	b.cfg.StagingMaxBytes = used
	b.start(t)
	if got := b.srv.Stats().StagedBytes; got != used {
		t.Fatalf("recovered %d staged bytes, want %d", got, used)
	}
	_, err := send(context.Background(), b.client, messages("job-disk-b", tb, 10))
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "staging area is full") {
		t.Fatalf("new stream: %v, want RESOURCE_EXHAUSTED", err)
	}
	b.assertNothing(t, "job-disk-b")
	if _, err := send(context.Background(), b.client, resumeMessages("job-disk-a", tb, 10, 2, 2)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("resume: %v, want RESOURCE_EXHAUSTED", err)
	}
	b.wantStaged(t, "job-disk-a", tb, 2, 20, 1)

	// Room for a manifest and a little data: a stream fills it mid-way.
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	b.cfg.StagingMaxBytes = used + 8<<10
	b.start(t)
	_, err = send(context.Background(), b.client, messages("job-disk-b", tb, 10))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("stream past the bound: %v, want RESOURCE_EXHAUSTED", err)
	}
	if r := b.waitDropped(t, "job-disk-b"); r != DropFull {
		t.Fatalf("dropped for %q, want %q", r, DropFull)
	}
	b.assertNothing(t, "job-disk-b")
	if got := b.srv.Stats().StagedBytes; got != used {
		t.Fatalf("staged bytes %d after the drop, want %d", got, used)
	}

	// With room, the resume commits and the area is empty.
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	b.cfg.StagingMaxBytes = 0
	b.start(t)
	if _, err := send(context.Background(), b.client, resumeMessages("job-disk-a", tb, 10, 2, 2)); err != nil {
		t.Fatal(err)
	}
	b.assertIdentical(t, "job-disk-a", tb)
	if got := b.srv.Stats().StagedBytes; got != 0 {
		t.Fatalf("staged bytes %d after the commit", got)
	}
	assertNoStagedFiles(t, b.cfg.OutDir, "")
}

// TestStagingRecovery: at start, a JSONL longer than its last synced
// boundary (a chunk written but not synced) is cut back, a torn manifest
// line is cut off, and the resume commits byte-identical output; corrupt,
// inconsistent or committed stagings are dropped.
func TestStagingRecovery(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{StagingSyncBytes: syncEveryChunk})
	tb := testTable(50)
	b.stageAndBreak(t, "job-rec", tb, 10, 3, 1)
	for _, id := range []string{"job-rec-torn-header", "job-rec-short", "job-rec-committed", "job-rec-corrupt"} {
		b.stageAndBreak(t, id, tb, 10, 2, 1)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(b.cfg.OutDir, stagingDirName)
	path := func(id, suffix string) string { return filepath.Join(dir, id+suffix) }
	appendTo := func(p, s string) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	dataLen := func(id string) int64 {
		fi, err := os.Stat(path(id, dataSuffix))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	synced := dataLen("job-rec")
	appendTo(path("job-rec", dataSuffix), `{"id":1,"title":"half a chunk`)
	appendTo(path("job-rec", manifestSuffix), `{"chunks":4,"records":40,"by`)
	mustWrite(t, path("job-rec-torn-header", manifestSuffix), `{"v":1,"ingest_id":"job-rec-torn-header","dom`)
	if err := os.Truncate(path("job-rec-short", dataSuffix), dataLen("job-rec-short")-1); err != nil {
		t.Fatal(err)
	}
	m, err := os.ReadFile(path("job-rec-corrupt", manifestSuffix))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(m), "\n")
	mustWrite(t, path("job-rec-corrupt", manifestSuffix), lines[0]+"not json\n"+strings.Join(lines[1:], ""))
	mustWrite(t, filepath.Join(b.cfg.OutDir, "recruit", "job-rec-committed.jsonl"), "{}\n") // committed, ledger entry lost
	b.start(t)

	b.wantStaged(t, "job-rec", tb, 3, 30, 1)
	if got := dataLen("job-rec"); got != synced {
		t.Fatalf("JSONL of %d bytes after recovery, want the synced %d", got, synced)
	}
	if m, err := os.ReadFile(path("job-rec", manifestSuffix)); err != nil || !bytes.HasSuffix(m, []byte("}\n")) || bytes.Contains(m, []byte(`"chunks":4`)) {
		t.Fatalf("manifest after recovery: %s, %v", m, err)
	}
	for _, id := range []string{"job-rec-torn-header", "job-rec-short", "job-rec-committed", "job-rec-corrupt"} {
		b.assertNotStaged(t, id)
	}
	if _, err := send(context.Background(), b.client, resumeMessages("job-rec", tb, 10, 3, 2)); err != nil {
		t.Fatal(err)
	}
	b.assertIdentical(t, "job-rec", tb)
	if got := b.srv.Stats().StagedBytes; got != 0 {
		t.Fatalf("staged bytes %d, want 0", got)
	}
}

// TestDiscardStagesManifestOnly: with Discard, staging keeps the manifest
// (so resume works in benchmarks) and no JSONL; a server in the other mode
// drops it at start.
func TestDiscardStagesManifestOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Discard: true, StagingSyncBytes: syncEveryChunk})
	tb := testTable(50)
	b.stageAndBreak(t, "job-dis", tb, 10, 2, 1)
	b.stageAndBreak(t, "job-dis-2", tb, 10, 2, 1)
	b.wantStaged(t, "job-dis", tb, 2, 20, 1)
	files, err := os.ReadDir(filepath.Join(b.cfg.OutDir, stagingDirName))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), manifestSuffix) {
			t.Fatalf("discard staged %s", f.Name())
		}
	}
	b.restart(t)
	resp, err := send(context.Background(), b.client, resumeMessages("job-dis", tb, 10, 2, 2))
	if err != nil || resp.GetRecordsReceived() != 30 {
		t.Fatalf("resume: %v, %v", resp, err)
	}
	if e, ok := b.srv.Committed("job-dis"); !ok || e.Records != 50 || e.ResumedFrom != 2 {
		t.Fatalf("ledger entry %+v, %v", e, ok)
	}
	if _, err := os.Stat(filepath.Join(b.cfg.OutDir, "recruit")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("discard wrote output: %v", err)
	}
	b.assertNotStaged(t, "job-dis")
	// Without Discard, the manifest-only staging cannot be resumed.
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	b.cfg.Discard = false
	b.start(t)
	b.assertNotStaged(t, "job-dis-2")
}

// TestOutputRatioCountsStagedBytes: the output ratio bound covers the whole
// ingest: a resumed stream's budget counts what earlier streams received.
func TestOutputRatioCountsStagedBytes(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{StagingSyncBytes: syncEveryChunk})
	const rows = 20_000
	tb := &table.Table{NumRows: rows, Columns: []*table.Column{{Field: table.Field{Name: strings.Repeat("t", MaxFieldNameBytes), Type: table.TypeTimestamp}, Int64s: make([]int64, rows)}}}
	// Two chunks fit in the slack; the rest does not.
	b.stageAndBreak(t, "job-ratio", tb, 1000, 2, 1)
	_, err := send(context.Background(), b.client, resumeMessages("job-ratio", tb, 1000, 2, 2))
	wantInvalid(t, err, fmt.Sprintf("%d times", MaxOutputRatio))
	b.assertNothing(t, "job-ratio")
}
