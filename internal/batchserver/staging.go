package batchserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// File names in the staging directory (<OutDir>/.staging): each ingest_id
// has <id>.manifest and, unless Discard, <id>.jsonl. Every name ends in one
// of these suffixes and the rest is the ingest_id, so two ids never share a
// file.
const (
	stagingDirName    = ".staging"
	legacyTmpDirName  = ".tmp" // temp files of servers before v2: removed at start
	manifestSuffix    = ".manifest"
	manifestTmpSuffix = ".manifest.tmp"
	dataSuffix        = ".jsonl"
	manifestVersion   = 1
)

// Reasons a staging is dropped, for the log and [Hooks.StagingDropped].
const (
	DropCommitted    = "committed"      // its ingest committed
	DropReplaced     = "replaced"       // a full stream (resume_from_sequence 0) replaced it
	DropExpired      = "expired"        // Config.StagingTTL passed since its last write
	DropRejected     = "rejected"       // its stream broke the contract (INVALID_ARGUMENT)
	DropFull         = "staging full"   // its stream hit Config.StagingMaxBytes
	DropEmpty        = "nothing staged" // its stream ended before a chunk was synced
	DropV1           = "contract v1"    // a v1 server keeps nothing of a stream that did not commit
	DropStorageError = "storage error"  // its files could not be used
)

// errCorruptManifest is returned (wrapped) by readManifest for a manifest
// whose header or a line before its last does not parse.
var errCorruptManifest = errors.New("corrupt staging manifest")

// errStagingFull is returned (wrapped) by a budgetWriter when a write would
// take the staging area past Config.StagingMaxBytes.
var errStagingFull = errors.New("staging area full")

