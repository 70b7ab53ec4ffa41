package batchclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"

	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// Meta is the stream's metadata, besides what the table itself says (schema
// and total_records).
type Meta struct {
	IngestID     string    // the job id: the idempotency key at the server
	Domain       string    // e.g. "recruit"
	FileName     string    // the source file's name
	Attempt      uint32    // delivery attempt, 1 on the first
	SourceSHA256 string    // hex sha256 of the pickle file
	EnqueuedAt   time.Time // zero: unknown
}

// Options bound the chunks of one stream; zero fields take the defaults
// ([DefaultChunkRecords], [DefaultChunkBytes]).
type Options struct {
	ChunkRecords int
	ChunkBytes   int64
	// BeforeCommit, if set, is called once every chunk has been sent and
	// before the half-close that lets the server commit. An error cancels
	// the stream instead, so the server applies nothing, and Stream returns
	// it (wrapped). It lets a caller check the data while it streams, e.g.
	// validate the table concurrently and wait for the verdict here.
	BeforeCommit func() error
}

// Result is the server's answer to a committed stream.
type Result struct {
	RecordsReceived uint64 // records the server received on this stream
	ChunksReceived  uint64 // chunks the server received on this stream
	BytesSent       uint64 // encoded chunk bytes this client sent
	Duplicate       bool   // the ingest_id was committed earlier; nothing applied twice
	Message         string // the server's detail text
}

// ProgressFunc is told the running totals after each chunk goes out. It is
// called on the goroutine that called [Client.Stream] and must not block
// for long.
type ProgressFunc func(records, chunks, bytes uint64)

