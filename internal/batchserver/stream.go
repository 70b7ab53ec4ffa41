package batchserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// writeBufferSize is the buffer between the canonical writer and the temp
// file; canonical.WriteRows reuses a *bufio.Writer at least this large.
const writeBufferSize = 1 << 20

// stream is one IngestDataStream call in progress.
type stream struct {
	s       *Server
	rpc     pb.EmbeddingStreamService_IngestDataStreamServer
	md      *pb.IngestMetadata
	schema  []table.Field
	records uint64
	chunks  uint64
	claim   *claim        // held in s.inFlight[md.IngestId]; nil before the claim
	stop    chan struct{} // closed when the handler is done: ends the receive goroutine

	received uint64 // bytes of the messages received: the output budget's base
	tmp      *os.File
	out      *budgetWriter // counts and bounds what reaches tmp
	bw       *bufio.Writer // buffers out
}

// IngestDataStream implements the contract's one RPC; see the package doc
// for the semantics.
func (s *Server) IngestDataStream(rpc pb.EmbeddingStreamService_IngestDataStreamServer) error {
	start := time.Now()
	n := s.stats.streams.Add(1)
	s.stats.inFlight.Add(1)
	defer s.stats.inFlight.Add(-1)

	st := &stream{s: s, rpc: rpc}
	var (
		out Outcome
		err error
	)
	if s.injectFault(n) {
		out, err = OutcomeInjected, status.Error(codes.Unavailable, "fault injection: try again")
	} else {
		out, err = st.run(rpc.Context())
		st.cleanup()
	}
	res := Result{Outcome: out, Err: err, Records: st.records, Chunks: st.chunks, Duration: time.Since(start)}
	if st.md != nil {
		res.IngestID, res.Domain, res.Attempt = st.md.GetIngestId(), st.md.GetDomain(), st.md.GetAttempt()
	}
	s.finish(res)
	return err
}

