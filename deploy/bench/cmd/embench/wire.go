package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// Transport settings of the wire ceiling: the worker's (chunks of the
// default target size, batchclient's 16 MiB windows and 256 KiB buffers,
// which the batch server uses too) and the batch server's largest message.
const (
	wireMsgBytes   = chunk.DefaultBytes
	wireWindow     = batchclient.DefaultWindowSize
	wireBuffer     = batchclient.DefaultBufferSize
	wireMaxRecvMsg = batchserver.DefaultMaxRecvMsgSize
)

// wireResult is what `embench wire` prints.
type wireResult struct {
	Bytes    int64     `json:"bytes"`    // message bytes per rep (>= the pickle's size)
	Messages int       `json:"messages"` // per rep
	Seconds  []float64 `json:"seconds"`  // one per rep
	// CPUSeconds is the process's CPU time per rep (client and server,
	// all threads): the cost of the bytes, robust to competing load.
	CPUSeconds []float64 `json:"cpu_seconds"`
}

// runWire streams as many bytes as the pickle file holds, as ~1 MiB
// DataChunk messages built from its table, over one grpc-go client stream
// to a server on loopback that decodes each message and drops it. The
// client sends pre-encoded messages (as batchclient does), so the figure is
// transport + server decode: the ceiling for the end-to-end stage.
func runWire(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("wire", flag.ContinueOnError)
	file := fs.String("file", "", "pickle file whose table supplies the chunks")
	reps := fs.Int("reps", 3, "timed repetitions (after one warm-up)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return fmt.Errorf("wire: %w", err)
	}
	t, err := pickleload.Load(data, pickleload.Options{})
	if err != nil {
		return fmt.Errorf("wire: load %s: %w", *file, err)
	}
	msgs, err := encodeMessages(t, int64(len(data)))
	if err != nil {
		return err
	}
	res := wireResult{Messages: len(msgs)}
	for _, m := range msgs {
		res.Bytes += int64(len(m))
	}
	data, t = nil, nil //nolint:ineffassign // drop the table: only msgs are needed now

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("wire: %w", err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(wireMaxRecvMsg),
		grpc.InitialWindowSize(wireWindow), grpc.InitialConnWindowSize(wireWindow),
		grpc.ReadBufferSize(wireBuffer), grpc.WriteBufferSize(wireBuffer))
	pb.RegisterEmbeddingStreamServiceServer(srv, discardServer{})
	go func() { _ = srv.Serve(lis) }() // returns when stopped below
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(wireWindow), grpc.WithInitialConnWindowSize(wireWindow),
		grpc.WithReadBufferSize(wireBuffer), grpc.WithWriteBufferSize(wireBuffer))
	if err != nil {
		return fmt.Errorf("wire: %w", err)
	}
	defer conn.Close()
	for i := 0; i <= *reps; i++ {
		cpu0, start := cpuTime(), time.Now()
		if err := streamOnce(ctx, conn, msgs); err != nil {
			return err
		}
		if i > 0 { // the first is a warm-up: connection, windows, buffers
			res.Seconds = append(res.Seconds, time.Since(start).Seconds())
			res.CPUSeconds = append(res.CPUSeconds, cpuTime()-cpu0)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// encodeMessages encodes IngestDataRequest chunks of ~1 MiB from t, cycling
// through its rows until total bytes are reached.
func encodeMessages(t *table.Table, total int64) ([][]byte, error) {
	if t.NumRows == 0 {
		return nil, errors.New("wire: the table has no rows")
	}
	probe := min(t.NumRows, 64)
	b, err := proto.Marshal(chunkRequest(t, 0, probe, 0))
	if err != nil {
		return nil, fmt.Errorf("wire: encode: %w", err)
	}
	per := max(1, probe*wireMsgBytes/len(b))
	var msgs [][]byte
	var sent int64
	for lo, seq := 0, uint64(0); sent < total; seq++ {
		hi := min(lo+per, t.NumRows)
		b, err := proto.Marshal(chunkRequest(t, lo, hi, seq))
		if err != nil {
			return nil, fmt.Errorf("wire: encode: %w", err)
		}
		msgs = append(msgs, b)
		sent += int64(len(b))
		if lo = hi; lo == t.NumRows {
			lo = 0
		}
	}
	return msgs, nil
}

func chunkRequest(t *table.Table, lo, hi int, seq uint64) *pb.IngestDataRequest {
	return &pb.IngestDataRequest{Payload: &pb.IngestDataRequest_Chunk{Chunk: wire.ChunkToProto(t, lo, hi, seq)}}
}

// streamOnce sends msgs on one stream and waits for the server's answer.
func streamOnce(ctx context.Context, conn *grpc.ClientConn, msgs [][]byte) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := conn.NewStream(ctx, &pb.EmbeddingStreamService_ServiceDesc.Streams[0],
		pb.EmbeddingStreamService_IngestDataStream_FullMethodName, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return fmt.Errorf("wire: open stream: %w", err)
	}
	for _, m := range msgs {
		if err := st.SendMsg(m); err != nil {
			return fmt.Errorf("wire: send: %w", err)
		}
	}
	if err := st.CloseSend(); err != nil {
		return fmt.Errorf("wire: close send: %w", err)
	}
	var resp []byte
	if err := st.RecvMsg(&resp); err != nil {
		return fmt.Errorf("wire: answer: %w", err)
	}
	return nil
}

// discardServer decodes every request (as any server must) and drops it.
type discardServer struct {
	pb.UnimplementedEmbeddingStreamServiceServer
}

func (discardServer) IngestDataStream(st grpc.ClientStreamingServer[pb.IngestDataRequest, pb.IngestDataResponse]) error {
	var n uint64
	for {
		_, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return st.SendAndClose(&pb.IngestDataResponse{ChunksReceived: n})
		}
		if err != nil {
			return err
		}
		n++
	}
}

// rawCodec sends []byte as they are and receives into *[]byte; it keeps
// the name "proto" so the server decodes with its proto codec.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*p = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

var _ encoding.CodecV2 = rawCodec{}
