package chunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// windowed is a Source over a table that asks for windows of n rows, and
// records the span of every window read.
type windowed struct {
	t *table.Table
	n int

	mu    sync.Mutex
	reads [][2]int
}

func (w *windowed) Schema() []table.Field { return w.t.Schema() }
func (w *windowed) Rows() int             { return w.t.NumRows }
func (w *windowed) WindowRows() int       { return w.n }

func (w *windowed) Window(lo, hi int, cols []int) (*table.Table, error) {
	w.mu.Lock()
	w.reads = append(w.reads, [2]int{lo, hi})
	w.mu.Unlock()
	return w.t.Window(lo, hi, cols)
}

// sent is one message Pipe handed over.
type sent struct {
	seq            uint64
	first, records int
	data           []byte
}

// pipeAll runs e from from and returns what it sent.
func pipeAll(t *testing.T, e *Encoder, from Start) []sent {
	t.Helper()
	var out []sent
	err := e.Pipe(context.Background(), from, func(m *Message) error {
		out = append(out, sent{m.Sequence, m.FirstRecord, m.Records, m.Bytes()})
		if len(out[len(out)-1].data) != m.Size {
			t.Errorf("chunk %d: Size %d, %d bytes", m.Sequence, m.Size, len(out[len(out)-1].data))
		}
		m.Free()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func recordCounts(ss []sent) []int {
	n := make([]int, len(ss))
	for i, s := range ss {
		n[i] = s.records
	}
	return n
}

// TestPlainTableBoundariesUnchanged: a Table is one window, so its chunks
// are cut exactly where the push client cut them before the encoder moved
// here (the counts below were printed by that code, batchclient at
// 16e20d1, for the same table and options).
func TestPlainTableBoundariesUnchanged(t *testing.T) {
	t.Parallel()
	tb := randomTable(rand.New(rand.NewPCG(7, 8)), 2000)
	for _, c := range []struct {
		opts Options
		want []int
	}{
		{Options{Bytes: 16 << 10}, []int{180, 181, 177, 180, 181, 178, 174, 177, 179, 178, 174, 41}},
		{Options{Records: 70}, append(slices.Repeat([]int{70}, 28), 40)},
		{Options{MaxBytes: 8 << 10}, []int{86, 88, 88, 88, 87, 85, 86, 91, 85, 90, 87, 88, 84, 85, 83, 87, 87, 85, 87, 88, 85, 85, 85, 10}},
		{Options{}, []int{2000}},
	} {
		got := recordCounts(pipeAll(t, NewEncoder(tb, c.opts), Start{}))
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v: chunks of %v records, want %v", c.opts, got, c.want)
		}
	}
}

// TestPipeChunksMatchProtoMarshal encodes a table whole and through
// windows of several sizes: chunks are numbered from 0, cover every record
// once and in order, respect the bounds, never cross a window, read no
// window larger than asked, and are byte for byte proto.Marshal of
// wire.ChunkToProto for the same rows of the whole table.
func TestPipeChunksMatchProtoMarshal(t *testing.T) {
	t.Parallel()
	tb := randomTable(rand.New(rand.NewPCG(9, 10)), 1000)
	opts := Options{Records: 50, Bytes: 4 << 10, MaxBytes: 64 << 10}
	for _, n := range []int{0, 1, 37, 400, 1000, 5000} {
		t.Run(fmt.Sprint("window-", n), func(t *testing.T) {
			t.Parallel()
			var src table.Source = tb
			ws := &windowed{t: tb, n: n}
			if n > 0 {
				src = ws
			}
			chunks := pipeAll(t, NewEncoder(src, opts), Start{})
			next := 0
			for i, c := range chunks {
				if c.seq != uint64(i) || c.first != next || c.records < 1 || c.records > opts.Records || len(c.data) > opts.MaxBytes-framing {
					t.Fatalf("chunk %d: seq %d, records [%d,+%d), %d bytes; want seq %d from record %d, within the bounds", i, c.seq, c.first, c.records, len(c.data), i, next)
				}
				if n > 0 && c.first/n != (c.first+c.records-1)/n {
					t.Fatalf("chunk %d: records [%d,+%d) cross a window of %d", i, c.first, c.records, n)
				}
				want, err := proto.Marshal(&pb.IngestDataRequest{Payload: &pb.IngestDataRequest_Chunk{Chunk: wire.ChunkToProto(tb, c.first, c.first+c.records, c.seq)}})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(c.data, want) {
					t.Fatalf("chunk %d: encoding differs from proto.Marshal", i)
				}
				next += c.records
			}
			if next != tb.NumRows {
				t.Fatalf("chunks cover %d records of %d", next, tb.NumRows)
			}
			for _, r := range ws.reads {
				if r[1]-r[0] > n {
					t.Fatalf("read window [%d, %d), more than %d rows", r[0], r[1], n)
				}
			}
		})
	}
}

// TestPipeResumesAtEveryBoundary: started at any chunk boundary of a full
// encoding, an Encoder sends exactly the rest of it, byte for byte, for a
// whole table and a windowed source alike; so does Estimate, which counts
// only what is left.
func TestPipeResumesAtEveryBoundary(t *testing.T) {
	t.Parallel()
	tb := randomTable(rand.New(rand.NewPCG(11, 12)), 600)
	opts := Options{Records: 40, Bytes: 3 << 10}
	for _, src := range []table.Source{tb, &windowed{t: tb, n: 90}} {
		full := pipeAll(t, NewEncoder(src, opts), Start{})
		total, err := NewEncoder(src, opts).Estimate(Start{})
		if err != nil || total <= 0 {
			t.Fatalf("Estimate: %d, %v", total, err)
		}
		prev := total + 1
		for i, c := range full {
			from := Start{Sequence: c.seq, Record: c.first}
			rest := pipeAll(t, NewEncoder(src, opts), from)
			if len(rest) != len(full)-i {
				t.Fatalf("from %+v: %d chunks, want %d", from, len(rest), len(full)-i)
			}
			for j := range rest {
				if rest[j].seq != full[i+j].seq || rest[j].first != full[i+j].first || !bytes.Equal(rest[j].data, full[i+j].data) {
					t.Fatalf("from %+v: chunk %d differs from the full encoding's", from, rest[j].seq)
				}
			}
			left, err := NewEncoder(src, opts).Estimate(from)
			if err != nil || left >= prev || left <= 0 {
				t.Fatalf("Estimate from %+v: %d, %v; want less than %d from the previous boundary", from, left, err, prev)
			}
			prev = left
		}
		end := Start{Sequence: uint64(len(full)), Record: tb.NumRows}
		if rest := pipeAll(t, NewEncoder(src, opts), end); len(rest) != 0 {
			t.Fatalf("from the end: %d chunks", len(rest))
		}
	}
}

func TestPipeRefusesBadStart(t *testing.T) {
	t.Parallel()
	tb := randomTable(rand.New(rand.NewPCG(1, 1)), 20)
	for _, from := range []Start{{Sequence: 1}, {Record: 5}, {Sequence: 2, Record: 21}, {Sequence: 2, Record: -1}} {
		e := NewEncoder(tb, Options{})
		err := e.Pipe(context.Background(), from, func(m *Message) error {
			m.Free()
			t.Errorf("from %+v: a chunk was sent", from)
			return nil
		})
		if !errors.Is(err, sink.ErrRejected) {
			t.Errorf("Pipe from %+v: %v, want ErrRejected", from, err)
		}
		if _, err := e.Estimate(from); !errors.Is(err, sink.ErrRejected) {
			t.Errorf("Estimate from %+v: %v, want ErrRejected", from, err)
		}
	}
}

// TestPipeStopsAtSendError: send's error comes back as it is, and nothing
// is sent after it.
func TestPipeStopsAtSendError(t *testing.T) {
	t.Parallel()
	tb := randomTable(rand.New(rand.NewPCG(2, 2)), 500)
	stop := errors.New("test: peer went away")
	calls := 0
	err := NewEncoder(tb, Options{Records: 10}).Pipe(context.Background(), Start{}, func(m *Message) error {
		m.Free()
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 {
		t.Fatalf("got %v after %d sends, want the send error after 3", err, calls)
	}
}

// TestPipeReturnsContextCause: a context ended mid-encoding ends Pipe
// with its cause.
func TestPipeReturnsContextCause(t *testing.T) {
	t.Parallel()
	tb := randomTable(rand.New(rand.NewPCG(3, 3)), 500)
	cause := errors.New("test: stopping")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	calls := 0
	err := NewEncoder(tb, Options{Records: 10}).Pipe(ctx, Start{}, func(m *Message) error {
		m.Free()
		if calls++; calls == 2 {
			cancel(cause)
		}
		return nil
	})
	if !errors.Is(err, cause) || calls >= 50 {
		t.Fatalf("got %v after %d sends, want the cause before the end", err, calls)
	}
}

// gated is a windowed source whose second window read blocks until gate
// is closed, and then records that it finished.
type gated struct {
	*windowed
	entered, gate chan struct{}
	finished      atomic.Bool
	calls         atomic.Int32
}

func (g *gated) Window(lo, hi int, cols []int) (*table.Table, error) {
	if g.calls.Add(1) == 2 {
		close(g.entered)
		<-g.gate
		defer g.finished.Store(true)
	}
	return g.windowed.Window(lo, hi, cols)
}

// TestPipeJoinsEncoderWhenSendPanics: a panic in send unwinds Pipe only
// once the encoding goroutine has stopped: here that goroutine is reading
// the next window when send panics, and Pipe must not return before that
// read has finished.
func TestPipeJoinsEncoderWhenSendPanics(t *testing.T) {
	t.Parallel()
	tb := randomTable(rand.New(rand.NewPCG(4, 4)), 500)
	g := &gated{windowed: &windowed{t: tb, n: 5}, entered: make(chan struct{}), gate: make(chan struct{})}
	go func() {
		<-g.entered
		close(g.gate)
	}()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("send's panic did not reach the caller")
			}
		}()
		_ = NewEncoder(g, Options{}).Pipe(context.Background(), Start{}, func(m *Message) error {
			m.Free()
			<-g.entered // the encoder is reading the next window
			panic("test: send panics")
		})
	}()
	if !g.finished.Load() {
		t.Fatal("Pipe returned while its encoder was still reading the source")
	}
}

// TestPipeRefusesBadData: a window breaking the table invariants is
// refused before any chunk, by Estimate and by Pipe; a record too large
// for one message is refused naming the dataset's record, also through
// windows.
func TestPipeRefusesBadData(t *testing.T) {
	t.Parallel()
	bad := randomTable(rand.New(rand.NewPCG(5, 5)), 30)
	bad.Columns[2].Int64s = bad.Columns[2].Int64s[:29]
	e := NewEncoder(bad, Options{})
	if _, err := e.Estimate(Start{}); !errors.Is(err, sink.ErrRejected) {
		t.Errorf("Estimate of a broken table: %v, want ErrRejected", err)
	}
	err := e.Pipe(context.Background(), Start{}, func(m *Message) error { m.Free(); t.Error("a chunk was sent"); return nil })
	if !errors.Is(err, sink.ErrRejected) {
		t.Errorf("Pipe of a broken table: %v, want ErrRejected", err)
	}

	big := randomTable(rand.New(rand.NewPCG(6, 6)), 30)
	big.Columns[0].Strings[23] = strings.Repeat("y", 100<<10)
	for _, src := range []table.Source{big, &windowed{t: big, n: 7}} {
		var records int
		err := NewEncoder(src, Options{MaxBytes: 64 << 10}).Pipe(context.Background(), Start{}, func(m *Message) error {
			records += m.Records
			m.Free()
			return nil
		})
		if !errors.Is(err, ErrRecordTooLarge) || !errors.Is(err, sink.ErrRejected) || !strings.Contains(err.Error(), "record 23 ") {
			t.Errorf("a record above the limit: %v, want ErrRecordTooLarge naming record 23", err)
		}
		if records != 23 {
			t.Errorf("%d records sent before the large one, want 23", records)
		}
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	tb := randomTable(rand.New(rand.NewPCG(7, 7)), 12)
	meta := sink.Meta{IngestID: "job-1", Domain: "recruit", FileName: "f.pkl", Attempt: 2,
		SourceSHA256: strings.Repeat("ab", 32), EnqueuedAt: time.UnixMilli(1_700_000_000_123)}
	v1 := func() *pb.IngestMetadata {
		return &pb.IngestMetadata{
			IngestId: "job-1", Domain: "recruit", FileName: "f.pkl", TotalRecords: 12, Attempt: 2,
			Schema: wire.SchemaToProto(tb.Schema()), SourceSha256: meta.SourceSHA256, EnqueuedAtUnixMs: 1_700_000_000_123,
		}
	}
	same := func(t *testing.T, m *Message, md *pb.IngestMetadata) {
		t.Helper()
		want, err := proto.Marshal(&pb.IngestDataRequest{Payload: &pb.IngestDataRequest_Metadata{Metadata: md}})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Bytes(); !bytes.Equal(got, want) || m.Size != len(want) {
			t.Fatalf("metadata differs from proto.Marshal of %v", md)
		}
		m.Free()
	}
	for _, src := range []table.Source{tb, &windowed{t: tb, n: 5}} {
		// v1: none of the v2 fields.
		m, err := NewEncoder(src, Options{}).MetadataV1(meta)
		if err != nil {
			t.Fatal(err)
		}
		same(t, m, v1())

		// v2, a full stream: the effective chunk options, no resume point.
		m, err = NewEncoder(src, Options{}).Metadata(meta, Start{})
		if err != nil {
			t.Fatal(err)
		}
		md := v1()
		md.ChunkOptions = &pb.ChunkOptions{MaxRecords: DefaultRecords, TargetBytes: DefaultBytes}
		same(t, m, md)

		// v2, resumed at chunk 3, record 7, with bounds of its own (the
		// target lowered to what the message limit allows).
		m, err = NewEncoder(src, Options{Records: 4, Bytes: 1 << 30, MaxBytes: 1 << 16}).Metadata(meta, Start{Sequence: 3, Record: 7})
		if err != nil {
			t.Fatal(err)
		}
		md = v1()
		md.ResumeFromSequence, md.ResumeFromRecord = 3, 7
		md.ChunkOptions = &pb.ChunkOptions{MaxRecords: 4, TargetBytes: 1<<16 - framing}
		same(t, m, md)

		// Everything staged: a resume point at the end is valid.
		m, err = NewEncoder(src, Options{}).Metadata(meta, Start{Sequence: 5, Record: 12})
		if err != nil {
			t.Fatal(err)
		}
		m.Free()
	}
	for _, from := range []Start{{Sequence: 1}, {Record: 3}, {Sequence: 2, Record: 13}, {Sequence: 1, Record: -1}} {
		if _, err := NewEncoder(tb, Options{}).Metadata(meta, from); !errors.Is(err, sink.ErrRejected) {
			t.Errorf("resume point %+v: %v, want ErrRejected", from, err)
		}
	}
	for _, mod := range []func(*sink.Meta){
		func(m *sink.Meta) { m.IngestID = "bad id/with slash" },
		func(m *sink.Meta) { m.Domain = "" },
		func(m *sink.Meta) { m.Attempt = 0 },
		func(m *sink.Meta) { m.SourceSHA256 = "nope" },
	} {
		bad := meta
		mod(&bad)
		if _, err := NewEncoder(tb, Options{}).Metadata(bad, Start{}); !errors.Is(err, sink.ErrRejected) {
			t.Errorf("%+v: %v, want ErrRejected", bad, err)
		}
		if _, err := NewEncoder(tb, Options{}).MetadataV1(bad); !errors.Is(err, sink.ErrRejected) {
			t.Errorf("v1, %+v: %v, want ErrRejected", bad, err)
		}
	}
}

// BenchmarkPipe encodes a vector-heavy table into ~1 MiB chunks through
// Pipe (the encoding goroutine and the hand-over included), whole and
// through windows of 1000 rows. Bytes are the encoded chunk bytes.
func BenchmarkPipe(b *testing.B) {
	const rows, dim = 20000, 384
	tb := &table.Table{NumRows: rows, Columns: []*table.Column{
		{Field: table.Field{Name: "id", Type: table.TypeInt64}, Int64s: make([]int64, rows)},
		{Field: table.Field{Name: "e", Type: table.TypeFloatVector, VectorDim: dim}, Vectors: make([]float32, rows*dim)},
	}}
	for _, src := range []struct {
		name string
		src  table.Source
	}{{"table", tb}, {"windows-1000", &windowed{t: tb, n: 1000}}} {
		b.Run(src.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var n int64
				err := NewEncoder(src.src, Options{}).Pipe(context.Background(), Start{}, func(m *Message) error {
					n += int64(m.Size)
					m.Free()
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(n)
			}
		})
	}
}
