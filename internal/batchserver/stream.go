package batchserver

import (
	"bufio"
	"context"
	"encoding/json"
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

// ingestStream is where a stream's messages come from and its answer goes:
// the client stream of an IngestDataStream call (push), or a pulled server
// stream of DatasetService.StreamDataset adapted by [Server.Pull], whose
// io.EOF is the worker's OK and whose answer stays local.
type ingestStream interface {
	Recv() (*pb.IngestDataRequest, error)
	SendAndClose(*pb.IngestDataResponse) error
}

// stream is one ingest stream in progress: a push (IngestDataStream) or a
// pull ([Server.Pull]).
type stream struct {
	s      *Server
	rpc    ingestStream
	pulled bool // a pull: Recv errors are the worker's statuses
	// resumeRefused is set when the stream's resume point does not match
	// the staged state (answered ABORTED).
	resumeRefused bool
	md            *pb.IngestMetadata
	schema        []table.Field
	resp          *pb.IngestDataResponse // the answer, once the stream is answered
	claim         *claim                 // held in s.inFlight[md.IngestId]; nil before the claim
	stop          chan struct{}          // closed when the handler is done: ends the receive goroutine

	// Counts over the whole ingest: the staged chunks the stream resumed
	// from (resumedChunks, resumedRecords), then its own.
	records, chunks               uint64
	resumedChunks, resumedRecords uint64
	// received counts the bytes of every message received for the ingest
	// (over the streams that staged it): the output ratio's base.
	// receivedAtEnd is its value at the end of the last complete chunk.
	received, receivedAtEnd uint64

	stg      *staging // the id's staging, which this stream writes; nil without one
	data     *os.File // stg's JSONL; nil with Discard
	manifest *os.File // stg's manifest, open for appends; nil in contract v1, and until the first boundary
	// header is the manifest's header line of a new staging, written with
	// its first boundary: a stream that commits before any boundary (most
	// small ones) never writes a manifest. Nil once written, and for a
	// resumed staging or in contract v1.
	header []byte
	out    *budgetWriter // bounds and counts what reaches data
	bw     *bufio.Writer // buffers out

	chunkEnd  int64     // JSONL bytes at the end of the last complete chunk
	unsynced  int64     // bytes written (Discard: received) since the last synced boundary
	lastSync  time.Time // when the last boundary was synced (or the stream began)
	drop      string    // when set, cleanup drops the staging for this reason
	committed bool      // the staging went into the commit
}

// IngestDataStream implements the contract's push RPC; see the package doc
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
		st.cleanup(out)
	}
	res := Result{
		Outcome: out, Err: err, Duration: time.Since(start),
		Records: st.records - st.resumedRecords, Chunks: st.chunks - st.resumedChunks,
		ResumedRecords: st.resumedRecords, ResumedChunks: st.resumedChunks,
	}
	st.fill(&res)
	s.finish(res)
	return err
}

// fill copies what the stream learnt into res: its metadata's ids and the
// answer's message.
func (st *stream) fill(res *Result) {
	if st.md != nil {
		res.IngestID, res.Domain, res.Attempt = st.md.GetIngestId(), st.md.GetDomain(), st.md.GetAttempt()
	}
	if st.resp != nil {
		res.Message = st.resp.GetMessage()
	}
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
		c.records.Add(res.ResumedRecords + res.Records)
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
	if res.Pulled {
		c.pulls.Add(1)
		ev = ev.Bool("pull", true)
	}
	ev = ev.Str("ingest_id", res.IngestID).Str("domain", res.Domain).Uint32("attempt", res.Attempt).
		Uint64("records", res.Records).Uint64("chunks", res.Chunks).Uint64("resumed_chunks", res.ResumedChunks).
		Uint64("resumed_records", res.ResumedRecords).Str("outcome", string(res.Outcome)).
		Dur("duration", res.Duration)
	if res.Err != nil {
		ev = ev.Str("code", status.Code(res.Err).String()).Err(res.Err)
	}
	ev.Msg("stream done")
	if h := s.cfg.Hooks.StreamDone; h != nil {
		h(res)
	}
}

