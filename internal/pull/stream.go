package pull

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// MaxNameLen is the longest file_name or object_name accepted, in
// characters (the job message's limit).
const MaxNameLen = 1024

// derivedPrefix starts the ingest_id derived for a request without one:
// "pull-<domain>-<first 16 hex digits of source_sha256>".
const derivedPrefix = "pull-"

// call is one StreamDataset call in progress.
type call struct {
	s   *Server
	req *pb.DatasetRequest
	rpc grpc.ServerStreamingServer[pb.IngestDataRequest]
	log zerolog.Logger
	res Result

	known   bool // the domain is known: its name may label metrics
	lastLog time.Time
}

// StreamDataset implements the contract's pull RPC; see the package doc.
func (s *Server) StreamDataset(req *pb.DatasetRequest, rpc grpc.ServerStreamingServer[pb.IngestDataRequest]) error {
	start := time.Now()
	s.handlers.Add(1)
	defer func() {
		if s.handlers.Add(-1) == 0 {
			select {
			case s.idle <- struct{}{}:
			default:
			}
		}
	}()
	c := &call{s: s, req: req, rpc: rpc}
	c.res.RequestID = newRequestID()
	c.res.Domain, c.res.FileName = req.GetDomain(), req.GetFileName()+req.GetObjectName()
	lc := s.log.With().Str("request_id", c.res.RequestID)
	if id := req.GetIngestId(); id != "" {
		lc = lc.Str("ingest_id", id)
		c.res.IngestID = id
	}
	c.log = lc.Logger()
	c.log.Info().Str("peer", peerAddr(rpc.Context())).Str("domain", req.GetDomain()).Str("file_name", req.GetFileName()).
		Str("object_name", req.GetObjectName()).Uint64("resume_from_sequence", req.GetResumeFromSequence()).
		Uint64("resume_from_record", req.GetResumeFromRecord()).Msg("pull requested")

	var err error
	switch {
	case s.stopping.Load():
		err = ErrStopping
	default:
		select {
		case s.slots <- struct{}{}:
			s.metrics.inFlight.Inc()
			err = c.run()
			<-s.slots
			s.metrics.inFlight.Dec()
		default:
			err = fmt.Errorf("%w: all %d of this worker's pull slots are taken; retry later, or another worker", ErrBusy, cap(s.slots))
		}
	}
	return c.finish(start, err)
}

// finish counts, logs and signals the end of the call, and returns its
// status error.
func (c *call) finish(start time.Time, err error) error {
	s := c.s
	c.res.Code, c.res.Err, c.res.Duration = Code(err), err, time.Since(start)
	domain := ""
	if c.known {
		domain = c.res.Domain
	}
	s.metrics.finished(domain, c.res.Code, c.res.Duration, c.res.Records, c.res.Bytes)
	ev := c.log.Info()
	if err != nil {
		ev = c.log.Warn().Err(err)
	}
	ev.Str("outcome", Outcome(c.res.Code)).Str("code", c.res.Code.String()).Uint64("records", c.res.Records).
		Uint64("chunks", c.res.Chunks).Uint64("bytes", c.res.Bytes).Dur("duration", c.res.Duration).Msg("pull done")
	if h := s.cfg.Hooks.Done; h != nil {
		h(c.res)
	}
	if err == nil {
		return nil
	}
	return status.Error(c.res.Code, c.message(err))
}

// message is the status message the caller gets for err: its text, but
// for a missing file or a transient failure one that does not show the
// worker's paths (the log has the whole error, under the request_id).
func (c *call) message(err error) string {
	what := "file " + strconv.Quote(c.req.GetFileName()) + " in the worker's data directory"
	if c.req.GetObjectName() != "" {
		what = "object " + strconv.Quote(c.req.GetObjectName()) + " in the object store"
	}
	switch {
	case c.res.Code == codes.NotFound:
		return "no " + what
	case c.res.Code == codes.Unavailable && !errors.Is(err, ErrStopping):
		return "streaming the " + what + " failed on the worker (transient: retry); its log has the cause under request_id " + c.res.RequestID
	}
	return err.Error()
}

