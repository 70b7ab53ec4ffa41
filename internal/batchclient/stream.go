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
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// Stream sends src to the batch server as one ingest attempt and returns
// the server's answer. It first asks the server what it holds for
// meta.IngestID (GetIngestState, contract v2) and then opens one stream:
// the metadata alone if the ingest is committed (the server answers
// duplicate=true); the metadata with a resume point and only the chunks
// after it if the server has staged the first chunks of the same file and
// schema (opts.Resumed is told where); every chunk from 0 otherwise, or if
// the server speaks contract v1 (it answers UNIMPLEMENTED; the v2 fields
// are then never sent). Chunks are bounded by opts and encoded one chunk
// ahead of the wire by package chunk. Once they are sent it calls
// opts.BeforeCommit, half-closes and waits for the response; the server
// commits all of the dataset or nothing. progress, if not nil, is told the
// running totals after each chunk (from the resume point on).
//
// The attempt has a deadline of Config.BaseTimeout plus the data's size at
// Config.MinRate; within it, the calls wait for a ready connection (gRPC's
// WaitForReady) for at most Config.ReadyTimeout.
//
// Errors wrap [sink.ErrRejected] (the server refused the data for good, or
// the data cannot be sent: bad metadata, a broken table, a record larger
// than MaxMsgBytes, which is [chunk.ErrRecordTooLarge]) or
// [sink.ErrUnavailable] (worth retrying under the same ingest_id: the
// server unreachable for Config.ReadyTimeout, overloaded, out of time, a
// resume point the server no longer holds (ABORTED), a broken connection),
// or BeforeCommit's error. If ctx ends first, the error wraps
// context.Cause(ctx) instead and the stream is cancelled, so the server
// commits nothing. Stream does not use src after it returns.
func (c *Client) Stream(ctx context.Context, meta sink.Meta, src table.Source, opts sink.Options, progress sink.ProgressFunc) (sink.Result, error) {
	enc := chunk.NewEncoder(src, chunk.Options{Records: opts.ChunkRecords, Bytes: opts.ChunkBytes, MaxBytes: c.cfg.MaxMsgBytes})
	md, err := enc.MetadataV1(meta) // checks meta before anything goes out
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

	p, err := c.plan(sctx, ctx, meta, dataset{
		sha256: meta.SourceSHA256, domain: meta.Domain, records: src.Rows(), schema: wire.SchemaToProto(src.Schema()),
	})
	if err != nil {
		return sink.Result{}, err
	}
	if c.afterPlan != nil {
		c.afterPlan()
	}
	if p.v2 {
		if md, err = enc.Metadata(meta, p.from); err != nil {
			return sink.Result{}, fmt.Errorf("batchclient: %w", err)
		}
	}

	rctx, stopWait := c.readyBound(sctx)
	stream, err := pb.NewEmbeddingStreamServiceClient(c.conn).IngestDataStream(rctx, grpc.ForceCodecV2(chunk.Codec()), grpc.WaitForReady(true))
	stopWait()
	if err != nil {
		return sink.Result{}, c.callError(sctx, ctx, rctx, "open stream", err)
	}
	eof := false
	if err := stream.SendMsg(md); err != nil {
		if !errors.Is(err, io.EOF) {
			return sink.Result{}, c.callError(sctx, ctx, rctx, "send metadata", err)
		}
		eof = true // the server ended the stream: its status comes from CloseAndRecv
	}

	sent := sink.Result{ResumedRecords: uint64(p.from.Record), ResumedChunks: p.from.Sequence}
	if !eof && p.from.Sequence > 0 && opts.Resumed != nil {
		opts.Resumed(p.from.Sequence, uint64(p.from.Record))
	}
	if !eof && !p.committed {
		if err := c.sendChunks(sctx, ctx, rctx, stream, enc, p.from, &sent, progress); err != nil {
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
		return sent, c.callError(sctx, ctx, rctx, "close stream", err)
	}
	res := sent
	res.RecordsReceived = resp.GetRecordsReceived()
	res.ChunksReceived = resp.GetChunksReceived()
	res.Duplicate = resp.GetDuplicate()
	res.Message = resp.GetMessage()
	if rows := uint64(src.Rows()); !res.Duplicate && res.ResumedRecords+res.RecordsReceived != rows {
		return res, fmt.Errorf("batchclient: %w: server acknowledged %d records (%d resumed) of %d",
			sink.ErrRejected, res.RecordsReceived, res.ResumedRecords, rows)
	}
	c.log.Debug().Str("ingest_id", meta.IngestID).Uint64("records", res.RecordsReceived).
		Uint64("chunks", res.ChunksReceived).Uint64("bytes", res.BytesSent).
		Uint64("resumed_chunks", res.ResumedChunks).Bool("duplicate", res.Duplicate).
		Msg("stream committed")
	return res, nil
}

// sendChunks sends the chunks enc encodes from from on (one chunk in
// flight while the next is built), counting them in sent (ChunksReceived
// and BytesSent: what went out) and telling progress the totals from the
// start of the dataset. A send returning io.EOF ends sending without
// error: the caller reads the real status from CloseAndRecv. sctx is the
// attempt's context, parent the caller's, rctx the stream's.
func (c *Client) sendChunks(sctx, parent, rctx context.Context, stream grpc.ClientStreamingClient[pb.IngestDataRequest, pb.IngestDataResponse], enc *chunk.Encoder, from chunk.Start, sent *sink.Result, progress sink.ProgressFunc) error {
	records := uint64(from.Record)
	err := enc.Pipe(sctx, from, func(m *chunk.Message) error {
		size, n := m.Size, m.Records
		if err := sctx.Err(); err != nil { // cut off (e.g. by progress): send nothing more
			m.Free()
			return err
		}
		if err := stream.SendMsg(m); err != nil { // gRPC owns m now, sent or not
			return err
		}
		records += uint64(n)
		sent.ChunksReceived++
		sent.BytesSent += uint64(size)
		if progress != nil {
			progress(records, from.Sequence+sent.ChunksReceived, sent.BytesSent)
		}
		return nil
	})
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return nil
	case errors.Is(err, sink.ErrRejected) && parent.Err() == nil && sctx.Err() == nil:
		return fmt.Errorf("batchclient: %w", err)
	default:
		return c.callError(sctx, parent, rctx, "send chunk", err)
	}
}

// callError wraps a failed call's error in sink.ErrRejected or
// sink.ErrUnavailable (see [classify]): the caller's cause when parent
// ended; the attempt's deadline when sctx's passed; "batch server at ADDR
// not reachable for D: reason" when the call gave up waiting for a ready
// connection (cctx, from [Client.readyBound]).
func (c *Client) callError(sctx, parent, cctx context.Context, op string, err error) error {
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("batchclient: %s: %w", op, context.Cause(parent))
	case sctx.Err() != nil: // the attempt's deadline
		return classify(parent, op, status.FromContextError(sctx.Err()).Err())
	}
	if nr := notReady(cctx, err); nr != nil {
		return fmt.Errorf("batchclient: %s: %w: %w", op, sink.ErrUnavailable, nr)
	}
	return classify(parent, op, err)
}