// injectFault decides whether fault injection answers stream number n
// (1-based).
func (s *Server) injectFault(n uint64) bool {
	if n <= uint64(s.cfg.FailFirst) {
		return true
	}
	if s.cfg.FailRate <= 0 {
		return false
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64() < s.cfg.FailRate
}

// finish counts, logs and signals a finished stream.
func (s *Server) finish(res Result) {
	c := &s.stats
	var ev *zerolog.Event
	switch res.Outcome {
	case OutcomeCommitted:
		c.commits.Add(1)
		c.records.Add(res.Records)
		ev = s.log.Info()
	case OutcomeDuplicate:
		c.duplicates.Add(1)
		ev = s.log.Info()
	case OutcomeRejected:
		c.rejected.Add(1)
		ev = s.log.Warn()
	case OutcomeInjected:
		c.injected.Add(1)
		ev = s.log.Info()
	default:
		c.aborted.Add(1)
		ev = s.log.Warn()
	}
	ev = ev.Str("ingest_id", res.IngestID).Str("domain", res.Domain).Uint32("attempt", res.Attempt).
		Uint64("records", res.Records).Uint64("chunks", res.Chunks).Str("outcome", string(res.Outcome)).
		Dur("duration", res.Duration)
	if res.Err != nil {
		ev = ev.Str("code", status.Code(res.Err).String()).Err(res.Err)
	}
	ev.Msg("stream done")
	if h := s.cfg.Hooks.StreamDone; h != nil {
		h(res)
	}
}

// run receives, validates, writes and commits the stream, and answers it.
func (st *stream) run(ctx context.Context) (Outcome, error) {
	s := st.s
	msg, err := st.rpc.Recv()
	if errors.Is(err, io.EOF) {
		return OutcomeRejected, invalid("the stream ended before its metadata")
	}
	if err != nil {
		return recvFailure(ctx, err)
	}
	md := msg.GetMetadata()
	if md == nil {
		return OutcomeRejected, invalid("the first message must carry metadata")
	}
	st.md = md
	st.received = uint64(proto.Size(msg))
	if err := wire.ValidateMetadata(md); err != nil {
		return OutcomeRejected, invalid("%v", err)
	}
	if err := checkSchemaBounds(md); err != nil {
		return OutcomeRejected, invalid("%v", err)
	}
	schema, err := wire.SchemaFromProto(md.GetSchema())
	if err != nil { // checked by ValidateMetadata; kept for the schema value
		return OutcomeRejected, invalid("%v", err)
	}
	st.schema = schema

	if dup, out, err := st.acquire(ctx); dup || err != nil {
		return out, err
	}
	if !s.cfg.Discard {
		f, err := os.CreateTemp(s.tmpDir, md.GetIngestId()+".*.jsonl")
		if err != nil {
			return OutcomeAborted, status.Errorf(codes.Unavailable, "batch server storage: %v", err)
		}
		st.tmp, st.out = f, &budgetWriter{f: f}
		st.bw = bufio.NewWriterSize(st.out, writeBufferSize)
	}

	msgs := st.receive()
	for {
		var r received
		select {
		case r = <-msgs:
		case <-st.claim.preempt:
			return OutcomeAborted, preempted(md)
		}
		if errors.Is(r.err, io.EOF) {
			break
		}
		if r.err != nil {
			return recvFailure(ctx, r.err)
		}
		if out, err := st.chunk(ctx, r.msg); err != nil {
			return out, err
		}
	}
	if st.records != md.GetTotalRecords() {
		return OutcomeRejected, invalid("the stream ended after %d of total_records %d records", st.records, md.GetTotalRecords())
	}
	if err := ctx.Err(); err != nil { // the client gave up before the commit began
		return OutcomeAborted, status.FromContextError(err).Err()
	}
	if !st.beginCommit() {
		return OutcomeAborted, preempted(md)
	}
	e, err := st.commit()
	if err != nil {
		return OutcomeAborted, err
	}
	resp := &pb.IngestDataResponse{
		IngestId: md.GetIngestId(), RecordsReceived: st.records, ChunksReceived: st.chunks,
		Message: fmt.Sprintf("committed %d records", e.Records),
	}
	if err := st.rpc.SendAndClose(resp); err != nil {
		// Committed all the same: a retry is answered duplicate=true.
		return OutcomeCommitted, err
	}
	return OutcomeCommitted, nil
}

// acquire answers a stream whose ingest_id is committed already, or takes the
// id's in-flight claim so no concurrent stream can commit it too. A stream
// of a later attempt than the holder's preempts the holder (whose delivery
// the queue has given up on) unless its commit has begun, and waits for it
// to let go; a stream of the same or an earlier attempt is answered ABORTED.
func (st *stream) acquire(ctx context.Context) (dup bool, out Outcome, err error) {
	s, md := st.s, st.md
	id := md.GetIngestId()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return false, OutcomeAborted, status.Error(codes.Unavailable, "the batch server is shutting down")
		}
		if e, ok := s.ledger.entries[id]; ok {
			s.mu.Unlock()
			return st.duplicate(e)
		}
		held := s.inFlight[id]
		if held == nil {
			st.claim = &claim{attempt: md.GetAttempt(), preempt: make(chan struct{}), released: make(chan struct{})}
			s.inFlight[id] = st.claim
			s.mu.Unlock()
			return false, "", nil
		}
		if md.GetAttempt() <= held.attempt {
			s.mu.Unlock()
			return false, OutcomeAborted, status.Errorf(codes.Aborted,
				"ingest_id %q is being received on another stream (attempt %d); retry later", id, held.attempt)
		}
		if !held.committing && !held.preempted {
			held.preempted = true
			close(held.preempt)
		}
		s.mu.Unlock()
		select {
		case <-held.released: // look again: committed, or free
		case <-ctx.Done():
			return false, OutcomeAborted, status.FromContextError(ctx.Err()).Err()
		}
	}
}

// duplicate answers a stream whose ingest_id is committed already (entry
// e): duplicate=true, applying nothing, as the contract says. A repeat that
// carries other data (another domain or source_sha256: the file was
// rewritten between deliveries, or a client reused an id) is still a
// duplicate, since the contract makes ingest_id the idempotency key; the
// answer's message and a warning in the log say what differs, so the
// operator can re-ingest under a new id.
func (st *stream) duplicate(e Entry) (bool, Outcome, error) {
	md := st.md
	id := md.GetIngestId()
	msg := fmt.Sprintf("already committed at %s (%d records); nothing applied", e.CommittedAt.Format(time.RFC3339), e.Records)
	var differs []string
	if e.Domain != md.GetDomain() {
		differs = append(differs, fmt.Sprintf("domain %q, not %q", e.Domain, md.GetDomain()))
	}
	if e.SHA256 != "" && e.SHA256 != md.GetSourceSha256() {
		differs = append(differs, fmt.Sprintf("source_sha256 %s, not %s", e.SHA256, md.GetSourceSha256()))
	}
	if len(differs) > 0 {
		msg += "; WARNING: the committed ingest had " + strings.Join(differs, " and ") + ": this stream's data was not applied (use a new ingest_id to ingest it)"
		st.s.log.Warn().Str("ingest_id", id).Strs("differs", differs).Msg("duplicate ingest_id with other data: answered duplicate, nothing applied")
	}
	resp := &pb.IngestDataResponse{IngestId: id, Duplicate: true, Message: msg}
	if err := st.rpc.SendAndClose(resp); err != nil {
		return true, OutcomeAborted, err
	}
	return true, OutcomeDuplicate, nil
}

