package batchserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// Pull calls DatasetService.StreamDataset on a worker over conn (see
// [DialWorker]) with req and applies the stream it receives exactly as a
// pushed one: the same checks, staging, commit (the JSONL under
// Config.OutDir and its ledger line) and deduplication by ingest_id, all
// or nothing. The worker's OK is the half-close that commits. opts are
// added to the call's options (the receive limit is Config.MaxRecvMsgSize).
//
// With req.ingest_id set and no resume point, Pull first looks at what the
// server holds for that id: a committed id is answered duplicate without
// calling the worker; chunks staged by an earlier pull of the same domain
// are resumed (the request asks the worker to start after them). If the
// worker's stream does not match them (another file, or they expired),
// Pull streams the dataset whole once more, replacing them.
//
// It returns the stream's [Result] (Outcome committed or duplicate when
// the error is nil) and, on failure, a gRPC status error: the worker's
// status, its message prefixed with "worker: " (NOT_FOUND, INVALID_ARGUMENT,
// FAILED_PRECONDITION, RESOURCE_EXHAUSTED, UNAVAILABLE, UNAUTHENTICATED,
// ...), or this server's own refusal of what the worker sent, with the
// codes of a push (INVALID_ARGUMENT for a stream breaking the contract,
// UNAVAILABLE for storage errors, ...), or CANCELED when ctx ends. A
// permanent failure drops what the stream staged; a transient one keeps it
// for a resume under the same ingest_id.
func (s *Server) Pull(ctx context.Context, conn grpc.ClientConnInterface, req *pb.DatasetRequest, opts ...grpc.CallOption) (Result, error) {
	req = proto.Clone(req).(*pb.DatasetRequest)
	resumed := false
	if id := req.GetIngestId(); id != "" && req.GetResumeFromSequence() == 0 && req.GetResumeFromRecord() == 0 && s.cfg.Contract != ContractV1 {
		if err := wire.ValidateID("ingest_id", id); err != nil {
			return Result{IngestID: id, Domain: req.GetDomain(), Outcome: OutcomeRejected, Pulled: true}, invalid("%v", err)
		}
		held := s.ingestState(id)
		if held.GetCommitted() {
			return s.pulledDuplicate(id, req.GetDomain()), nil
		}
		if held.GetStagedChunks() > 0 && held.GetDomain() == req.GetDomain() {
			req.ResumeFromSequence, req.ResumeFromRecord = held.GetStagedChunks(), held.GetStagedRecords()
			resumed = true
		}
	}
	res, mismatch, err := s.pull(ctx, conn, req, opts)
	if resumed && mismatch {
		s.log.Info().Str("ingest_id", req.GetIngestId()).Err(err).Msg("pull: the worker's stream does not continue the staged chunks; pulling it whole")
		req.ResumeFromSequence, req.ResumeFromRecord = 0, 0
		res, _, err = s.pull(ctx, conn, req, opts)
	}
	return res, err
}

// pulledDuplicate answers a pull of a committed ingest_id without calling
// the worker.
func (s *Server) pulledDuplicate(id, domain string) Result {
	e, _ := s.Committed(id)
	res := Result{
		IngestID: id, Domain: e.Domain, Outcome: OutcomeDuplicate, Pulled: true,
		Message: fmt.Sprintf("already committed at %s (%d records); nothing pulled", e.CommittedAt.Format(time.RFC3339), e.Records),
	}
	if e.Domain != domain {
		res.Message += fmt.Sprintf("; WARNING: the committed ingest has domain %q, not %q (use a new ingest_id to ingest it)", e.Domain, domain)
	}
	s.stats.streams.Add(1)
	s.finish(res)
	return res
}

// pull runs one StreamDataset call into the commit path. mismatch reports
// a resume point this server refused (ABORTED: the worker's stream does
// not continue what is staged).
func (s *Server) pull(ctx context.Context, conn grpc.ClientConnInterface, req *pb.DatasetRequest, opts []grpc.CallOption) (res Result, mismatch bool, err error) {
	start := time.Now()
	s.stats.streams.Add(1)
	s.stats.inFlight.Add(1)
	defer s.stats.inFlight.Add(-1)

	cctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the call, and with it a Recv still pending
	opts = append([]grpc.CallOption{grpc.MaxCallRecvMsgSize(s.cfg.MaxRecvMsgSize)}, opts...)
	st := &stream{s: s, pulled: true}
	var out Outcome
	call, err := pb.NewDatasetServiceClient(conn).StreamDataset(cctx, req, opts...)
	if err != nil {
		out, err = st.recvFailure(cctx, err)
	} else {
		st.rpc = pulledStream{call}
		out, err = st.run(cctx)
		st.cleanup(out)
	}
	res = Result{
		IngestID: req.GetIngestId(), Domain: req.GetDomain(), Attempt: 1,
		Outcome: out, Err: err, Duration: time.Since(start), Pulled: true,
		Records: st.records - st.resumedRecords, Chunks: st.chunks - st.resumedChunks,
		ResumedRecords: st.resumedRecords, ResumedChunks: st.resumedChunks,
	}
	st.fill(&res)
	s.finish(res)
	return res, st.resumeRefused, err
}

// fromWorker prefixes the message of a status the worker (or the
// connection to it) returned with "worker: ", keeping its code.
func fromWorker(err error) error {
	st := status.Convert(err)
	return status.Error(st.Code(), "worker: "+st.Message())
}

// permanentPull reports whether a worker's status is permanent: anything
// but the contract's transient codes (and a cancellation).
func permanentPull(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.DeadlineExceeded, codes.Canceled:
		return false
	}
	return true
}

// pulledStream adapts a StreamDataset call to the stream handler's
// ingestStream: Recv is the call's (io.EOF when the worker ended the stream
// with OK), and the answer, which no one waits for, is kept by the handler.
type pulledStream struct {
	call grpc.ServerStreamingClient[pb.IngestDataRequest]
}

func (p pulledStream) Recv() (*pb.IngestDataRequest, error) { return p.call.Recv() }

func (p pulledStream) SendAndClose(*pb.IngestDataResponse) error { return nil }

// DialWorker returns a client connection to a worker's pull server at
// addr (host:port) for [Server.Pull]: TLS with tc (nil: plaintext; see
// [LoadClientTLS]), the bearer token, when not empty, sent on every call
// (also over plaintext, where the network can read it), and the transport
// settings of the push side (16 MiB flow-control windows, 256 KiB
// buffers, keepalive). It does not connect yet: the first call does.
func DialWorker(addr string, tc *tls.Config, token string) (*grpc.ClientConn, error) {
	if addr == "" {
		return nil, errors.New("batchserver: empty worker address")
	}
	creds := insecure.NewCredentials()
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithInitialWindowSize(windowSize),
		grpc.WithInitialConnWindowSize(windowSize),
		grpc.WithReadBufferSize(bufferSize),
		grpc.WithWriteBufferSize(bufferSize),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
	}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("batchserver: client for worker %s: %w", addr, err)
	}
	return cc, nil
}

// bearer sends "authorization: Bearer <token>" on every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: a pull inside a private network may
// run in plaintext.
func (b bearer) RequireTransportSecurity() bool { return false }
