package batchserver

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

func TestValidStreamCommitsCanonicalJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tb := testTable(25)
	resp, err := send(context.Background(), b.client, messages("job-1", tb, 10))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetIngestId() != "job-1" || resp.GetRecordsReceived() != 25 || resp.GetChunksReceived() != 3 || resp.GetDuplicate() {
		t.Fatalf("response %v", resp)
	}
	b.assertCommitted(t, "job-1", tb)
	if st := b.srv.Stats(); st.Commits != 1 || st.Records != 25 || st.Rejected != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEmptyDatasetCommits(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tb := testTable(0)
	if _, err := send(context.Background(), b.client, messages("job-empty", tb, 10)); err != nil {
		t.Fatal(err)
	}
	b.assertCommitted(t, "job-empty", tb)
}

func TestRuleBreaksAreInvalidArgument(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tb := testTable(25)
	chunk := func(msgs []*pb.IngestDataRequest, i int) *pb.DataChunk { return msgs[i].GetChunk() }
	tests := []struct {
		name   string
		mutate func(msgs []*pb.IngestDataRequest) []*pb.IngestDataRequest
		want   string // in the status message
	}{
		{"missing metadata", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest { return m[1:] }, "first message must carry metadata"},
		{"empty stream", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest { return nil }, "ended before its metadata"},
		{"metadata twice", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest {
			return append(m[:2:2], append([]*pb.IngestDataRequest{m[0]}, m[2:]...)...)
		}, "metadata sent again"},
		{"sequence gap", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest { chunk(m, 2).Sequence = 2; return m }, "chunk sequence 2, want 1"},
		{"first_record off", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest { chunk(m, 2).FirstRecord = 11; return m }, "first_record 11, want 10"},
		{"column count", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest {
			c := chunk(m, 2)
			c.Columns = c.Columns[:8]
			return m
		}, "chunk 1 has 8 columns, the schema has 9"},
		{"column length", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest {
			v := chunk(m, 1).Columns[3].GetBools()
			v.Values = v.Values[:9]
			return m
		}, `chunk 0: column 3 "active": holds 9 values, want record_count 10`},
		{"fewer records", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest { return m[:3] }, "ended after 20 of total_records 25"},
		{"more records", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest {
			extra := wire.ChunkToProto(testTable(30), 25, 30, 3)
			extra.FirstRecord = 25
			return append(m, chunkMsg(extra))
		}, "brings the records to 30, more than total_records 25"},
		{"bad ingest_id", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest {
			m[0].GetMetadata().IngestId = "../x"
			return m
		}, "ingest_id"},
		{"bad domain", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest { m[0].GetMetadata().Domain = "a b"; return m }, "domain"},
		{"attempt 0", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest { m[0].GetMetadata().Attempt = 0; return m }, "attempt"},
		{"bad sha256", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest {
			m[0].GetMetadata().SourceSha256 = "x"
			return m
		}, "source_sha256"},
		{"NaN double", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest {
			chunk(m, 3).Columns[2].GetDoubles().Values[1] = math.NaN()
			return m
		}, `chunk 2: column 2 "score": row 1: NaN`},
		{"no payload", func(m []*pb.IngestDataRequest) []*pb.IngestDataRequest {
			return append(m[:2:2], &pb.IngestDataRequest{})
		}, "neither metadata nor a chunk"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "job-bad-" + strings.ReplaceAll(tt.name, " ", "-")
			msgs := messages(id, tb, 10)
			for k, m := range msgs { // deep copies: the mutations must not leak into tb
				msgs[k] = proto.Clone(m).(*pb.IngestDataRequest)
			}
			_, err := send(context.Background(), b.client, tt.mutate(msgs))
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("case %d: err = %v, want INVALID_ARGUMENT", i, err)
			}
			if !strings.Contains(status.Convert(err).Message(), tt.want) {
				t.Fatalf("message %q does not contain %q", status.Convert(err).Message(), tt.want)
			}
			b.assertNothing(t, id)
		})
	}
	if st := b.srv.Stats(); st.Commits != 0 || st.Rejected != uint64(len(tests)) {
		t.Fatalf("stats %+v", st)
	}
}

func TestDuplicateAlsoAfterRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tb := testTable(12)
	if _, err := send(context.Background(), b.client, messages("job-dup", tb, 5)); err != nil {
		t.Fatal(err)
	}
	path := b.srv.OutputPath("recruit", "job-dup")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	again := messages("job-dup", tb, 5)
	again[0].GetMetadata().Attempt = 2
	for round, restart := range []bool{false, true} {
		if restart {
			b.restart(t)
		}
		resp, err := send(context.Background(), b.client, again)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !resp.GetDuplicate() || resp.GetIngestId() != "job-dup" {
			t.Fatalf("round %d: response %v, want duplicate", round, resp)
		}
		after, err := os.ReadFile(path)
		if err != nil || string(after) != string(before) {
			t.Fatalf("round %d: committed file changed (err %v)", round, err)
		}
		// Stats count from New: the first server also saw the commit.
		if st := b.srv.Stats(); st.Duplicates != 1 || st.Commits != uint64(1-round) {
			t.Fatalf("round %d: stats %+v", round, st)
		}
	}
	ledger, err := os.ReadFile(filepath.Join(b.cfg.OutDir, ledgerName))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(ledger), "\n"); n != 1 {
		t.Fatalf("ledger has %d lines, want 1:\n%s", n, ledger)
	}
}

// TestCommittedIDWithOtherDataIsDuplicate: the contract makes ingest_id the
// idempotency key, so a repeat with other data is answered duplicate=true,
// applies nothing, and says what differs.
func TestCommittedIDWithOtherDataIsDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tb := testTable(3)
	if _, err := send(context.Background(), b.client, messages("job-sha", tb, 5)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mutate func(*pb.IngestMetadata)
		want   string
	}{
		{func(md *pb.IngestMetadata) { md.SourceSha256 = strings.Repeat("0f", 32) }, "source_sha256"},
		{func(md *pb.IngestMetadata) { md.Domain = "other" }, `domain "recruit", not "other"`},
	} {
		msgs := messages("job-sha", tb, 5)
		tc.mutate(msgs[0].GetMetadata())
		resp, err := send(context.Background(), b.client, msgs)
		if err != nil {
			t.Fatalf("err = %v, want a duplicate answer", err)
		}
		if !resp.GetDuplicate() || !strings.Contains(resp.GetMessage(), tc.want) || !strings.Contains(resp.GetMessage(), "not applied") {
			t.Fatalf("response = %v, want duplicate=true with a message naming %q", resp, tc.want)
		}
	}
	b.assertCommitted(t, "job-sha", tb)
}

func TestConcurrentStreamsWithDifferentIDsBothCommit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tb := testTable(40)
	ids := []string{"job-a", "job-b", "job-c"}
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { _, errs[i] = send(context.Background(), b.client, messages(id, tb, 7)) })
	}
	wg.Wait()
	for i, id := range ids {
		if errs[i] != nil {
			t.Fatalf("%s: %v", id, errs[i])
		}
		b.assertCommitted(t, id, tb)
	}
}

func TestSameIDConcurrentlyCommitsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tb := testTable(20)
	msgs := messages("job-same", tb, 10)

	// Stream A sends its metadata and first chunk, then holds.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := b.client.IngestDataStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs[:2] {
		if err := a.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	b.waitChunk(t, "job-same", 0)

	// Stream B, complete, arrives while A holds the id: ABORTED (transient).
	if _, err := send(context.Background(), b.client, msgs); status.Code(err) != codes.Aborted {
		t.Fatalf("second stream: err = %v, want ABORTED", err)
	}
	if err := a.Send(msgs[2]); err != nil {
		t.Fatal(err)
	}
	if resp, err := a.CloseAndRecv(); err != nil || resp.GetDuplicate() {
		t.Fatalf("first stream: %v, %v", resp, err)
	}
	// B's retry finds A's commit.
	resp, err := send(context.Background(), b.client, msgs)
	if err != nil || !resp.GetDuplicate() {
		t.Fatalf("retry: %v, %v; want duplicate", resp, err)
	}
	if st := b.srv.Stats(); st.Commits != 1 || st.Duplicates != 1 || st.Aborted != 1 {
		t.Fatalf("stats %+v", st)
	}
	b.assertCommitted(t, "job-same", tb)
}

