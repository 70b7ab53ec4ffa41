package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/filebuf"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/source"
	"github.com/embedstream/embedstream/internal/table"
)

// Streamer sends one dataset to the batch server as one ingest stream;
// implemented by *batchclient.Client. Errors wrap sink.ErrRejected or
// sink.ErrUnavailable, or the cause of ctx when it ended. Stream must not
// use src after it returns: the [Processor] reuses the memory the table
// aliases for later jobs.
type Streamer interface {
	Stream(ctx context.Context, meta sink.Meta, src table.Source, opts sink.Options, progress sink.ProgressFunc) (sink.Result, error)
}

// Domains looks up a domain by name; implemented by *domain.Registry.
// Unknown names return an error wrapping domain.ErrUnknownDomain.
type Domains interface {
	Lookup(name string) (*domain.Domain, error)
}

// Objects opens a file in the object store (jobs with source "object");
// implemented by *queue.Queue. A missing object returns an error wrapping
// queue.ErrFileNotFound.
type Objects interface {
	OpenFile(ctx context.Context, name string) (io.ReadCloser, queue.FileInfo, error)
}

// ProcessorConfig configures a [Processor].
type ProcessorConfig struct {
	DataDir      string // DATA_DIR: where jobs with source "file" are resolved
	MaxFileBytes int64  // MAX_FILE_BYTES: larger files fail permanently
	ChunkRecords int    // CHUNK_RECORDS: default most records per chunk
	ChunkBytes   int64  // CHUNK_BYTES: default target encoded bytes per chunk
	// PickleDecodedFactor bounds a load's decoded size and conversion
	// work to this multiple of the file size plus
	// pickleload.DefaultDecodedSlack (PICKLE_DECODED_FACTOR; 0: the
	// loader's default).
	PickleDecodedFactor int
	// PickleMaxDepth bounds nesting (PICKLE_MAX_DEPTH; 0: the loader's
	// default).
	PickleMaxDepth int
}

// pickleOptions returns the loader's limits for a file of size bytes.
func (c ProcessorConfig) pickleOptions(size int) pickleload.Options {
	o := pickleload.Options{MaxDepth: c.PickleMaxDepth}
	if c.PickleDecodedFactor > 0 {
		o.MaxDecodedBytes = int64(c.PickleDecodedFactor)*int64(size) + pickleload.DefaultDecodedSlack
	}
	return o
}

// Processor runs one attempt of one job: resolve and read the file, load
// the pickle while hashing it, and stream it to the batch server while
// validating it against its domain (the stream commits only after a clean
// verdict). It knows nothing of acks or status; see [Worker].
type Processor struct {
	cfg      ProcessorConfig
	domains  Domains
	objects  Objects
	streamer Streamer
	bufs     bufferPool // file buffers, reused across jobs

	// leftover counts the file bytes of jobs finished since the last
	// collect: a measure of the garbage (decoded tables) they left.
	leftover atomic.Int64
}

// collectAfter is the leftover above which a job collects garbage before
// it reads its file; see [Processor.collect].
const collectAfter = 64 << 20

// collect runs a garbage collection when the jobs finished since the last
// one left enough garbage. A large job ends with what it decoded (the
// object graph gopickle built, the table's string and vector headers)
// live at the last GC, so the GC's next goal (twice the live heap) lets the
// next job allocate all of its own before the previous one's is freed. The
// file buffers themselves are outside the heap (internal/filebuf), so this
// matters less than it did: over three jobs of a 190 MiB DataFrame, peak
// RSS was 1.81x the file with it and 1.85x without (4.0x against 2.9x
// when files were read into the heap). A collection when the previous
// table is garbage costs a few milliseconds.
func (p *Processor) collect() {
	if n := p.leftover.Load(); n >= collectAfter && p.leftover.CompareAndSwap(n, 0) {
		runtime.GC()
	}
}

// NewProcessor returns a Processor. objects may be nil if no job uses
// source "object" (such jobs then fail permanently).
func NewProcessor(cfg ProcessorConfig, domains Domains, objects Objects, streamer Streamer) *Processor {
	return &Processor{cfg: cfg, domains: domains, objects: objects, streamer: streamer}
}

// Observer is told how a job attempt progresses. Its methods are called on
// the goroutine running the job and must not block for long.
type Observer interface {
	// Loaded is called once the file is loaded (validation runs while
	// it streams).
	Loaded(records int, fileBytes int64)
	// Sent is called after each chunk with running totals.
	Sent(records, chunks, bytes uint64)
	// BeforeCommit is called once every chunk is sent and the table has
	// passed validation, just before the stream commits; an error cancels
	// the stream (nothing is applied) and is returned by [Processor.Run].
	BeforeCommit() error
}

