package chunk

import (
	"fmt"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// Metadata returns the stream's first message: meta, the source's schema
// and its record count, encoded. Every front end sends this one, so push
// and pull send the same bytes. meta must follow the contract's rules
// (ingest_id and domain, attempt >= 1, a hex sha256), or the error wraps
// [sink.ErrRejected].
func (e *Encoder) Metadata(meta sink.Meta) (*Message, error) {
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