// TestClientCancelMidStreamCommitsNothing: a stream the client cancels
// commits nothing; in v2 its received chunk stays staged (GetIngestState
// reports it), in v1 nothing stays; a full retry commits either way.
func TestClientCancelMidStreamCommitsNothing(t *testing.T) {
	t.Parallel()
	// A long chunk delay also shows that the delay ends with the stream.
	for _, cfg := range []Config{{}, {Contract: ContractV1}, {ChunkDelay: 24 * 3600e9}} {
		b := setup(t, cfg)
		tb := testTable(30)
		msgs := messages("job-cancel", tb, 10)
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
		b.waitChunk(t, "job-cancel", 0)
		cancel()
		r := b.waitDone(t, "job-cancel")
		if r.Outcome != OutcomeAborted || status.Code(r.Err) != codes.Canceled {
			t.Fatalf("server saw %+v, want aborted by cancellation", r)
		}
		if cfg.Contract == ContractV1 {
			b.assertNothing(t, "job-cancel")
		} else {
			if _, ok := b.srv.Committed("job-cancel"); ok {
				t.Fatal("the cancelled stream committed")
			}
			if got := b.srv.ingestState("job-cancel"); got.GetStagedChunks() != 1 || got.GetStagedRecords() != 10 {
				t.Fatalf("state after cancel: %v, want chunk 0 staged", got)
			}
		}
		if cfg.ChunkDelay > 0 {
			continue
		}
		// The id is free again: a full retry commits.
		if _, err := send(context.Background(), b.client, msgs); err != nil {
			t.Fatal(err)
		}
		b.assertCommitted(t, "job-cancel", tb)
		b.assertNotStaged(t, "job-cancel")
	}
}

func TestFailFirstThenSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{FailFirst: 2})
	tb := testTable(5)
	for i := range 2 {
		if _, err := send(context.Background(), b.client, messages("job-ff", tb, 5)); status.Code(err) != codes.Unavailable {
			t.Fatalf("stream %d: err = %v, want UNAVAILABLE", i, err)
		}
		b.assertNothing(t, "job-ff")
	}
	if _, err := send(context.Background(), b.client, messages("job-ff", tb, 5)); err != nil {
		t.Fatal(err)
	}
	b.assertCommitted(t, "job-ff", tb)
	if st := b.srv.Stats(); st.Injected != 2 || st.Commits != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFailRateInjectsSomeFailures(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{FailRate: 0.5, FailSeed: 7})
	tb := testTable(1)
	var failed, ok int
	for i := range 40 {
		_, err := send(context.Background(), b.client, messages("job-rate-"+string(rune('a'+i%26))+string(rune('a'+i/26)), tb, 1))
		switch status.Code(err) {
		case codes.OK:
			ok++
		case codes.Unavailable:
			failed++
		default:
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	if failed == 0 || ok == 0 {
		t.Fatalf("failed %d, ok %d: want some of each", failed, ok)
	}
	if st := b.srv.Stats(); st.Injected != uint64(failed) || st.Commits != uint64(ok) {
		t.Fatalf("stats %+v", st)
	}
}

func TestDiscardValidatesAndKeepsLedger(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Discard: true})
	tb := testTable(15)
	if _, err := send(context.Background(), b.client, messages("job-discard", tb, 4)); err != nil {
		t.Fatal(err)
	}
	if e, ok := b.srv.Committed("job-discard"); !ok || e.Records != 15 || e.Chunks != 4 {
		t.Fatalf("ledger entry %+v, %v", e, ok)
	}
	if _, err := os.Stat(filepath.Join(b.cfg.OutDir, "recruit")); !os.IsNotExist(err) {
		t.Fatalf("discard wrote output: %v", err)
	}
	bad := messages("job-discard-bad", tb, 4)
	bad[2].GetChunk().Sequence = 5
	if _, err := send(context.Background(), b.client, bad); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("err = %v, want INVALID_ARGUMENT", err)
	}
	b.restart(t)
	if resp, err := send(context.Background(), b.client, messages("job-discard", tb, 4)); err != nil || !resp.GetDuplicate() {
		t.Fatalf("after restart: %v, %v; want duplicate", resp, err)
	}
}