// run serves the call while it holds a slot. The dataset is released, and
// every goroutine reading it has ended, when it returns.
func (c *call) run() (err error) {
	s, req := c.s, c.req
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // the call reads the mapped file
	defer func() {
		if v := recover(); v != nil {
			if err = dataset.Fault(v); err != nil {
				return // the file was truncated while it was read: transient
			}
			err = recovered(v) // a bug: fail this call, not the worker
			c.log.Error().Err(err).Msg("pull: recovered a panic")
		}
	}()
	if h := s.cfg.Hooks.Started; h != nil {
		h(c.res.RequestID)
	}
	// The call's context also ends, with ErrStopping, at the stop timeout.
	ctx, cancel := context.WithCancelCause(c.rpc.Context())
	defer cancel(nil)
	stop := context.AfterFunc(s.stopCtx, func() { cancel(context.Cause(s.stopCtx)) })
	defer stop()
	// A call that ends because its context ended reports the cause: the
	// caller went away (Canceled) or the worker stops (ErrStopping).
	defer func() {
		if err != nil && ctx.Err() != nil && !errors.Is(err, context.Cause(ctx)) {
			err = fmt.Errorf("%w (%v)", context.Cause(ctx), err)
		}
	}()

	ref, err := checkRequest(req)
	if err != nil {
		return err
	}
	dom, err := s.domains.Lookup(req.GetDomain())
	if err != nil {
		return fmt.Errorf("look up domain: %w", err)
	}
	c.known = true
	ref.KeyColumn = dom.IDField // a dict keyed by id puts its keys there

	ds, st, err := s.data.Load(ctx, ref)
	if err != nil {
		return err
	}
	var verdict chan error // set once validation runs
	defer func() {
		if verdict != nil {
			<-verdict // the validation holds the dataset: wait for it to let go
		}
		ds.Release()
	}()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("after loading: %w", context.Cause(ctx))
	}
	src := ds.Source()
	id := req.GetIngestId()
	if id == "" {
		id = derivedPrefix + req.GetDomain() + "-" + st.SHA256[:16]
		if err := wire.ValidateID("ingest_id", id); err != nil {
			return badRequest("the derived ingest_id %q breaks the contract's rules (%v): give one in ingest_id", id, err)
		}
		c.res.IngestID = id
		c.log = c.log.With().Str("ingest_id", id).Logger()
	}
	c.log.Info().Str("domain", dom.Name).Int("records", src.Rows()).Int64("file_bytes", st.FileBytes).Str("sha256", st.SHA256).
		Dur("read", st.Read).Dur("load", st.Load).Msg("pull loaded")

	from := chunk.Start{Sequence: req.GetResumeFromSequence(), Record: int(min(req.GetResumeFromRecord(), uint64(src.Rows())+1))}
	if from.Record > src.Rows() {
		return badRequest("resume_from_record %d is above the dataset's %d records", req.GetResumeFromRecord(), src.Rows())
	}
	// What the schema decides fails the call before the first message.
	if err := dom.CheckSchema(src); err != nil {
		return fmt.Errorf("validate %s: %w", c.res.FileName, err)
	}
	opts := chunk.Options{Records: s.cfg.ChunkRecords, Bytes: s.cfg.ChunkBytes, MaxBytes: s.cfg.MaxMsgBytes}
	if o := req.GetOptions(); o != nil {
		if o.GetMaxRecords() > 0 {
			opts.Records = int(o.GetMaxRecords())
		}
		if o.GetTargetBytes() > 0 {
			opts.Bytes = int64(min(o.GetTargetBytes(), 1<<40))
		}
	}
	enc := chunk.NewEncoder(src, opts)
	md, err := firstMessage(enc, sink.Meta{
		IngestID: id, Domain: dom.Name, FileName: c.res.FileName, Attempt: 1, SourceSHA256: st.SHA256,
	}, from)
	if err != nil {
		return err
	}

	// The rows are validated while they stream; a failed verdict stops
	// the stream, and the call ends with it instead of OK.
	verdict = make(chan error, 1)
	ds.Retain()
	go func() {
		var err error
		defer func() {
			if v := recover(); v != nil {
				err = recovered(v)
			}
			ds.Release() // before the verdict: run's release is then the last
			verdict <- err
		}()
		err = dataset.Guard(func() error { return dom.ValidateSource(src) })
	}()
	var (
		validated   bool
		validateErr error
	)
	checkVerdict := func(wait bool) error {
		if !validated {
			if wait {
				validateErr, validated = <-verdict, true
			} else {
				select {
				case validateErr = <-verdict:
					validated = true
				default:
				}
			}
			if validated {
				verdict = nil // received: nothing left to wait for
			}
		}
		if validateErr != nil {
			return fmt.Errorf("validate %s: %w", c.res.FileName, validateErr)
		}
		return nil
	}

	if err := c.rpc.SendMsg(md); err != nil {
		return c.sendFailed(ctx, "send metadata", err)
	}
	c.lastLog = time.Now()
	records := uint64(from.Record)
	err = enc.Pipe(ctx, from, func(m *chunk.Message) error {
		if err := checkVerdict(false); err != nil {
			m.Free() // not sent: the message is still ours
			return err
		}
		size, n := m.Size, m.Records
		if err := c.rpc.SendMsg(m); err != nil { // gRPC owns m now, sent or not
			return c.sendFailed(ctx, "send chunk", err)
		}
		records += uint64(n)
		c.res.Records += uint64(n)
		c.res.Chunks++
		c.res.Bytes += uint64(size)
		if h := s.cfg.Hooks.Sent; h != nil {
			h(c.res.RequestID, c.res.Chunks, c.res.Bytes)
		}
		if time.Since(c.lastLog) >= progressEvery {
			c.lastLog = time.Now()
			c.log.Info().Uint64("records", records).Int("total_records", src.Rows()).Uint64("chunks", c.res.Chunks).
				Uint64("bytes", c.res.Bytes).Msg("pull progress")
		}
		return nil
	})
	if verr := checkVerdict(err == nil); verr != nil {
		return verr // the data is invalid: it wins over whatever else ended the stream
	}
	if err != nil {
		return err
	}
	return nil
}

