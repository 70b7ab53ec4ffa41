package chunk

import (
	"fmt"
	"math"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// Metadata returns the stream's first message: meta, the source's schema
// and its record count, and the fields of contract v2: the resume point
// from (the zero Start: a full stream; otherwise the chunks the server has
// staged, which the stream does not carry) and the chunk options the
// Encoder cuts by (its effective bounds, defaults applied). Every front end
// sends this one, so push and pull send the same bytes. A peer of contract
// v1 gets [Encoder.MetadataV1] instead.
//
// meta must follow the contract's rules (ingest_id and domain, attempt >=
// 1, a hex sha256), and from must lie in the dataset (sequence 0 if and
// only if record 0), or the error wraps [sink.ErrRejected].
func (e *Encoder) Metadata(meta sink.Meta, from Start) (*Message, error) {
	if err := e.checkStart(from); err != nil {
		return nil, err
	}
	md, err := e.metadata(meta)
	if err != nil {
		return nil, err
	}
	md.ResumeFromSequence = from.Sequence
	md.ResumeFromRecord = uint64(from.Record)
	md.ChunkOptions = &pb.ChunkOptions{MaxRecords: uint32(min(e.maxRecords, math.MaxUint32)), TargetBytes: uint64(e.targetBytes)}
	return encodeMetadata(md)
}

// MetadataV1 returns the stream's first message as contract v1 has it:
// [Encoder.Metadata] of a full stream without any v2 field (no resume
// point, no chunk options), for a peer that does not know them. Errors
// wrap [sink.ErrRejected] as Metadata's do.
func (e *Encoder) MetadataV1(meta sink.Meta) (*Message, error) {
	md, err := e.metadata(meta)
	if err != nil {
		return nil, err
	}
	return encodeMetadata(md)
}

// metadata returns the v1 fields of the metadata, checked.
func (e *Encoder) metadata(meta sink.Meta) (*pb.IngestMetadata, error) {
	if err := checkMeta(meta); err != nil {
		return nil, fmt.Errorf("chunk: %w: %w", sink.ErrRejected, err)
	}
	md := &pb.IngestMetadata{
		IngestId:     meta.IngestID,
		Domain:       meta.Domain,
		FileName:     meta.FileName,
		TotalRecords: uint64(e.rows),
		Attempt:      meta.Attempt,
		Schema:       wire.SchemaToProto(e.src.Schema()),
		SourceSha256: meta.SourceSHA256,
	}
	if !meta.EnqueuedAt.IsZero() {
		md.EnqueuedAtUnixMs = meta.EnqueuedAt.UnixMilli()
	}
	return md, nil
}

func encodeMetadata(md *pb.IngestMetadata) (*Message, error) {
	b, err := proto.Marshal(&pb.IngestDataRequest{Payload: &pb.IngestDataRequest_Metadata{Metadata: md}})
	if err != nil {
		return nil, fmt.Errorf("chunk: encode metadata: %w", err)
	}
	return &Message{data: mem.BufferSlice{mem.SliceBuffer(b)}, Size: len(b)}, nil
}

func checkMeta(meta sink.Meta) error {
	if err := wire.ValidateID("ingest_id", meta.IngestID); err != nil {
		return err
	}
	if err := wire.ValidateID("domain", meta.Domain); err != nil {
		return err
	}
	if meta.Attempt < 1 {
		return fmt.Errorf("attempt must be at least 1")
	}
	if !wire.ValidSHA256(meta.SourceSHA256) {
		return fmt.Errorf("source_sha256 %q is not 64 lowercase hex digits", meta.SourceSHA256)
	}
	return nil
}