// Report describes a finished attempt.
type Report struct {
	Records   int    // records in the file
	FileBytes int64  // size of the pickle file
	SHA256    string // hex sha256 of the file
	Result    sink.Result
	Phases    Phases // how long each phase that ran took
}

// Phases are the durations of an attempt's phases; zero for a phase that
// did not run (or did not finish, for Validate).
type Phases struct {
	Read     time.Duration // resolve, open and read the file
	Load     time.Duration // decode the pickle (and hash it, alongside)
	Validate time.Duration // check the table against its domain (overlaps Stream)
	Stream   time.Duration // send every chunk and commit
}

// outcome is a validation's verdict.
type outcome struct {
	err  error
	took time.Duration
}

// Run runs one attempt of job; attempt is the delivery count (1 first). The
// returned error is classified by [Classify]; when ctx ends, the error
// wraps its cause.
func (p *Processor) Run(ctx context.Context, job queue.Job, attempt int, obs Observer) (Report, error) {
	var rep Report
	dom, err := p.domains.Lookup(job.Domain)
	if err != nil {
		return rep, fmt.Errorf("look up domain: %w", err)
	}
	p.collect()
	start := time.Now()
	buf, err := p.read(ctx, job)
	rep.Phases.Read = time.Since(start)
	if err != nil {
		return rep, err
	}
	data := buf.Bytes()
	rep.FileBytes = int64(len(data))
	defer p.leftover.Add(rep.FileBytes)

	// The table aliases buf (strings, vectors): it goes back to the pool
	// when this attempt returns, once the goroutines reading the table have
	// ended (the hash and the streamer are joined before any return; the
	// validation is waited for here), also when a panic unwinds. The error
	// returned does not alias it: pickleload and domain copy the names their
	// errors carry.
	var verdict chan outcome // set once validation runs
	validated := false
	defer func() {
		if verdict != nil && !validated {
			<-verdict
		}
		p.bufs.put(buf)
	}()

	// Hash while the pickle loads: both only read data.
	sum := make(chan [sha256.Size]byte, 1)
	go func() { sum <- sha256.Sum256(data) }()
	start = time.Now()
	t, err := pickleload.Load(data, p.cfg.pickleOptions(len(data)))
	digest := <-sum
	rep.Phases.Load = time.Since(start)
	rep.SHA256 = hex.EncodeToString(digest[:])
	if err != nil {
		return rep, fmt.Errorf("load %s: %w", job.FileName, err)
	}
	rep.Records = t.NumRows
	if obs != nil {
		obs.Loaded(t.NumRows, rep.FileBytes)
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("before streaming: %w", context.Cause(ctx))
	}

	// Validate while the table streams: the stream is committed only once
	// the verdict is in (BeforeCommit), and cancelled, applying nothing, if
	// the table is invalid. Validation (read-only) overlaps the wire.
	verdict = make(chan outcome, 1)
	go func() {
		start := time.Now()
		var err error
		defer func() {
			if v := recover(); v != nil {
				err = recovered(v) // a bug: fail this job, not the worker
			}
			verdict <- outcome{err, time.Since(start)}
		}()
		err = dom.Validate(t)
	}()
	var validateErr error
	validate := func() error {
		if !validated {
			v := <-verdict
			validateErr, validated, rep.Phases.Validate = v.err, true, v.took
		}
		if validateErr != nil {
			return fmt.Errorf("validate %s: %w", job.FileName, validateErr)
		}
		return nil
	}

	beforeCommit := validate
	if obs != nil {
		beforeCommit = func() error {
			if err := validate(); err != nil {
				return err
			}
			return obs.BeforeCommit()
		}
	}
	opts := sink.Options{ChunkRecords: p.cfg.ChunkRecords, ChunkBytes: p.cfg.ChunkBytes, BeforeCommit: beforeCommit}
	if job.Options.ChunkRecords > 0 {
		opts.ChunkRecords = job.Options.ChunkRecords
	}
	if job.Options.ChunkBytes > 0 {
		opts.ChunkBytes = job.Options.ChunkBytes
	}
	meta := sink.Meta{
		IngestID:     job.ID,
		Domain:       job.Domain,
		FileName:     job.FileName,
		Attempt:      uint32(max(attempt, 1)),
		SourceSHA256: rep.SHA256,
		EnqueuedAt:   job.EnqueuedAt,
	}
	var progress sink.ProgressFunc
	if obs != nil {
		progress = obs.Sent
	}
	start = time.Now()
	rep.Result, err = p.streamer.Stream(ctx, meta, t, opts, progress)
	rep.Phases.Stream = time.Since(start)
	if err != nil {
		if verr := validate(); verr != nil {
			return rep, verr // permanent: it wins over whatever cut the stream
		}
		return rep, fmt.Errorf("stream to batch server: %w", err)
	}
	return rep, nil
}