// sendFailed describes a failed send: the caller went away (the context's
// cause) or the transport broke.
func (c *call) sendFailed(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// checkRequest checks what the contract's rules say of a request and
// returns where its file is. Errors wrap [ErrBadRequest].
func checkRequest(req *pb.DatasetRequest) (dataset.Ref, error) {
	if err := wire.ValidateID("domain", req.GetDomain()); err != nil {
		return dataset.Ref{}, badRequest("%v", err)
	}
	if id := req.GetIngestId(); id != "" {
		if err := wire.ValidateID("ingest_id", id); err != nil {
			return dataset.Ref{}, badRequest("%v", err)
		}
	}
	if seq, rec := req.GetResumeFromSequence(), req.GetResumeFromRecord(); (seq == 0) != (rec == 0) {
		return dataset.Ref{}, badRequest("resume_from_sequence %d with resume_from_record %d: both are 0 (from the start) or both above 0", seq, rec)
	}
	var ref dataset.Ref
	switch src := req.GetSource().(type) {
	case *pb.DatasetRequest_FileName:
		ref = dataset.Ref{Origin: dataset.InDataDir, Name: src.FileName}
	case *pb.DatasetRequest_ObjectName:
		ref = dataset.Ref{Origin: dataset.InObjectStore, Name: src.ObjectName}
	default:
		return dataset.Ref{}, badRequest("the request names no source: set file_name or object_name")
	}
	switch n := utf8.RuneCountInString(ref.Name); {
	case n == 0:
		return dataset.Ref{}, badRequest("the source's name is empty")
	case n > MaxNameLen:
		return dataset.Ref{}, badRequest("the source's name is %d characters long (at most %d)", n, MaxNameLen)
	}
	return ref, nil
}

// firstMessage returns the stream's first message: the encoder's metadata,
// with the resume point when the stream starts past the beginning.
func firstMessage(enc *chunk.Encoder, meta sink.Meta, from chunk.Start) (any, error) {
	return enc.Metadata(meta, from)
}

// peerAddr returns the caller's address, for the log.
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// newRequestID returns a random id naming one call in the logs.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
