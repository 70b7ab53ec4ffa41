package batchserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/table"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// rawStream is a stream of hand-made metadata and chunks, for inputs that
// no table produces.
func rawStream(md *pb.IngestMetadata, chunks ...*pb.DataChunk) []*pb.IngestDataRequest {
	msgs := []*pb.IngestDataRequest{{Payload: &pb.IngestDataRequest_Metadata{Metadata: md}}}
	for _, c := range chunks {
		msgs = append(msgs, chunkMsg(c))
	}
	return msgs
}

// wantInvalid checks that err is INVALID_ARGUMENT with a message containing
// every one of want.
func wantInvalid(t *testing.T, err error, want ...string) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("err = %v, want INVALID_ARGUMENT", err)
	}
	for _, w := range want {
		if !strings.Contains(status.Convert(err).Message(), w) {
			t.Fatalf("message %q does not contain %q", status.Convert(err).Message(), w)
		}
	}
}

// TestEmptySchemaWithRecordsIsRefused is issue 12's first case: an empty
// schema declaring 1,000,000 records (about 60 bytes sent) committed 3 MB
// of "{}" lines. An empty dataset may still have an empty schema.
func TestEmptySchemaWithRecordsIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	md := &pb.IngestMetadata{IngestId: "job-noschema", Domain: "recruit", FileName: "x.pkl", TotalRecords: 1_000_000,
		Attempt: 1, SourceSha256: strings.Repeat("5e", 32)}
	_, err := send(context.Background(), b.client, rawStream(md, &pb.DataChunk{RecordCount: 1_000_000}))
	wantInvalid(t, err, "empty schema", "1000000 records")
	b.assertNothing(t, "job-noschema")

	empty := &pb.IngestMetadata{IngestId: "job-noschema-0", Domain: "recruit", FileName: "x.pkl", Attempt: 1, SourceSha256: strings.Repeat("5e", 32)}
	if _, err := send(context.Background(), b.client, rawStream(empty)); err != nil {
		t.Fatalf("an empty dataset with an empty schema: %v", err)
	}
	b.assertCommitted(t, "job-noschema-0", &table.Table{})
}

// TestLongFieldNameIsRefused is issue 12's second case: a 4 KiB field name
// over 2,000 rows (about 6 KiB sent) committed 8.2 MB.
func TestLongFieldNameIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	name := strings.Repeat("n", 4096)
	tb := &table.Table{NumRows: 2000, Columns: []*table.Column{{Field: table.Field{Name: name, Type: table.TypeBool}, Bools: make([]bool, 2000)}}}
	_, err := send(context.Background(), b.client, messages("job-longname", tb, 2000))
	wantInvalid(t, err, "4096 bytes", fmt.Sprint(MaxFieldNameBytes))
	b.assertNothing(t, "job-longname")

	// At the bound, the name is accepted.
	tb.Columns[0].Name = strings.Repeat("n", MaxFieldNameBytes)
	tb.NumRows, tb.Columns[0].Bools = 10, make([]bool, 10)
	if _, err := send(context.Background(), b.client, messages("job-longname-ok", tb, 10)); err != nil {
		t.Fatal(err)
	}
	b.assertCommitted(t, "job-longname-ok", tb)
}

// TestTooManyFieldsIsRefused: a schema of more than MaxFields columns.
func TestTooManyFieldsIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tb := &table.Table{NumRows: 1}
	for i := range MaxFields + 1 {
		tb.Columns = append(tb.Columns, &table.Column{Field: table.Field{Name: fmt.Sprintf("c%d", i), Type: table.TypeBool}, Bools: []bool{true}})
	}
	_, err := send(context.Background(), b.client, messages("job-wide", tb, 1))
	wantInvalid(t, err, fmt.Sprintf("%d fields", MaxFields+1), fmt.Sprint(MaxFields))
	b.assertNothing(t, "job-wide")
}

// TestOutputRatioIsBounded: a TIMESTAMP column with a name at the length
// bound and zero values turns each byte received into about 290 bytes of
// JSONL; past MaxOutputRatio times the bytes received (plus slack) the
// stream is refused, naming the ratio.
func TestOutputRatioIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	const rows = 20_000
	tb := &table.Table{NumRows: rows, Columns: []*table.Column{{Field: table.Field{Name: strings.Repeat("t", MaxFieldNameBytes), Type: table.TypeTimestamp}, Int64s: make([]int64, rows)}}}
	_, err := send(context.Background(), b.client, messages("job-amplify", tb, 5000))
	wantInvalid(t, err, fmt.Sprintf("%d times", MaxOutputRatio))
	b.assertNothing(t, "job-amplify")

	// The same data in a shape that amplifies less commits.
	ok := testTable(2000)
	if _, err := send(context.Background(), b.client, messages("job-amplify-ok", ok, 500)); err != nil {
		t.Fatal(err)
	}
	b.assertCommitted(t, "job-amplify-ok", ok)
}

// TestMaxConcurrentStreams: past Config.MaxConcurrentStreams streams on one
// connection, a new stream waits for one to end (here: until its deadline).
func TestMaxConcurrentStreams(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{MaxConcurrentStreams: 2})
	tb := testTable(20)
	hold, release := context.WithCancel(context.Background())
	defer release()
	var open []pb.EmbeddingStreamService_IngestDataStreamClient
	for _, id := range []string{"job-mcs-a", "job-mcs-b"} {
		st, err := b.client.IngestDataStream(hold)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range messages(id, tb, 10)[:2] {
			if err := st.Send(m); err != nil {
				t.Fatal(err)
			}
		}
		b.waitChunk(t, id, 0)
		open = append(open, st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if st, err := b.client.IngestDataStream(ctx); err == nil {
		err = st.Send(messages("job-mcs-c", tb, 10)[0])
		if err == nil {
			_, err = st.CloseAndRecv()
		}
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("third stream: %v, want it held until its deadline", err)
		}
	} else if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("third stream: %v, want DEADLINE_EXCEEDED", err)
	}
	// Once one ends, a new stream proceeds.
	if err := open[0].Send(messages("job-mcs-a", tb, 10)[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := open[0].CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	if _, err := send(context.Background(), b.client, messages("job-mcs-c", tb, 10)); err != nil {
		t.Fatal(err)
	}
	b.assertCommitted(t, "job-mcs-c", tb)
}