// read returns the job's file, whole, in a buffer from p.bufs, refusing
// files above MaxFileBytes.
func (p *Processor) read(ctx context.Context, job queue.Job) (*filebuf.Buffer, error) {
	var (
		r    io.ReadCloser
		size int64 = -1
	)
	switch job.Source {
	case "", queue.SourceFile:
		f, err := source.OpenFile(p.cfg.DataDir, job.FileName)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", job.FileName, err)
		}
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		r = f
	case queue.SourceObject:
		if p.objects == nil {
			return nil, Permanent(fmt.Errorf("open object %s: this worker has no object store", job.FileName))
		}
		obj, info, err := p.objects.OpenFile(ctx, job.FileName)
		if err != nil {
			return nil, fmt.Errorf("open object %s: %w", job.FileName, err)
		}
		size = info.Size
		r = obj
	default:
		return nil, fmt.Errorf("%w: unknown source %q", queue.ErrBadJob, job.Source)
	}
	defer r.Close()
	buf, err := readInto(r, size, p.cfg.MaxFileBytes, &p.bufs)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", job.FileName, err)
	}
	return buf, nil
}

// readInto reads r to its end into a buffer from bufs (nil: always a new
// one), to give back with bufs.put once nothing uses the file any more. A
// file (an io.ReaderAt of known size) is read with filebuf.ReadFull.
// size is the expected length (-1 or 0: unknown), used to allocate once; more
// than limit bytes fail with errFileTooLarge, and a size other than the
// expected one is a transient error (the file is being written).
func readInto(r io.Reader, size, limit int64, bufs *bufferPool) (_ *filebuf.Buffer, err error) {
	if limit <= 0 {
		limit = 1<<63 - 1
	}
	if size > limit {
		return nil, fmt.Errorf("%w: %d bytes, MAX_FILE_BYTES is %d", errFileTooLarge, size, limit)
	}
	if ra, ok := r.(io.ReaderAt); ok && size > 0 && size <= math.MaxInt {
		// a file: read in parts on every core (see filebuf.ReadFull)
		buf, err := bufs.get(int(size))
		if err != nil {
			return nil, err
		}
		if err := filebuf.ReadFull(ra, buf.Bytes()); err != nil {
			bufs.put(buf)
			return nil, err
		}
		return buf, nil
	}
	capacity := int64(64 << 10)
	if size > 0 { // 0 may be a file system that does not know
		capacity = size + 1 // +1 to see EOF without growing
	}
	if capacity > math.MaxInt {
		return nil, fmt.Errorf("%w: %d bytes do not fit in memory", errFileTooLarge, size)
	}
	buf, err := bufs.get(int(capacity))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			bufs.put(buf)
		}
	}()
	n := 0
	for {
		if n == buf.Cap() {
			// unknown size, or the file grew: move to a buffer twice as large
			next := 2 * int64(n)
			if next > limit {
				next = limit + 1 // enough to see the limit passed
			}
			if next > math.MaxInt {
				return nil, fmt.Errorf("%w: more than %d bytes do not fit in memory", errFileTooLarge, n)
			}
			bigger, err := bufs.get(int(next))
			if err != nil {
				return nil, err
			}
			buf.Resize(n)
			copy(bigger.Bytes(), buf.Bytes())
			bufs.put(buf)
			buf = bigger
		}
		buf.Resize(buf.Cap())
		m, err := r.Read(buf.Bytes()[n:])
		n += m
		if int64(n) > limit {
			return nil, fmt.Errorf("%w: more than MAX_FILE_BYTES (%d)", errFileTooLarge, limit)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	buf.Resize(n)
	if size > 0 && int64(n) != size {
		// Being written or replaced right now: a retry later reads it
		// whole, so this is transient, not a bad pickle.
		return nil, fmt.Errorf("the file changed while it was read (%d bytes at open, %d read): %w", size, n, io.ErrUnexpectedEOF)
	}
	return buf, nil
}