// rawCodec sends pre-encoded message bytes as they are, so a test can put
// what protobuf-go refuses to marshal (invalid UTF-8) on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	return proto.Marshal(v.(proto.Message))
}
func (rawCodec) Unmarshal(data []byte, v any) error { return proto.Unmarshal(data, v.(proto.Message)) }
func (rawCodec) Name() string                       { return "proto" }

// TestUnmarshalableMessage sends invalid UTF-8 in a string field: grpc-go
// answers INTERNAL itself, and nothing is committed.
func TestUnmarshalableMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tb := testTable(2)
	md, err := proto.Marshal(messages("job-utf8", tb, 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	// A chunk whose title strings hold invalid UTF-8: built by hand, since
	// proto.Marshal refuses it.
	strs := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "a\xffb")
	col := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), strs)
	chunk := protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), col)
	req := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), chunk)

	cc, err := grpc.NewClient(b.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	desc := &pb.EmbeddingStreamService_ServiceDesc.Streams[0]
	st, err := cc.NewStream(context.Background(), desc, "/"+pb.EmbeddingStreamService_ServiceDesc.ServiceName+"/"+desc.StreamName, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range [][]byte{md, req} {
		if err := st.SendMsg(m); err != nil {
			break // io.EOF: the answer comes from RecvMsg
		}
	}
	_ = st.CloseSend() // the status comes from RecvMsg
	err = st.RecvMsg(&pb.IngestDataResponse{})
	if status.Code(err) != codes.Internal {
		t.Fatalf("err = %v, want INTERNAL", err)
	}
	if r := b.waitDone(t, "job-utf8"); r.Outcome != OutcomeRejected {
		t.Fatalf("server saw %+v, want rejected", r)
	}
	b.assertNothing(t, "job-utf8")
}

// TestLaterAttemptPreemptsInFlightStream: a stream of attempt 1 holds the id
// mid-stream (its worker lost the job, say); the redelivery's stream of
// attempt 2 takes over and commits, and attempt 1 is answered ABORTED and
// applies nothing.
func TestLaterAttemptPreemptsInFlightStream(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tb := testTable(20)
	old := messages("job-pre", tb, 10)
	a, err := b.client.IngestDataStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range old[:2] {
		if err := a.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	b.waitChunk(t, "job-pre", 0)

	redelivery := messages("job-pre", tb, 10)
	redelivery[0].GetMetadata().Attempt = 2
	resp, err := send(context.Background(), b.client, redelivery)
	if err != nil || resp.GetDuplicate() || resp.GetRecordsReceived() != 20 {
		t.Fatalf("attempt 2: %v, %v", resp, err)
	}
	r := b.waitDone(t, "job-pre")
	if r.Attempt == 2 { // the two ends may be signalled in either order
		r = b.waitDone(t, "job-pre")
	}
	if r.Attempt != 1 || r.Outcome != OutcomeAborted || status.Code(r.Err) != codes.Aborted {
		t.Fatalf("attempt 1 ended %+v, want aborted", r)
	}
	_ = a.Send(old[2]) // may fail: the server has answered already
	if _, err := a.CloseAndRecv(); status.Code(err) != codes.Aborted {
		t.Fatalf("attempt 1: err = %v, want ABORTED", err)
	}
	if st := b.srv.Stats(); st.Commits != 1 || st.Records != 20 {
		t.Fatalf("stats %+v", st)
	}
	b.assertCommitted(t, "job-pre", tb)
}