// run receives, validates, stages and commits the stream, and answers it.
func (st *stream) run(ctx context.Context) (Outcome, error) {
	s := st.s
	msg, err := st.rpc.Recv()
	if errors.Is(err, io.EOF) {
		return OutcomeRejected, invalid("the stream ended before its metadata")
	}
	if err != nil {
		return st.recvFailure(ctx, err)
	}
	md := msg.GetMetadata()
	if md == nil {
		return OutcomeRejected, invalid("the first message must carry metadata")
	}
	st.md = md
	st.received = uint64(proto.Size(msg))
	if s.cfg.Contract == ContractV1 {
		// A v1 server knows none of v2's fields: to it they are unknown
		// fields, skipped as protobuf skips them. A resumed stream
		// therefore looks like a full one with a sequence gap.
		md.ResumeFromSequence, md.ResumeFromRecord, md.ChunkOptions = 0, 0, nil
	}
	if err := wire.ValidateMetadata(md); err != nil {
		return OutcomeRejected, invalid("%v", err)
	}
	if err := checkSchemaBounds(md); err != nil {
		return OutcomeRejected, invalid("%v", err)
	}
	if err := checkResume(md); err != nil {
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
	if out, err := st.openStaging(); err != nil {
		return out, err
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
			return st.recvFailure(ctx, r.err)
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
	e, out, err := st.commit()
	if err != nil {
		return out, err
	}
	msgText := fmt.Sprintf("committed %d records", e.Records)
	if st.resumedChunks > 0 {
		msgText += fmt.Sprintf(" (%d chunks, %d records staged before this stream)", st.resumedChunks, st.resumedRecords)
	}
	resp := &pb.IngestDataResponse{
		IngestId: md.GetIngestId(), RecordsReceived: st.records - st.resumedRecords, ChunksReceived: st.chunks - st.resumedChunks,
		Message: msgText,
	}
	st.resp = resp
	if err := st.rpc.SendAndClose(resp); err != nil {
		// Committed all the same: a retry is answered duplicate=true.
		return OutcomeCommitted, err
	}
	return OutcomeCommitted, nil
}

// checkResume checks the v2 value rules of the resume point:
// resume_from_sequence is 0 exactly when resume_from_record is, and
// resume_from_record <= total_records.
func checkResume(md *pb.IngestMetadata) error {
	seq, rec := md.GetResumeFromSequence(), md.GetResumeFromRecord()
	if (seq == 0) != (rec == 0) {
		return fmt.Errorf("resume_from_sequence %d with resume_from_record %d: both are 0 (a full stream) or both above 0", seq, rec)
	}
	if rec > md.GetTotalRecords() {
		return fmt.Errorf("resume_from_record %d is above total_records %d", rec, md.GetTotalRecords())
	}
	return nil
}

// openStaging gives the stream, which holds its id's claim, somewhere to
// write: in contract v1 a temp JSONL of its own; for a full stream a new
// staging, replacing any the id had; for a resumed stream the id's staging,
// if it matches the resume point exactly (else ABORTED).
func (st *stream) openStaging() (Outcome, error) {
	s, md := st.s, st.md
	st.lastSync = time.Now()
	switch {
	case s.cfg.Contract == ContractV1:
		if s.cfg.Discard {
			return "", nil
		}
		if s.stagingUsed.Load() >= s.cfg.StagingMaxBytes {
			return OutcomeAborted, st.stagingFull()
		}
		st.stg = &staging{id: md.GetIngestId(), v1: true}
		if err := st.openData(os.O_CREATE|os.O_TRUNC, 0); err != nil {
			return OutcomeAborted, status.Errorf(codes.Unavailable, "batch server storage: %v", err)
		}
		return "", nil
	case md.GetResumeFromSequence() > 0:
		return st.resume()
	default:
		return st.replace()
	}
}

// replace starts a new staging for a full stream, dropping whatever the id
// had staged: the client chose not to resume it.
func (st *stream) replace() (Outcome, error) {
	s, md := st.s, st.md
	id := md.GetIngestId()
	s.mu.Lock()
	old := s.staged[id]
	s.mu.Unlock()
	if old != nil {
		s.dropStaging(old, DropReplaced)
	}
	now := time.Now()
	hdr := headerFrom(md, s.cfg.Discard, now)
	line, err := json.Marshal(hdr)
	if err != nil {
		return OutcomeAborted, status.Errorf(codes.Internal, "encode staging manifest: %v", err)
	}
	line = append(line, '\n')
	if !s.reserve(int64(len(line))) {
		return OutcomeAborted, st.stagingFull()
	}
	st.stg = &staging{id: id, hdr: hdr, schema: st.schema, expires: now.Add(s.cfg.StagingTTL), manifestBytes: int64(len(line))}
	if !s.cfg.Discard {
		if err := st.openData(os.O_CREATE|os.O_TRUNC, 0); err != nil {
			st.drop = DropStorageError
			return OutcomeAborted, status.Errorf(codes.Unavailable, "batch server storage: %v", err)
		}
	}
	st.header = line // the manifest is created with the first boundary
	s.mu.Lock()
	s.staged[id] = st.stg
	s.mu.Unlock()
	return "", nil
}

// resume continues the id's staging from the stream's resume point, which
// must be exactly its last synced boundary, with the same source_sha256,
// domain, total_records and schema; otherwise the stream is answered
// ABORTED (the client asks GetIngestState again) and the staging is left
// as it is.
func (st *stream) resume() (Outcome, error) {
	s, md := st.s, st.md
	id := md.GetIngestId()
	s.mu.Lock()
	stg := s.staged[id]
	var last boundary
	if stg != nil {
		last = stg.last
	}
	s.mu.Unlock()
	if why := resumeMismatch(md, st.schema, stg, last); why != "" {
		st.resumeRefused = true
		return OutcomeAborted, status.Errorf(codes.Aborted, "cannot resume ingest_id %q at sequence %d, record %d: %s; ask GetIngestState again",
			id, md.GetResumeFromSequence(), md.GetResumeFromRecord(), why)
	}
	if s.stagingUsed.Load() >= s.cfg.StagingMaxBytes {
		return OutcomeAborted, st.stagingFull()
	}
	st.stg = stg
	if stg.manifestBroken {
		// A failed append could not be cut back: nothing more can be
		// recorded, so the staging is of no use. The retry finds nothing
		// staged and sends a full stream.
		st.drop = DropStorageError
		return OutcomeAborted, status.Errorf(codes.Unavailable, "batch server storage: the staging manifest of %q is unusable; send a full stream", id)
	}
	m, err := os.OpenFile(s.stagingPath(id, manifestSuffix), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		st.drop = DropStorageError
		return OutcomeAborted, status.Errorf(codes.Unavailable, "batch server storage: open manifest: %v", err)
	}
	st.manifest = m
	if !s.cfg.Discard {
		// The JSONL may run past the boundary (a chunk written but not
		// synced): cut it back.
		if err := st.openData(0, last.Bytes); err != nil {
			st.drop = DropStorageError
			return OutcomeAborted, status.Errorf(codes.Unavailable, "batch server storage: %v", err)
		}
	}
	st.chunks, st.records = last.Chunks, last.Records
	st.resumedChunks, st.resumedRecords = last.Chunks, last.Records
	st.received += last.Received
	st.receivedAtEnd = st.received
	st.chunkEnd = last.Bytes
	s.stats.resumed.Add(1)
	return "", nil
}

// openData opens the staging JSONL (flags: O_CREATE|O_TRUNC for a new one)
// and cuts it to size bytes, where the stream continues.
func (st *stream) openData(flags int, size int64) error {
	stg := st.stg
	f, err := os.OpenFile(st.s.stagingPath(stg.id, dataSuffix), os.O_RDWR|flags, 0o644)
	if err != nil {
		return fmt.Errorf("open staged JSONL: %w", err)
	}
	st.data = f
	if flags&os.O_TRUNC == 0 {
		if err := f.Truncate(size); err != nil {
			return fmt.Errorf("cut staged JSONL back to %d bytes: %w", size, err)
		}
		if _, err := f.Seek(size, io.SeekStart); err != nil {
			return fmt.Errorf("seek staged JSONL: %w", err)
		}
		st.s.stagingUsed.Add(size - stg.dataBytes)
		stg.dataBytes = size
	}
	st.out = &budgetWriter{s: st.s, stg: stg, f: f}
	st.bw = bufio.NewWriterSize(st.out, writeBufferSize)
	return nil
}

// stagingFull is the RESOURCE_EXHAUSTED status of a stream refused by
// Config.StagingMaxBytes.
func (st *stream) stagingFull() error {
	s := st.s
	return status.Errorf(codes.ResourceExhausted, "the batch server's staging area is full (%d of %d bytes): retry later",
		s.stagingUsed.Load(), s.cfg.StagingMaxBytes)
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
	st.resp = resp
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

// chunk checks one message after the metadata, writes its records and,
// when the sync policy says so, syncs a boundary.
func (st *stream) chunk(ctx context.Context, msg *pb.IngestDataRequest) (Outcome, error) {
	s, md := st.s, st.md
	ch := msg.GetChunk()
	if ch == nil {
		if msg.GetMetadata() != nil {
			return OutcomeRejected, invalid("metadata sent again after %d chunks; it comes first and once", st.chunks-st.resumedChunks)
		}
		return OutcomeRejected, invalid("message %d carries neither metadata nor a chunk", st.chunks-st.resumedChunks+1)
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
	size := uint64(proto.Size(msg))
	st.received += size
	if st.bw != nil {
		st.out.limit = outputBudget(st.received)
		err := canonical.WriteTable(st.bw, t)
		end := st.stg.dataBytes + int64(st.bw.Buffered())
		if err == nil && end > st.out.limit {
			err = errOutputRatio
		}
		if errors.Is(err, errOutputRatio) {
			return OutcomeRejected, invalid("chunk %d: the canonical output would exceed %d times the %d bytes received plus %d bytes (the output ratio bound)",
				ch.GetSequence(), MaxOutputRatio, st.received, OutputSlackBytes)
		}
		if err != nil {
			return st.storageFailure(fmt.Errorf("chunk %d: %w", ch.GetSequence(), err))
		}
		st.unsynced += end - st.chunkEnd
		st.chunkEnd = end
	} else {
		st.unsynced += int64(size)
	}
	st.records += uint64(ch.GetRecordCount())
	st.chunks++
	st.receivedAtEnd = st.received
	if st.durable() && (st.unsynced >= s.cfg.StagingSyncBytes || time.Since(st.lastSync) >= s.cfg.StagingSyncInterval) {
		if err := st.syncBoundary(); err != nil {
			return st.storageFailure(fmt.Errorf("stage chunk %d: %w", ch.GetSequence(), err))
		}
	}
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

// storageFailure answers a failure to write or sync the staging: the
// staging area's bound (RESOURCE_EXHAUSTED; the stream's staging is dropped
// to free the area) or the disk (UNAVAILABLE).
func (st *stream) storageFailure(err error) (Outcome, error) {
	if errors.Is(err, errStagingFull) {
		st.drop = DropFull
		return OutcomeAborted, st.stagingFull()
	}
	return OutcomeAborted, status.Errorf(codes.Unavailable, "batch server storage: %v", err)
}

// durable reports whether the stream stages durably (contract v2): it has
// a manifest, or will create one with its first boundary.
func (st *stream) durable() bool { return st.manifest != nil || st.header != nil }

// syncBoundary makes the complete chunks received durable and reports them
// as staged: it flushes and fsyncs the JSONL, appends the boundary to the
// manifest and fsyncs it. Bytes past the boundary (a chunk cut short) may
// reach the disk too; a resume cuts them off.
func (st *stream) syncBoundary() error {
	s, md, stg := st.s, st.md, st.stg
	if !st.durable() || st.chunks == stg.last.Chunks {
		return nil
	}
	if st.bw != nil {
		if err := st.bw.Flush(); err != nil {
			return err
		}
		if err := st.data.Sync(); err != nil {
			return fmt.Errorf("sync staged JSONL: %w", err)
		}
	}
	if st.manifest == nil {
		// The first boundary of a new staging: install its manifest (its
		// directory fsync also makes the JSONL's creation durable).
		stg.manifestMade = true // from here on, files may be on disk to remove
		m, err := s.createManifest(stg.id, st.header)
		if err != nil {
			return err
		}
		st.manifest, st.header = m, nil
	}
	now := time.Now()
	b := boundary{
		Chunks: st.chunks, Records: st.records, Bytes: st.chunkEnd, Received: st.receivedAtEnd,
		Attempt: md.GetAttempt(), ChunkOptions: optionsFrom(md.GetChunkOptions()), At: now.UTC(),
	}
	n, err := appendBoundary(st.manifest, stg, b)
	if err != nil {
		return err
	}
	s.stagingUsed.Add(int64(n))
	s.mu.Lock()
	stg.last, stg.expires = b, now.Add(s.cfg.StagingTTL)
	s.mu.Unlock()
	st.unsynced, st.lastSync = 0, now
	if h := s.cfg.Hooks.ChunkStaged; h != nil {
		h(stg.id, b.Chunks, b.Records)
	}
	return nil
}

// commit makes the ingest's records durable and visible, all or nothing:
// flush and fsync the staged JSONL, rename it to <out>/<domain>/<id>.jsonl,
// fsync the directory, append the ledger entry (fsynced), then drop the
// staging. It runs to the end even if the stream is cancelled meanwhile.
func (st *stream) commit() (Entry, Outcome, error) {
	s, md := st.s, st.md
	if st.data != nil {
		if err := st.bw.Flush(); err != nil {
			out, err := st.storageFailure(err)
			return Entry{}, out, err
		}
		err := st.data.Sync()
		err = errors.Join(err, st.data.Close())
		st.data = nil
		if err != nil {
			return Entry{}, OutcomeAborted, status.Errorf(codes.Unavailable, "batch server storage: %v", err)
		}
		dir := filepath.Join(s.cfg.OutDir, md.GetDomain())
		if err := ensureDir(dir); err != nil {
			return Entry{}, OutcomeAborted, status.Errorf(codes.Unavailable, "batch server storage: %v", err)
		}
		if err := os.Rename(s.stagingPath(md.GetIngestId(), dataSuffix), filepath.Join(dir, md.GetIngestId()+".jsonl")); err != nil {
			return Entry{}, OutcomeAborted, status.Errorf(codes.Unavailable, "batch server storage: %v", err)
		}
		st.drop = DropCommitted // the JSONL is in place: the staging is of no more use
		if err := syncDir(dir); err != nil {
			return Entry{}, OutcomeAborted, status.Errorf(codes.Unavailable, "batch server storage: %v", err)
		}
	}
	e := Entry{
		IngestID: md.GetIngestId(), Domain: md.GetDomain(), FileName: md.GetFileName(),
		Records: st.records, Chunks: st.chunks, SHA256: md.GetSourceSha256(), Attempt: md.GetAttempt(),
		ResumedFrom: st.resumedChunks, CommittedAt: time.Now().UTC(),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		// The file (if any) is in place; the next start recovers its entry.
		return Entry{}, OutcomeAborted, status.Error(codes.Unavailable, "the batch server is shutting down")
	}
	if err := s.ledger.append(e); err != nil {
		if !s.cfg.Discard {
			// The file is in place, so the stream is applied: remember it,
			// as the next start would, so a retry is answered duplicate.
			s.ledger.entries[e.IngestID] = Entry{IngestID: e.IngestID, Domain: e.Domain, Records: e.Records, CommittedAt: e.CommittedAt, Recovered: true}
		}
		s.mu.Unlock()
		return Entry{}, OutcomeAborted, status.Errorf(codes.Unavailable, "batch server ledger: %v", err)
	}
	s.mu.Unlock()
	st.committed = true
	if st.stg != nil {
		st.closeFiles()
		s.dropStaging(st.stg, DropCommitted)
	}
	return e, OutcomeCommitted, nil
}

// closeFiles closes the staging files the stream has open.
func (st *stream) closeFiles() {
	for _, f := range []**os.File{&st.data, &st.manifest} {
		if *f != nil {
			if err := (*f).Close(); err != nil {
				st.s.log.Warn().Err(err).Str("ingest_id", st.stg.id).Msg("close staging file")
			}
			*f = nil
		}
	}
}

// cleanup settles the staging of a stream that did not commit and releases
// the in-flight claim. A stream that broke, was cancelled, stopped or
// preempted keeps what it staged: its complete chunks are synced as a last
// boundary, for a retry to resume. A stream refused as invalid, one that
// filled the staging area, a contract v1 stream, and a staging with no
// records synced are dropped.
func (st *stream) cleanup(out Outcome) {
	s := st.s
	if st.stop != nil {
		close(st.stop)
	}
	if stg := st.stg; stg != nil && !st.committed {
		reason := st.drop
		switch {
		case reason != "":
		case stg.v1:
			reason = DropV1
		case out == OutcomeRejected:
			reason = DropRejected
		default:
			if err := st.syncBoundary(); err != nil {
				s.log.Error().Err(err).Str("ingest_id", stg.id).Msg("sync staged chunks of an unfinished stream; the last synced boundary stands")
			}
		}
		st.closeFiles()
		if reason == "" && stg.last.Records == 0 {
			reason = DropEmpty
		}
		if reason != "" {
			s.dropStaging(stg, reason)
		} else {
			s.log.Info().Str("ingest_id", stg.id).Uint64("chunks", stg.last.Chunks).Uint64("records", stg.last.Records).
				Msg("kept staged chunks for a retry to resume")
		}
	}
	if st.claim != nil {
		s.mu.Lock()
		if s.inFlight[st.md.GetIngestId()] == st.claim {
			delete(s.inFlight, st.md.GetIngestId())
		}
		s.mu.Unlock()
		close(st.claim.released)
	}
}

// recvFailure classifies a Recv error. On a push, grpc-go has already
// answered the client with the error's status (it does so for every Recv
// error but EOF): INTERNAL for a message it could not unmarshal, such as a
// string field that is not UTF-8 (a broken stream: counted as rejected),
// RESOURCE_EXHAUSTED for one above the size limit, CANCELED for a client
// that went away. On a pull, the error is the worker's status (or the
// transport's): a permanent one rejects the stream, so what it staged is
// dropped, as the contract says the caller discards everything; a
// transient one keeps it for a resume.
func (st *stream) recvFailure(ctx context.Context, err error) (Outcome, error) {
	switch {
	case st.pulled && ctx.Err() != nil:
		return OutcomeAborted, status.FromContextError(ctx.Err()).Err()
	case st.pulled && permanentPull(status.Code(err)):
		return OutcomeRejected, fromWorker(err)
	case st.pulled:
		return OutcomeAborted, fromWorker(err)
	case status.Code(err) == codes.Internal:
		return OutcomeRejected, err
	case ctx.Err() != nil:
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
