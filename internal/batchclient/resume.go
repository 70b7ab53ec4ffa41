package batchclient

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/sink"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// plan is how one attempt streams, decided from what the server holds.
type plan struct {
	// v2: the server speaks contract v2 (it answered GetIngestState), so
	// the metadata carries the v2 fields. false: a v1 server, or one
	// known to be v1 on this connection: a full stream with v1 metadata.
	v2 bool
	// committed: the ingest is committed; the stream carries the
	// metadata only and the server answers duplicate=true.
	committed bool
	// from is where the stream's chunks start: the zero Start (a full
	// stream), or the end of the chunks the server has staged.
	from chunk.Start
}

// dataset is what the client's stream declares, to compare with what the
// server has staged.
type dataset struct {
	sha256, domain string
	records        int
	schema         []*pb.Field
}

// plan asks the server what it holds for meta.IngestID (GetIngestState)
// and decides how the attempt streams (see [decide]). A server that
// answers UNIMPLEMENTED speaks contract v1: the attempt sends a full v1
// stream, and later attempts on the same connection do not ask again.
// sctx is the attempt's context, parent the caller's. Errors are
// classified as a stream's are.
func (c *Client) plan(sctx, parent context.Context, meta sink.Meta, ds dataset) (plan, error) {
	conn := c.conns.Load()
	if c.v1Conn.Load() == conn+1 {
		return plan{}, nil
	}
	rctx, stop := c.readyBound(sctx)
	st, err := pb.NewEmbeddingStreamServiceClient(c.conn).GetIngestState(rctx,
		&pb.GetIngestStateRequest{IngestId: meta.IngestID}, grpc.WaitForReady(true))
	stop()
	if status.Code(err) == codes.Unimplemented && parent.Err() == nil {
		if c.v1Conn.Swap(conn+1) != conn+1 {
			c.log.Info().Str("ingest_id", meta.IngestID).
				Msg("batch server speaks contract v1 (GetIngestState unimplemented): full streams, no resume, on this connection")
		}
		return plan{}, nil
	}
	if err != nil {
		return plan{}, c.callError(sctx, parent, rctx, "get ingest state", err)
	}
	p, why := decide(st, ds)
	if why != "" {
		c.log.Info().Str("ingest_id", meta.IngestID).Uint64("staged_chunks", st.GetStagedChunks()).
			Str("reason", why).Msg("staged chunks not resumable: full stream, replacing them")
	}
	return p, nil
}

// decide turns the server's state of an ingest into a plan:
//
//   - committed: the metadata only (the server answers duplicate=true);
//   - staged chunks s > 0 of the same source_sha256, domain, total_records
//     and schema as ds: resume at chunk s, record staged_records;
//   - otherwise a full stream from chunk 0, which replaces whatever is
//     staged; why says what differs when chunks are staged.
func decide(st *pb.GetIngestStateResponse, ds dataset) (p plan, why string) {
	p.v2 = true
	staged, records := st.GetStagedChunks(), st.GetStagedRecords()
	switch {
	case st.GetCommitted():
		p.committed = true
	case staged == 0:
	case st.GetSourceSha256() != ds.sha256:
		why = fmt.Sprintf("staged from another file (source_sha256 %.12s…)", st.GetSourceSha256())
	case st.GetDomain() != ds.domain:
		why = fmt.Sprintf("staged for domain %q", st.GetDomain())
	case st.GetTotalRecords() != uint64(ds.records):
		why = fmt.Sprintf("staged for %d records, the file has %d", st.GetTotalRecords(), ds.records)
	case !sameSchema(st.GetSchema(), ds.schema):
		why = "staged with another schema"
	case records == 0 || records > uint64(ds.records):
		why = fmt.Sprintf("%d staged records, of %d", records, ds.records)
	default:
		p.from = chunk.Start{Sequence: staged, Record: int(records)}
	}
	return p, why
}

func sameSchema(a, b []*pb.Field) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