// manifestHeader is the first line of a manifest: the metadata of the
// stream that created the staging (a full stream, resume_from_sequence 0).
type manifestHeader struct {
	Version      int             `json:"v"`
	IngestID     string          `json:"ingest_id"`
	Domain       string          `json:"domain"`
	FileName     string          `json:"file_name"`
	SHA256       string          `json:"source_sha256"`
	TotalRecords uint64          `json:"total_records"`
	Schema       []manifestField `json:"schema"`
	Attempt      uint32          `json:"attempt"`
	ChunkOptions chunkOptions    `json:"chunk_options"`
	// Discard: staged by a server with Config.Discard, so there is no JSONL;
	// a server in the other mode drops it at start.
	Discard   bool      `json:"discard,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// manifestField is one schema field in a manifest.
type manifestField struct {
	Name      string `json:"name"`
	Type      string `json:"type"` // the FieldType's proto name, e.g. FIELD_TYPE_STRING
	Nullable  bool   `json:"nullable,omitempty"`
	VectorDim uint32 `json:"vector_dim,omitempty"`
}

// chunkOptions is IngestMetadata.chunk_options in a manifest.
type chunkOptions struct {
	MaxRecords  uint32 `json:"max_records,omitempty"`
	TargetBytes uint64 `json:"target_bytes,omitempty"`
}

// boundary is every later line of a manifest: a chunk boundary synced to
// disk. Chunks 0..Chunks-1 (Records records) are in the first Bytes bytes
// of the JSONL.
type boundary struct {
	Chunks  uint64 `json:"chunks"`
	Records uint64 `json:"records"`
	Bytes   int64  `json:"bytes"`
	// Received counts the bytes of every message received for these chunks
	// (and the metadata of each stream that staged them): the base of the
	// output ratio bound of a stream that resumes here.
	Received     uint64       `json:"received"`
	Attempt      uint32       `json:"attempt"` // of the stream that synced it
	ChunkOptions chunkOptions `json:"chunk_options"`
	At           time.Time    `json:"at"`
}

// staging is what the server holds for one ingest_id between streams. The
// stream (or cleaner) holding the id's claim owns its files and its byte
// counts; Server.mu guards last and expires, which GetIngestState reads.
type staging struct {
	id      string
	hdr     manifestHeader
	schema  []table.Field // hdr.Schema, for comparisons
	last    boundary      // last synced boundary (zero: nothing synced); guarded by Server.mu
	expires time.Time     // last write + Config.StagingTTL; guarded by Server.mu

	// Bytes on disk, counted in Server.stagingUsed.
	dataBytes     int64
	manifestBytes int64
	// manifestBroken is set when a failed append could not be cut back: no
	// boundary is appended after it (the manifest may end in a torn line).
	manifestBroken bool
	// manifestMade: its manifest was (or was being) installed, so the
	// manifest and its temp file may be on disk. A staging whose first
	// boundary never came has neither, and dropping it does not try to
	// remove them (two system calls each, on every small stream).
	manifestMade bool
	v1           bool // a contract v1 stream's temp file: no manifest, never kept
}

// headerFrom builds a manifest header from a stream's metadata.
func headerFrom(md *pb.IngestMetadata, discard bool, now time.Time) manifestHeader {
	h := manifestHeader{
		Version: manifestVersion, IngestID: md.GetIngestId(), Domain: md.GetDomain(), FileName: md.GetFileName(),
		SHA256: md.GetSourceSha256(), TotalRecords: md.GetTotalRecords(), Attempt: md.GetAttempt(),
		ChunkOptions: optionsFrom(md.GetChunkOptions()), Discard: discard, CreatedAt: now.UTC(),
	}
	for _, f := range md.GetSchema() {
		h.Schema = append(h.Schema, manifestField{Name: f.GetName(), Type: f.GetType().String(), Nullable: f.GetNullable(), VectorDim: f.GetVectorDim()})
	}
	return h
}

func optionsFrom(o *pb.ChunkOptions) chunkOptions {
	return chunkOptions{MaxRecords: o.GetMaxRecords(), TargetBytes: o.GetTargetBytes()}
}

// protoSchema returns the header's schema as the contract's fields.
func (h *manifestHeader) protoSchema() []*pb.Field {
	out := make([]*pb.Field, len(h.Schema))
	for i, f := range h.Schema {
		out[i] = &pb.Field{Name: f.Name, Type: pb.FieldType(pb.FieldType_value[f.Type]), Nullable: f.Nullable, VectorDim: f.VectorDim}
	}
	return out
}

// stagingPath returns the path of id's file with suffix in the staging
// directory.
func (s *Server) stagingPath(id, suffix string) string {
	return filepath.Join(s.stagingDir, id+suffix)
}

// createManifest installs a new manifest for id holding line (its
// header), atomically: a temp file, fsync, rename, then a directory fsync
// (which also makes a JSONL created just before durable). It returns the
// manifest open for appends.
func (s *Server) createManifest(id string, line []byte) (*os.File, error) {
	path := s.stagingPath(id, manifestSuffix)
	tmp := s.stagingPath(id, manifestTmpSuffix)
	if err := writeFileSync(tmp, line); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("install manifest: %w", err)
	}
	if err := syncDir(s.stagingDir); err != nil {
		return nil, fmt.Errorf("sync staging directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open manifest: %w", err)
	}
	return f, nil
}

// writeFileSync writes b to a new file at path and fsyncs it.
func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// appendBoundary appends b to the open manifest m of stg and fsyncs it. A
// failed append is cut back so no later line follows a torn one; if even
// that fails, stg.manifestBroken is set and every later append fails.
func appendBoundary(m *os.File, stg *staging, b boundary) (int, error) {
	if stg.manifestBroken {
		return 0, errors.New("manifest unusable after a failed append")
	}
	line, err := json.Marshal(b)
	if err != nil {
		return 0, fmt.Errorf("encode boundary: %w", err)
	}
	line = append(line, '\n')
	_, err = m.Write(line)
	if err == nil {
		err = m.Sync()
	}
	if err != nil {
		if terr := m.Truncate(stg.manifestBytes); terr != nil {
			stg.manifestBroken = true
		}
		return 0, fmt.Errorf("append to manifest: %w", err)
	}
	stg.manifestBytes += int64(len(line))
	return len(line), nil
}

// readManifest parses a manifest: its header, its last boundary (zero if
// none), the length of its complete lines, and the length of a torn tail to
// cut off (a last line without a newline, or that does not parse: a crash
// during an append). A header that does not parse, a bad line before the
// last, or boundaries that go backwards are errors wrapping
// errCorruptManifest.
func readManifest(b []byte) (manifestHeader, boundary, int64, int, error) {
	var (
		hdr  manifestHeader
		last boundary
		good int64
	)
	for n := 0; len(b) > 0; n++ {
		line, rest, complete := bytes.Cut(b, []byte{'\n'})
		var err error
		if n == 0 {
			err = json.Unmarshal(line, &hdr)
			if err == nil && (hdr.Version != manifestVersion || wire.ValidateID("ingest_id", hdr.IngestID) != nil) {
				err = fmt.Errorf("version %d, ingest_id %q", hdr.Version, hdr.IngestID)
			}
			if err != nil || !complete {
				return hdr, last, 0, 0, fmt.Errorf("%w: header: %v", errCorruptManifest, err)
			}
		} else {
			var bd boundary
			err = json.Unmarshal(line, &bd)
			if err == nil && (bd.Chunks < last.Chunks || bd.Records < last.Records || bd.Bytes < last.Bytes || bd.Records > hdr.TotalRecords) {
				err = fmt.Errorf("boundary %+v after %+v", bd, last)
			}
			if err != nil || !complete {
				if complete && len(bytes.TrimSpace(rest)) > 0 {
					return hdr, last, 0, 0, fmt.Errorf("%w: line %d: %v", errCorruptManifest, n+1, err)
				}
				return hdr, last, good, len(b), nil // a torn last line
			}
			last = bd
		}
		good += int64(len(line) + 1)
		b = rest
	}
	return hdr, last, good, 0, nil
}

// recoverStaging rebuilds the staging state at start: it removes the temp
// directory of servers before v2 and files that belong to no usable
// staging, cuts torn manifest tails, truncates each JSONL back to its last
// synced boundary, and drops stagings that are committed, expired, empty,
// of the other Discard mode, or corrupt (with a warning). A contract v1
// server keeps nothing.
func (s *Server) recoverStaging(now time.Time) error {
	if err := os.RemoveAll(filepath.Join(s.cfg.OutDir, legacyTmpDirName)); err != nil {
		return fmt.Errorf("clear %s: %w", legacyTmpDirName, err)
	}
	if err := os.MkdirAll(s.stagingDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", s.stagingDir, err)
	}
	entries, err := os.ReadDir(s.stagingDir)
	if err != nil {
		return fmt.Errorf("scan %s: %w", s.stagingDir, err)
	}
	ids := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		id, ok := strings.CutSuffix(name, manifestSuffix)
		if !ok {
			id, ok = strings.CutSuffix(name, dataSuffix)
		}
		if !ok || e.IsDir() || wire.ValidateID("ingest_id", id) != nil {
			// A manifest's temp file (a crash before its rename) or a
			// stranger: nothing refers to it.
			if err := os.RemoveAll(filepath.Join(s.stagingDir, name)); err != nil {
				return fmt.Errorf("remove %s: %w", name, err)
			}
			continue
		}
		ids[id] = true
	}
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range ids {
			if !yield(id) {
				return
			}
		}
	}) {
		if err := s.recoverOne(id, now); err != nil {
			return err
		}
	}
	return nil
}

// recoverOne recovers the staging of id, or removes its files.
func (s *Server) recoverOne(id string, now time.Time) error {
	stg, reason, err := s.loadStaging(id, now)
	if err != nil {
		return err
	}
	if stg == nil {
		if err := removeFiles(s.stagingPath(id, manifestSuffix), s.stagingPath(id, dataSuffix)); err != nil {
			return err
		}
		if reason != "" {
			s.log.Warn().Str("ingest_id", id).Str("reason", reason).Msg("dropped staged chunks at start")
		}
		return nil
	}
	s.staged[id] = stg
	s.stagingUsed.Add(stg.dataBytes + stg.manifestBytes)
	s.log.Info().Str("ingest_id", id).Uint64("chunks", stg.last.Chunks).Uint64("records", stg.last.Records).
		Time("expires", stg.expires).Msg("recovered staged chunks")
	return nil
}

// loadStaging reads id's manifest and brings its JSONL back to the last
// synced boundary. It returns nil and a reason for a warning (empty: none)
// when the staging is not to be kept; an error only when a file cannot be
// repaired.
func (s *Server) loadStaging(id string, now time.Time) (*staging, string, error) {
	if s.cfg.Contract == ContractV1 {
		return nil, "", nil // a v1 server kept no staging
	}
	if _, ok := s.ledger.entries[id]; ok {
		return nil, "", nil // committed: the commit's clean-up did not finish
	}
	mpath, dpath := s.stagingPath(id, manifestSuffix), s.stagingPath(id, dataSuffix)
	b, err := os.ReadFile(mpath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil // a JSONL whose manifest was never installed or already removed
	}
	if err != nil {
		return nil, "", fmt.Errorf("read manifest of %s: %w", id, err)
	}
	hdr, last, good, torn, err := readManifest(b)
	switch {
	case err != nil:
		return nil, err.Error(), nil
	case hdr.IngestID != id:
		return nil, fmt.Sprintf("manifest names ingest_id %q", hdr.IngestID), nil
	case hdr.Discard != s.cfg.Discard:
		return nil, fmt.Sprintf("staged with discard=%v, the server now runs with discard=%v", hdr.Discard, s.cfg.Discard), nil
	case last.Records == 0:
		return nil, "", nil
	}
	schema, err := wire.SchemaFromProto(hdr.protoSchema())
	if err != nil {
		return nil, fmt.Sprintf("manifest schema: %v", err), nil
	}
	expires := last.At.Add(s.cfg.StagingTTL)
	if !now.Before(expires) {
		return nil, "expired while the server was down", nil
	}
	if torn > 0 {
		if err := truncateSync(mpath, good); err != nil {
			return nil, "", fmt.Errorf("cut torn manifest tail of %s: %w", id, err)
		}
		s.log.Warn().Str("ingest_id", id).Int("bytes", torn).Msg("cut a torn line off a staging manifest")
	}
	stg := &staging{id: id, hdr: hdr, schema: schema, last: last, expires: expires, manifestBytes: good, manifestMade: true}
	if !s.cfg.Discard {
		fi, err := os.Stat(dpath)
		if err != nil {
			return nil, fmt.Sprintf("staged JSONL: %v", err), nil
		}
		if fi.Size() < last.Bytes {
			return nil, fmt.Sprintf("staged JSONL of %d bytes, shorter than its last synced boundary (%d bytes)", fi.Size(), last.Bytes), nil
		}
		if fi.Size() > last.Bytes {
			if err := truncateSync(dpath, last.Bytes); err != nil {
				return nil, "", fmt.Errorf("truncate staged JSONL of %s: %w", id, err)
			}
		}
		stg.dataBytes = last.Bytes
	}
	return stg, "", nil
}

// truncateSync truncates the file at path to size and fsyncs it.
func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// removeFiles removes files, ignoring those that do not exist.
func removeFiles(paths ...string) error {
	var errs []error
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dropStaging removes stg's files and forgets it. The caller holds the id's
// claim (or runs before serving).
func (s *Server) dropStaging(stg *staging, reason string) {
	s.mu.Lock()
	if s.staged[stg.id] == stg {
		delete(s.staged, stg.id)
	}
	s.mu.Unlock()
	// Only the files it may have: a discarding server writes no JSONL.
	var files []string
	if !s.cfg.Discard {
		files = append(files, s.stagingPath(stg.id, dataSuffix))
	}
	if stg.manifestMade {
		files = append(files, s.stagingPath(stg.id, manifestSuffix), s.stagingPath(stg.id, manifestTmpSuffix))
	}
	err := removeFiles(files...)
	s.stagingUsed.Add(-(stg.dataBytes + stg.manifestBytes))
	stg.dataBytes, stg.manifestBytes = 0, 0
	ev := s.log.Debug()
	if err != nil {
		ev = s.log.Error().Err(err)
	}
	ev.Str("ingest_id", stg.id).Str("reason", reason).Msg("dropped staged chunks")
	if h := s.cfg.Hooks.StagingDropped; h != nil {
		h(stg.id, reason)
	}
}

// reserve counts n more staged bytes if that keeps the staging area within
// Config.StagingMaxBytes, and reports whether it did.
func (s *Server) reserve(n int64) bool {
	for {
		cur := s.stagingUsed.Load()
		if cur+n > s.cfg.StagingMaxBytes {
			return false
		}
		if s.stagingUsed.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// cleanInterval is how often the clean-up loop looks for expired stagings.
func cleanInterval(ttl time.Duration) time.Duration {
	return min(max(ttl/4, 10*time.Millisecond), time.Minute)
}

// cleanLoop drops expired stagings until stop is closed.
func (s *Server) cleanLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(cleanInterval(s.cfg.StagingTTL))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			s.expireStaging(now)
		}
	}
}

// expireStaging drops the stagings whose TTL has passed at now and that no
// stream holds, and returns how many. It takes each one's claim while it
// removes the files, so a stream arriving meanwhile waits and then finds
// nothing staged.
func (s *Server) expireStaging(now time.Time) int {
	s.mu.Lock()
	var expired []*staging
	var claims []*claim
	for id, stg := range s.staged {
		if s.inFlight[id] != nil || now.Before(stg.expires) {
			continue
		}
		c := &claim{committing: true, preempt: make(chan struct{}), released: make(chan struct{})}
		s.inFlight[id] = c
		expired = append(expired, stg)
		claims = append(claims, c)
	}
	s.mu.Unlock()
	for i, stg := range expired {
		s.log.Info().Str("ingest_id", stg.id).Uint64("chunks", stg.last.Chunks).Msg("staged chunks expired")
		s.dropStaging(stg, DropExpired)
		s.mu.Lock()
		delete(s.inFlight, stg.id)
		s.mu.Unlock()
		close(claims[i].released)
	}
	return len(expired)
}

// ingestState answers GetIngestState for a valid id.
func (s *Server) ingestState(id string) *pb.GetIngestStateResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &pb.GetIngestStateResponse{IngestId: id}
	if e, ok := s.ledger.entries[id]; ok {
		resp.Committed = true
		resp.SourceSha256, resp.Domain, resp.TotalRecords, resp.Attempt = e.SHA256, e.Domain, e.Records, e.Attempt
		return resp
	}
	stg := s.staged[id]
	if stg == nil || stg.last.Records == 0 {
		// Nothing staged, or only chunks without records, which no resume
		// point can name (resume_from_record is 0 only for a full stream).
		return resp
	}
	h, b := &stg.hdr, stg.last
	resp.StagedChunks, resp.StagedRecords = b.Chunks, b.Records
	resp.SourceSha256, resp.Domain, resp.TotalRecords, resp.Schema = h.SHA256, h.Domain, h.TotalRecords, h.protoSchema()
	resp.Attempt = b.Attempt
	resp.ChunkOptions = &pb.ChunkOptions{MaxRecords: b.ChunkOptions.MaxRecords, TargetBytes: b.ChunkOptions.TargetBytes}
	resp.StagedExpiresAtUnixMs = stg.expires.UnixMilli()
	return resp
}

// resumeMismatch says how a resumed stream's metadata md differs from the
// staged state stg (nil: nothing staged), or returns "" when it matches.
func resumeMismatch(md *pb.IngestMetadata, schema []table.Field, stg *staging, last boundary) string {
	if stg == nil || last.Records == 0 {
		return "nothing is staged (it expired, was replaced, or never was)"
	}
	var d []string
	if last.Chunks != md.GetResumeFromSequence() {
		d = append(d, fmt.Sprintf("staged_chunks is %d, not resume_from_sequence %d", last.Chunks, md.GetResumeFromSequence()))
	}
	if last.Records != md.GetResumeFromRecord() {
		d = append(d, fmt.Sprintf("staged_records is %d, not resume_from_record %d", last.Records, md.GetResumeFromRecord()))
	}
	h := &stg.hdr
	if h.SHA256 != md.GetSourceSha256() {
		d = append(d, fmt.Sprintf("source_sha256 is %s, not %s", h.SHA256, md.GetSourceSha256()))
	}
	if h.Domain != md.GetDomain() {
		d = append(d, fmt.Sprintf("domain is %q, not %q", h.Domain, md.GetDomain()))
	}
	if h.TotalRecords != md.GetTotalRecords() {
		d = append(d, fmt.Sprintf("total_records is %d, not %d", h.TotalRecords, md.GetTotalRecords()))
	}
	if !slices.Equal(stg.schema, schema) {
		d = append(d, "the schema differs")
	}
	return strings.Join(d, "; ")
}
