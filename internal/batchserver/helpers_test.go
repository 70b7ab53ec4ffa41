package batchserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// waitTimeout bounds every wait on an event; reaching it fails the test.
const waitTimeout = 20 * time.Second

// chunkEvent is one Hooks.ChunkReceived call.
type chunkEvent struct {
	id  string
	seq uint64
}

// stagedEvent is one Hooks.ChunkStaged call.
type stagedEvent struct {
	id              string
	chunks, records uint64
}

// dropEvent is one Hooks.StagingDropped call.
type dropEvent struct {
	id, reason string
}

// bundle is a running server with a client connected to it.
type bundle struct {
	srv     *Server
	cfg     Config
	addr    string
	client  pb.EmbeddingStreamServiceClient
	done    chan Result      // every finished stream
	chunks  chan chunkEvent  // every chunk received
	staged  chan stagedEvent // every boundary synced
	dropped chan dropEvent   // every staging dropped
	stop    func() error     // cancels Serve, waits for it and closes the server
}

// setup starts a server with cfg (OutDir defaults to a temp dir) on a
// loopback listener, and a client for it. The server is stopped at cleanup.
func setup(t *testing.T, cfg Config) *bundle {
	t.Helper()
	if cfg.OutDir == "" {
		cfg.OutDir = t.TempDir()
	}
	b := &bundle{done: make(chan Result, 256), chunks: make(chan chunkEvent, 4096),
		staged: make(chan stagedEvent, 4096), dropped: make(chan dropEvent, 1024)}
	cfg.Hooks.StreamDone = func(r Result) { b.done <- r }
	cfg.Hooks.ChunkReceived = func(id string, seq uint64) { b.chunks <- chunkEvent{id, seq} }
	cfg.Hooks.ChunkStaged = func(id string, chunks, records uint64) { b.staged <- stagedEvent{id, chunks, records} }
	cfg.Hooks.StagingDropped = func(id, reason string) { b.dropped <- dropEvent{id, reason} }
	b.cfg = cfg
	b.start(t)
	return b
}

