package batchclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/table"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// Stream sends src to the batch server as one ingest stream and returns
// the server's answer. It sends the metadata first, then every row in
// chunks bounded by opts (package chunk encodes them, one chunk ahead of
// the wire), calls opts.BeforeCommit, half-closes and waits for the
// response; the server commits all of it or nothing. progress, if not nil,
// is told the running totals after each chunk.
//
// Errors wrap [sink.ErrRejected] (the server refused the data for good, or
// the data cannot be sent: bad metadata, a broken table, a record larger
// than MaxMsgBytes, which is [chunk.ErrRecordTooLarge]) or
// [sink.ErrUnavailable] (worth retrying under the same ingest_id), or
// BeforeCommit's error. If ctx ends first, the error wraps
// context.Cause(ctx) instead and the stream is cancelled, so the server
// commits nothing. Stream does not use src after it returns.
func (c *Client) Stream(ctx context.Context, meta sink.Meta, src table.Source, opts sink.Options, progress sink.ProgressFunc) (sink.Result, error) {
	enc := chunk.NewEncoder(src, chunk.Options{Records: opts.ChunkRecords, Bytes: opts.ChunkBytes, MaxBytes: c.cfg.MaxMsgBytes})
	md, err := enc.Metadata(meta)
	if err != nil {
		return sink.Result{}, fmt.Errorf("batchclient: %w", err)
	}
	dataBytes, err := enc.Estimate(chunk.Start{})
	if err != nil {
		return sink.Result{}, fmt.Errorf("batchclient: %w", err)
	}
	deadline := c.cfg.BaseTimeout + time.Duration(float64(dataBytes)/c.cfg.MinRate*float64(time.Second))
	sctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()

	stream, err := pb.NewEmbeddingStreamServiceClient(c.conn).IngestDataStream(sctx, grpc.ForceCodecV2(chunk.Codec()))
	if err != nil {
		return sink.Result{}, classify(ctx, "open stream", err)
	}
	eof := false
	if err := stream.SendMsg(md); err != nil {
		if !errors.Is(err, io.EOF) {
			return sink.Result{}, classify(ctx, "send metadata", err)
		}
		eof = true // the server ended the stream: its status comes from CloseAndRecv
	}

	var sent sink.Result
	if !eof {
		if err := c.sendChunks(sctx, ctx, stream, enc, &sent, progress); err != nil {
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
	res := sink.Result{
		RecordsReceived: resp.GetRecordsReceived(),
		ChunksReceived:  resp.GetChunksReceived(),
		BytesSent:       sent.BytesSent,
		Duplicate:       resp.GetDuplicate(),
		Message:         resp.GetMessage(),
	}
	if rows := src.Rows(); !res.Duplicate && res.RecordsReceived != uint64(rows) {
		return res, fmt.Errorf("batchclient: %w: server acknowledged %d records of %d", sink.ErrRejected, res.RecordsReceived, rows)
	}
	c.log.Debug().Str("ingest_id", meta.IngestID).Uint64("records", res.RecordsReceived).
		Uint64("chunks", res.ChunksReceived).Uint64("bytes", res.BytesSent).Bool("duplicate", res.Duplicate).
		Msg("stream committed")
	return res, nil
}

// sendChunks sends every chunk enc encodes (one chunk in flight while the
// next is built), counting them in sent (ChunksReceived and BytesSent:
// what went out). A send returning io.EOF ends sending without error: the
// caller reads the real status from CloseAndRecv. sctx is the stream's
// context, parent the caller's.
func (c *Client) sendChunks(sctx, parent context.Context, stream grpc.ClientStreamingClient[pb.IngestDataRequest, pb.IngestDataResponse], enc *chunk.Encoder, sent *sink.Result, progress sink.ProgressFunc) error {
	var records uint64
	err := enc.Pipe(sctx, chunk.Start{}, func(m *chunk.Message) error {
		size, n := m.Size, m.Records
		if err := stream.SendMsg(m); err != nil { // gRPC owns m now, sent or not
			return err
		}
		records += uint64(n)
		sent.ChunksReceived++
		sent.BytesSent += uint64(size)
		if progress != nil {
			progress(records, sent.ChunksReceived, sent.BytesSent)
		}
		return nil
	})
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return nil
	case parent.Err() != nil:
		return fmt.Errorf("batchclient: send chunks: %w", context.Cause(parent))
	case sctx.Err() != nil: // the stream's deadline
		return classify(parent, "send chunks", status.FromContextError(sctx.Err()).Err())
	case errors.Is(err, sink.ErrRejected):
		return fmt.Errorf("batchclient: %w", err)
	default:
		return classify(parent, "send chunk", err)
	}
}