// received is one Recv result.
type received struct {
	msg *pb.IngestDataRequest
	err error
}

// receive calls Recv in a goroutine of its own, so the handler can also
// watch for preemption. The goroutine ends after the first error (io.EOF
// included); if the handler returns first, gRPC ends the stream, which ends
// the pending Recv, and cleanup's closing st.stop ends the goroutine.
func (st *stream) receive() <-chan received {
	ch := make(chan received, 1)
	st.stop = make(chan struct{})
	go func() {
		for {
			m, err := st.rpc.Recv()
			select {
			case ch <- received{m, err}:
			case <-st.stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// beginCommit marks the claim as committing, so it can no longer be
// preempted; it reports false if it was preempted already.
func (st *stream) beginCommit() bool {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if st.claim.preempted {
		return false
	}
	st.claim.committing = true
	return true
}

// chunk checks one message after the metadata and writes its records.
func (st *stream) chunk(ctx context.Context, msg *pb.IngestDataRequest) (Outcome, error) {
	s, md := st.s, st.md
	ch := msg.GetChunk()
	if ch == nil {
		if msg.GetMetadata() != nil {
			return OutcomeRejected, invalid("metadata sent again after %d chunks; it comes first and once", st.chunks)
		}
		return OutcomeRejected, invalid("message %d carries neither metadata nor a chunk", st.chunks+1)
	}
	if ch.GetSequence() != st.chunks {
		return OutcomeRejected, invalid("chunk sequence %d, want %d (0-based, no gaps)", ch.GetSequence(), st.chunks)
	}
	if ch.GetFirstRecord() != st.records {
		return OutcomeRejected, invalid("chunk %d: first_record %d, want %d (records received before it)", ch.GetSequence(), ch.GetFirstRecord(), st.records)
	}
	if n := st.records + uint64(ch.GetRecordCount()); n > md.GetTotalRecords() {
		return OutcomeRejected, invalid("chunk %d brings the records to %d, more than total_records %d", ch.GetSequence(), n, md.GetTotalRecords())
	}
	t, err := wire.ChunkFromWire(st.schema, ch)
	if err != nil {
		return OutcomeRejected, invalid("%v", err)
	}
	st.received += uint64(proto.Size(msg))
	if st.bw != nil {
		st.out.limit = outputBudget(st.received)
		err := canonical.WriteTable(st.bw, t)
		if err == nil && st.out.written+int64(st.bw.Buffered()) > st.out.limit {
			err = errOutputRatio
		}
		if errors.Is(err, errOutputRatio) {
			return OutcomeRejected, invalid("chunk %d: the canonical output would exceed %d times the %d bytes received plus %d bytes (the output ratio bound)",
				ch.GetSequence(), MaxOutputRatio, st.received, OutputSlackBytes)
		}
		if err != nil {
			return OutcomeAborted, status.Errorf(codes.Unavailable, "batch server storage: chunk %d: %v", ch.GetSequence(), err)
		}
	}
	st.records += uint64(ch.GetRecordCount())
	st.chunks++
	if h := s.cfg.Hooks.ChunkReceived; h != nil {
		h(md.GetIngestId(), ch.GetSequence())
	}
	if d := s.cfg.ChunkDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return OutcomeAborted, status.FromContextError(ctx.Err()).Err()
		case <-st.claim.preempt:
			t.Stop()
			return OutcomeAborted, preempted(md)
		case <-t.C:
		}
	}
	return "", nil
}

// commit makes the stream's records durable and visible, all or nothing:
// fsync the temp file, rename it to <out>/<domain>/<id>.jsonl, fsync the
// directory, then append the ledger entry (fsynced). It runs to the end even
// if the stream is cancelled meanwhile.
func (st *stream) commit() (Entry, error) {
	s, md := st.s, st.md
	if st.tmp != nil {
		if err := st.syncTemp(); err != nil {
			return Entry{}, status.Errorf(codes.Unavailable, "batch server storage: %v", err)
		}
		dir := filepath.Join(s.cfg.OutDir, md.GetDomain())
		if err := ensureDir(dir); err != nil {
			return Entry{}, status.Errorf(codes.Unavailable, "batch server storage: %v", err)
		}
		final := filepath.Join(dir, md.GetIngestId()+".jsonl")
		if err := os.Rename(st.tmp.Name(), final); err != nil {
			return Entry{}, status.Errorf(codes.Unavailable, "batch server storage: %v", err)
		}
		st.tmp = nil // renamed: nothing to clean up
		if err := syncDir(dir); err != nil {
			return Entry{}, status.Errorf(codes.Unavailable, "batch server storage: %v", err)
		}
	}
	e := Entry{
		IngestID: md.GetIngestId(), Domain: md.GetDomain(), FileName: md.GetFileName(),
		Records: st.records, Chunks: st.chunks, SHA256: md.GetSourceSha256(), Attempt: md.GetAttempt(),
		CommittedAt: time.Now().UTC(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		// The file (if any) is in place; the next start recovers its entry.
		return Entry{}, status.Error(codes.Unavailable, "the batch server is shutting down")
	}
	if err := s.ledger.append(e); err != nil {
		if !s.cfg.Discard {
			// The file is in place, so the stream is applied: remember it,
			// as the next start would, so a retry is answered duplicate.
			s.ledger.entries[e.IngestID] = Entry{IngestID: e.IngestID, Domain: e.Domain, Records: e.Records, CommittedAt: e.CommittedAt, Recovered: true}
		}
		return Entry{}, status.Errorf(codes.Unavailable, "batch server ledger: %v", err)
	}
	return e, nil
}

// syncTemp flushes, fsyncs and closes the temp file.
func (st *stream) syncTemp() error {
	if err := st.bw.Flush(); err != nil {
		return err
	}
	if err := st.tmp.Sync(); err != nil {
		return err
	}
	return st.tmp.Close()
}

// cleanup removes an uncommitted temp file and releases the in-flight claim.
func (st *stream) cleanup() {
	if st.stop != nil {
		close(st.stop)
	}
	if st.tmp != nil {
		_ = st.tmp.Close() // may be closed already by syncTemp; removal is what matters
		if err := os.Remove(st.tmp.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
			st.s.log.Error().Err(err).Str("ingest_id", st.md.GetIngestId()).Msg("remove temp file")
		}
		st.tmp = nil
	}
	if st.claim != nil {
		st.s.mu.Lock()
		if st.s.inFlight[st.md.GetIngestId()] == st.claim {
			delete(st.s.inFlight, st.md.GetIngestId())
		}
		st.s.mu.Unlock()
		close(st.claim.released)
	}
}

// recvFailure classifies a Recv error. grpc-go has already answered the
// client with the error's status (it does so for every Recv error but EOF):
// INTERNAL for a message it could not unmarshal, such as a string field
// that is not UTF-8 (a broken stream: counted as rejected),
// RESOURCE_EXHAUSTED for one above the size limit, CANCELED for a client
// that went away.
func recvFailure(ctx context.Context, err error) (Outcome, error) {
	if status.Code(err) == codes.Internal {
		return OutcomeRejected, err
	}
	if ctx.Err() != nil {
		return OutcomeAborted, status.FromContextError(ctx.Err()).Err()
	}
	return OutcomeAborted, err
}

// preempted is the ABORTED status of a stream that a later attempt took
// over from.
func preempted(md *pb.IngestMetadata) error {
	return status.Errorf(codes.Aborted, "a stream of a later attempt of ingest_id %q took over; this one (attempt %d) applies nothing",
		md.GetIngestId(), md.GetAttempt())
}

// invalid returns an INVALID_ARGUMENT status error.
func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// ensureDir creates dir if needed, fsyncing its parent so the new entry is
// durable.
func ensureDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// syncDir fsyncs a directory, making renames and creations in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