// start creates and serves b.cfg's server; b.stop undoes it.
func (b *bundle) start(t testing.TB) {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t))
	if _, bench := t.(*testing.B); bench {
		log = zerolog.Nop()
	}
	srv, err := New(b.cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		// As the worker's client: large windows and buffers for 1 MiB chunks.
		grpc.WithInitialWindowSize(windowSize), grpc.WithInitialConnWindowSize(windowSize),
		grpc.WithReadBufferSize(bufferSize), grpc.WithWriteBufferSize(bufferSize))
	if err != nil {
		t.Fatal(err)
	}
	b.srv, b.addr, b.client = srv, lis.Addr().String(), pb.NewEmbeddingStreamServiceClient(cc)
	stopped := false
	b.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		err := waitFor(t, served, "Serve to return")
		return errors.Join(err, cc.Close(), srv.Close())
	}
	t.Cleanup(func() {
		if err := b.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// restart stops the server and starts a new one on the same OutDir.
func (b *bundle) restart(t *testing.T) {
	t.Helper()
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	b.start(t)
}

// waitFor receives from ch or fails the test after waitTimeout.
func waitFor[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// waitDone waits for the stream of ingest id to finish on the server.
func (b *bundle) waitDone(t *testing.T, id string) Result {
	t.Helper()
	for {
		r := waitFor(t, b.done, "stream "+id+" to finish")
		if r.IngestID == id {
			return r
		}
	}
}

// waitChunk waits until the server has received chunk seq of ingest id.
func (b *bundle) waitChunk(t *testing.T, id string, seq uint64) {
	t.Helper()
	for {
		ev := waitFor(t, b.chunks, fmt.Sprintf("chunk %d of %s", seq, id))
		if ev.id == id && ev.seq == seq {
			return
		}
	}
}

// waitStaged waits until the server has synced a boundary of ingest id
// with chunks chunks.
func (b *bundle) waitStaged(t *testing.T, id string, chunks uint64) stagedEvent {
	t.Helper()
	for {
		ev := waitFor(t, b.staged, fmt.Sprintf("%d chunks of %s staged", chunks, id))
		if ev.id == id && ev.chunks == chunks {
			return ev
		}
	}
}

// waitDropped waits until the server has dropped the staging of ingest id,
// and returns the reason.
func (b *bundle) waitDropped(t *testing.T, id string) string {
	t.Helper()
	for {
		ev := waitFor(t, b.dropped, "the staging of "+id+" to be dropped")
		if ev.id == id {
			return ev.reason
		}
	}
}

// testTable returns n rows with all nine field types and nulls on the
// nullable columns.
func testTable(n int) *table.Table {
	const dim = 4
	cols := []*table.Column{
		{Field: table.Field{Name: "id", Type: table.TypeInt64}},
		{Field: table.Field{Name: "title", Type: table.TypeString, Nullable: true}},
		{Field: table.Field{Name: "score", Type: table.TypeDouble, Nullable: true}},
		{Field: table.Field{Name: "active", Type: table.TypeBool}},
		{Field: table.Field{Name: "posted", Type: table.TypeTimestamp, Nullable: true}},
		{Field: table.Field{Name: "raw", Type: table.TypeBytes}},
		{Field: table.Field{Name: "embedding", Type: table.TypeFloatVector, VectorDim: dim, Nullable: true}},
		{Field: table.Field{Name: "skills", Type: table.TypeStringList}},
		{Field: table.Field{Name: "extra", Type: table.TypeJSON, Nullable: true}},
	}
	for r := range n {
		null := r%7 == 3
		cols[0].Int64s = append(cols[0].Int64s, 9007199254740993+int64(r))
		cols[1].Strings = append(cols[1].Strings, fmt.Sprintf("백엔드 개발자 \"%d\"\n", r))
		cols[2].Doubles = append(cols[2].Doubles, float64(r)/3)
		cols[3].Bools = append(cols[3].Bools, r%2 == 0)
		cols[4].Int64s = append(cols[4].Int64s, 1765531800000000+int64(r))
		cols[5].Bytes = append(cols[5].Bytes, []byte{byte(r), 0, 255})
		for k := range dim {
			cols[6].Vectors = append(cols[6].Vectors, float32(r)*0.1+float32(k))
		}
		cols[7].StringLists = append(cols[7].StringLists, []string{"go", fmt.Sprint(r)})
		cols[8].Strings = append(cols[8].Strings, fmt.Sprintf(`{"r":%d,"a":[1,null]}`, r))
		if null {
			cols[1].Strings[r], cols[2].Doubles[r], cols[4].Int64s[r], cols[8].Strings[r] = "", 0, 0, ""
			copy(cols[6].Vectors[r*dim:], make([]float32, dim))
			for _, c := range []*table.Column{cols[1], cols[2], cols[4], cols[6], cols[8]} {
				c.Nulls = append(c.Nulls, r)
			}
		}
	}
	return &table.Table{Columns: cols, NumRows: n}
}

// metadata returns valid metadata for t under ingest id.
func metadata(id string, t *table.Table) *pb.IngestMetadata {
	return &pb.IngestMetadata{
		IngestId: id, Domain: "recruit", FileName: "recruit.pkl", TotalRecords: uint64(t.NumRows), Attempt: 1,
		Schema: wire.SchemaToProto(t.Schema()), SourceSha256: strings.Repeat("5e", 32), EnqueuedAtUnixMs: 1765531800000,
	}
}

// messages returns the whole stream for t: metadata, then chunks of at most
// per rows.
func messages(id string, t *table.Table, per int) []*pb.IngestDataRequest {
	msgs := []*pb.IngestDataRequest{{Payload: &pb.IngestDataRequest_Metadata{Metadata: metadata(id, t)}}}
	for lo, seq := 0, uint64(0); lo < t.NumRows; lo, seq = lo+per, seq+1 {
		hi := min(lo+per, t.NumRows)
		msgs = append(msgs, chunkMsg(wire.ChunkToProto(t, lo, hi, seq)))
	}
	return msgs
}

func chunkMsg(c *pb.DataChunk) *pb.IngestDataRequest {
	return &pb.IngestDataRequest{Payload: &pb.IngestDataRequest_Chunk{Chunk: c}}
}

// send streams msgs and half-closes, as a well-behaved client does: it stops
// sending when Send reports io.EOF and takes the answer from CloseAndRecv.
func send(ctx context.Context, c pb.EmbeddingStreamServiceClient, msgs []*pb.IngestDataRequest) (*pb.IngestDataResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.IngestDataStream(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if err := st.Send(m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
	}
	return st.CloseAndRecv()
}

// assertCommitted checks that id's committed file equals the canonical JSON
// of want, and that the ledger has it.
func (b *bundle) assertCommitted(t *testing.T, id string, want *table.Table) {
	t.Helper()
	e, ok := b.srv.Committed(id)
	if !ok {
		t.Fatalf("%s is not in the ledger", id)
	}
	if e.Records != uint64(want.NumRows) || e.Domain != "recruit" || e.SHA256 != strings.Repeat("5e", 32) {
		t.Fatalf("ledger entry %+v", e)
	}
	got, err := os.ReadFile(b.srv.OutputPath("recruit", id))
	if err != nil {
		t.Fatal(err)
	}
	var wb bytes.Buffer
	if err := canonical.WriteTable(&wb, want); err != nil {
		t.Fatal(err)
	}
	if err := canonical.Compare(bytes.NewReader(got), &wb); err != nil {
		t.Fatalf("committed file differs from canonical JSON: %v", err)
	}
	b.assertNotStaged(t, id)
}

// assertNothing checks that id left no trace: no file, no ledger entry, no
// staged file, no staging state.
func (b *bundle) assertNothing(t *testing.T, id string) {
	t.Helper()
	if _, ok := b.srv.Committed(id); ok {
		t.Errorf("%s is in the ledger", id)
	}
	if _, err := os.Stat(b.srv.OutputPath("recruit", id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: committed file exists (stat: %v)", id, err)
	}
	ledger, err := os.ReadFile(filepath.Join(b.cfg.OutDir, ledgerName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ledger, []byte(`"`+id+`"`)) {
		t.Errorf("%s is in ledger.jsonl", id)
	}
	b.assertNotStaged(t, id)
}

// assertNotStaged checks that nothing is staged for id: no files, no state.
func (b *bundle) assertNotStaged(t *testing.T, id string) {
	t.Helper()
	assertNoStagedFiles(t, b.cfg.OutDir, id)
	b.srv.mu.Lock()
	stg := b.srv.staged[id]
	b.srv.mu.Unlock()
	if stg != nil {
		t.Errorf("%s: staging state %+v", id, stg.last)
	}
}

// assertNoStagedFiles checks that the staging directory under out holds no
// file of id (any id when id is ""), and that the temp directory of servers
// before v2 is gone.
func assertNoStagedFiles(t *testing.T, out, id string) {
	t.Helper()
	files, err := os.ReadDir(filepath.Join(out, stagingDirName))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if id == "" || strings.HasPrefix(f.Name(), id+".") {
			t.Errorf("staged file left: %s", f.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(out, legacyTmpDirName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (stat: %v)", legacyTmpDirName, err)
	}
}