// Stream sends t to the batch server as one ingest stream and returns the
// server's answer. It sends meta first, then every row in chunks bounded by
// opts, half-closes and waits for the response; the server commits all of it
// or nothing.
//
// Errors wrap [ErrRejected] (the server refused the data for good, or a
// record cannot be sent) or [ErrUnavailable] (worth retrying under the same
// ingest_id). If ctx ends first, the error wraps context.Cause(ctx) instead
// and the stream is cancelled, so the server commits nothing.
func (c *Client) Stream(ctx context.Context, meta Meta, t *table.Table, opts Options, progress ProgressFunc) (Result, error) {
	if err := checkRequest(meta, t); err != nil {
		return Result{}, err
	}
	k := &chunker{
		t:           t,
		sz:          newSizer(t),
		maxRecords:  opts.ChunkRecords,
		targetBytes: int(opts.ChunkBytes),
		maxBytes:    c.cfg.MaxMsgBytes - 64, // room for gRPC's own framing
		pool:        mem.DefaultBufferPool(),
	}
	if k.maxRecords <= 0 {
		k.maxRecords = DefaultChunkRecords
	}
	if k.targetBytes <= 0 {
		k.targetBytes = DefaultChunkBytes
	}
	k.targetBytes = min(k.targetBytes, k.maxBytes)

	dataBytes := k.sz.total(t)
	deadline := c.cfg.BaseTimeout + time.Duration(float64(dataBytes)/c.cfg.MinRate*float64(time.Second))
	sctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()

	stream, err := pb.NewEmbeddingStreamServiceClient(c.conn).IngestDataStream(sctx, grpc.ForceCodecV2(newPassthroughCodec()))
	if err != nil {
		return Result{}, classify(ctx, "open stream", err)
	}
	md := &pb.IngestMetadata{
		IngestId:     meta.IngestID,
		Domain:       meta.Domain,
		FileName:     meta.FileName,
		TotalRecords: uint64(t.NumRows),
		Attempt:      meta.Attempt,
		Schema:       wire.SchemaToProto(t.Schema()),
		SourceSha256: meta.SourceSHA256,
	}
	if !meta.EnqueuedAt.IsZero() {
		md.EnqueuedAtUnixMs = meta.EnqueuedAt.UnixMilli()
	}
	eof := false
	if err := stream.Send(&pb.IngestDataRequest{Payload: &pb.IngestDataRequest_Metadata{Metadata: md}}); err != nil {
		if !errors.Is(err, io.EOF) {
			return Result{}, classify(ctx, "send metadata", err)
		}
		eof = true // the server ended the stream: its status comes from CloseAndRecv
	}

	var sent Result
	if !eof {
		sent, err = c.sendChunks(sctx, ctx, stream, k, progress)
		if err != nil {
			return sent, err
		}
	}
	if opts.BeforeCommit != nil {
		if err := opts.BeforeCommit(); err != nil {
			cancel() // before the half-close: the server commits nothing
			return sent, fmt.Errorf("batchclient: stream not committed: %w", err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return sent, classify(ctx, "close stream", err)
	}
	res := Result{
		RecordsReceived: resp.GetRecordsReceived(),
		ChunksReceived:  resp.GetChunksReceived(),
		BytesSent:       sent.BytesSent,
		Duplicate:       resp.GetDuplicate(),
		Message:         resp.GetMessage(),
	}
	if !res.Duplicate && res.RecordsReceived != uint64(t.NumRows) {
		return res, fmt.Errorf("batchclient: %w: server acknowledged %d records of %d", ErrRejected, res.RecordsReceived, t.NumRows)
	}
	c.log.Debug().Str("ingest_id", meta.IngestID).Uint64("records", res.RecordsReceived).
		Uint64("chunks", res.ChunksReceived).Uint64("bytes", res.BytesSent).Bool("duplicate", res.Duplicate).
		Msg("stream committed")
	return res, nil
}

// sendChunks runs the chunk producer on its own goroutine and sends what it
// encodes, one chunk in flight while the next is built. A Send returning
// io.EOF ends sending without error: the caller reads the real status from
// CloseAndRecv.
func (c *Client) sendChunks(sctx, parent context.Context, stream grpc.ClientStreamingClient[pb.IngestDataRequest, pb.IngestDataResponse], k *chunker, progress ProgressFunc) (Result, error) {
	pctx, stop := context.WithCancel(sctx)
	chunks := make(chan *encodedChunk, 1)
	done := make(chan struct{})
	var produceErr error
	go func() {
		defer close(done)
		produceErr = k.produce(pctx, chunks)
	}()
	defer func() {
		stop()
		for ch := range chunks { // unblock the producer and free what it built
			ch.data.Free()
		}
		<-done
	}()

	var res Result
	var records uint64
	for ch := range chunks {
		if err := stream.SendMsg(ch); err != nil {
			if errors.Is(err, io.EOF) {
				return res, nil
			}
			return res, classify(parent, "send chunk", err)
		}
		records += uint64(ch.records)
		res.ChunksReceived++
		res.BytesSent += uint64(ch.size)
		if progress != nil {
			progress(records, res.ChunksReceived, res.BytesSent)
		}
	}
	<-done
	if produceErr != nil {
		return res, fmt.Errorf("batchclient: %w", produceErr)
	}
	if parent.Err() != nil {
		return res, fmt.Errorf("batchclient: send chunks: %w", context.Cause(parent))
	}
	return res, nil
}

func checkRequest(meta Meta, t *table.Table) error {
	if err := wire.ValidateID("ingest_id", meta.IngestID); err != nil {
		return fmt.Errorf("batchclient: %w: %w", ErrRejected, err)
	}
	if err := wire.ValidateID("domain", meta.Domain); err != nil {
		return fmt.Errorf("batchclient: %w: %w", ErrRejected, err)
	}
	if meta.Attempt < 1 {
		return fmt.Errorf("batchclient: %w: attempt must be at least 1", ErrRejected)
	}
	if !wire.ValidSHA256(meta.SourceSHA256) {
		return fmt.Errorf("batchclient: %w: source_sha256 %q is not 64 lowercase hex digits", ErrRejected, meta.SourceSHA256)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("batchclient: %w: %w", ErrRejected, err)
	}
	return nil
}
