package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/healthprobe"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// waitTimeout bounds every wait on the server process.
const waitTimeout = 30 * time.Second

// buildBinary builds the batchserver binary into a temp directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "batchserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running batchserver process.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	logs   *bytes.Buffer
	exited chan error
}

// startServer runs bin with args on a free loopback port and waits until
// its health service answers SERVING. The process is killed at cleanup if
// still running.
func startServer(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{addr: freeAddr(t), logs: &bytes.Buffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, append([]string{"--listen", p.addr, "--log-format", "json"}, args...)...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	polltest.Until(t, waitTimeout, "the batch server to serve", func() bool {
		select {
		case err := <-p.exited:
			t.Fatalf("server exited early: %v\n%s", err, p.logs.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return healthprobe.GRPC(nil)(ctx, p.addr) == nil
	})
	return p
}

// kill ends the process with SIGKILL (no clean-up of any kind) and waits.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(waitTimeout):
		t.Fatal("no exit after SIGKILL")
	}
}

// client connects to the process.
func (p *proc) client(t *testing.T) pb.EmbeddingStreamServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return pb.NewEmbeddingStreamServiceClient(cc)
}

// killTable returns n rows of an id, a title and a 16-float embedding.
func killTable(n int) *table.Table {
	cols := []*table.Column{
		{Field: table.Field{Name: "id", Type: table.TypeInt64}},
		{Field: table.Field{Name: "title", Type: table.TypeString, Nullable: true}},
		{Field: table.Field{Name: "embedding", Type: table.TypeFloatVector, VectorDim: 16}},
	}
	for r := range n {
		cols[0].Int64s = append(cols[0].Int64s, int64(r)*7)
		cols[1].Strings = append(cols[1].Strings, fmt.Sprintf("백엔드 개발자 %d", r))
		if r%5 == 2 {
			cols[1].Strings[r] = ""
			cols[1].Nulls = append(cols[1].Nulls, r)
		}
		for k := range 16 {
			cols[2].Vectors = append(cols[2].Vectors, float32(r)/3+float32(k))
		}
	}
	return &table.Table{NumRows: n, Columns: cols}
}

// streamFrom returns tb's stream for id in chunks of per rows, resuming at
// chunk seq when seq > 0.
func streamFrom(id string, tb *table.Table, per int, seq uint64, attempt uint32) []*pb.IngestDataRequest {
	md := &pb.IngestMetadata{
		IngestId: id, Domain: "recruit", FileName: "recruit.pkl", TotalRecords: uint64(tb.NumRows), Attempt: attempt,
		Schema: wire.SchemaToProto(tb.Schema()), SourceSha256: strings.Repeat("c0", 32),
		ResumeFromSequence: seq, ResumeFromRecord: seq * uint64(per),
		ChunkOptions: &pb.ChunkOptions{MaxRecords: uint32(per)},
	}
	msgs := []*pb.IngestDataRequest{{Payload: &pb.IngestDataRequest_Metadata{Metadata: md}}}
	for lo, s := 0, uint64(0); lo < tb.NumRows; lo, s = lo+per, s+1 {
		if s >= seq {
			msgs = append(msgs, &pb.IngestDataRequest{Payload: &pb.IngestDataRequest_Chunk{Chunk: wire.ChunkToProto(tb, lo, min(lo+per, tb.NumRows), s)}})
		}
	}
	return msgs
}

// TestKilledServerResumes: a batchserver process is SIGKILLed mid-stream
// after 4 of 8 chunks are staged; restarted on the same directory, it
// reports them; a resumed stream sends only the other 4 and the committed
// file is byte-identical to a full stream's canonical JSONL. Restarted with
// --contract v1, it answers GetIngestState UNIMPLEMENTED.
func TestKilledServerResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"--out", out, "--staging-sync-bytes", "1"}
	p := startServer(t, bin, args...)
	c := p.client(t)
	tb := killTable(80)
	full := streamFrom("job-kill", tb, 10, 0, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	st, err := c.IngestDataStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range full[:5] {
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	state := func(c pb.EmbeddingStreamServiceClient) *pb.GetIngestStateResponse {
		s, err := c.GetIngestState(ctx, &pb.GetIngestStateRequest{IngestId: "job-kill"})
		if err != nil {
			t.Fatalf("GetIngestState: %v", err)
		}
		return s
	}
	polltest.Until(t, waitTimeout, "4 chunks staged", func() bool { return state(c).GetStagedChunks() == 4 })
	p.kill(t)

	p = startServer(t, bin, args...)
	c = p.client(t)
	if s := state(c); s.GetStagedChunks() != 4 || s.GetStagedRecords() != 40 || s.GetTotalRecords() != 80 ||
		s.GetSourceSha256() != strings.Repeat("c0", 32) || s.GetChunkOptions().GetMaxRecords() != 10 || len(s.GetSchema()) != 3 {
		t.Fatalf("state after the restart: %v", s)
	}
	resumed := streamFrom("job-kill", tb, 10, 4, 2)
	if len(resumed) != 5 {
		t.Fatalf("resumed stream has %d messages, want metadata and 4 chunks", len(resumed))
	}
	rs, err := c.IngestDataStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range resumed {
		if err := rs.Send(m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	resp, err := rs.CloseAndRecv()
	if err != nil || resp.GetRecordsReceived() != 40 || resp.GetChunksReceived() != 4 {
		t.Fatalf("resumed stream: %v, %v", resp, err)
	}
	var want bytes.Buffer
	if err := canonical.WriteTable(&want, tb); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, "recruit", "job-kill.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("committed %d bytes, not byte-identical to the %d of a full stream", len(got), want.Len())
	}
	if s := state(c); !s.GetCommitted() || s.GetStagedChunks() != 0 {
		t.Fatalf("state after the commit: %v", s)
	}

	// The same directory under --contract v1: no GetIngestState, no staging.
	p.kill(t)
	p = startServer(t, bin, append(args, "--contract", "v1")...)
	if _, err := p.client(t).GetIngestState(ctx, &pb.GetIngestStateRequest{IngestId: "job-kill"}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("v1 GetIngestState: %v, want UNIMPLEMENTED", err)
	}
	if files, err := os.ReadDir(filepath.Join(out, ".staging")); err != nil || len(files) != 0 {
		t.Fatalf("staging after commit: %v, %v", files, err)
	}
}
