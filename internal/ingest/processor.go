package ingest

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/table"
)

// Streamer sends one dataset to the batch server as one ingest stream;
// implemented by *batchclient.Client. Errors wrap sink.ErrRejected or
// sink.ErrUnavailable, or the cause of ctx when it ended. Stream must not
// use src after it returns: the [Processor] releases the dataset, whose
// memory later loads reuse.
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

// objectStore adapts [Objects] to the dataset stage's dataset.Objects.
type objectStore struct{ o Objects }

func (s objectStore) Open(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	r, info, err := s.o.OpenFile(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	return r, info.Size, nil
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
	// MemoryBudget is the memory one job may use to decode its file
	// (from MEMORY_LIMIT): larger tables are read in windows, and files
	// that cannot be are refused (dataset.ErrOverBudget). 0: no budget.
	MemoryBudget int64
	// BudgetAdvice says what to change in a refusal over MemoryBudget
	// (e.g. "raise MEMORY_LIMIT or lower WORKER_CONCURRENCY").
	BudgetAdvice string
	// ScratchDir is where objects and the content of compressed files
	// are spooled to be mapped (SCRATCH_DIR; "": the OS temp directory).
	ScratchDir string
}

// limits returns the dataset stage's limits.
func (c ProcessorConfig) limits() dataset.Limits {
	return dataset.Limits{
		MaxFileBytes:        c.MaxFileBytes,
		PickleDecodedFactor: c.PickleDecodedFactor,
		PickleMaxDepth:      c.PickleMaxDepth,
		MemoryBudget:        c.MemoryBudget,
		BudgetAdvice:        c.BudgetAdvice,
	}
}

// Processor runs one attempt of one job: look up its domain, load its file
// through the dataset stage (internal/dataset: read, hash, decode), and
// stream it to the batch server while validating it against its domain
// (the stream commits only after a clean verdict). It knows nothing of
// acks or status; see [Worker].
type Processor struct {
	cfg      ProcessorConfig
	domains  Domains
	data     *dataset.Loader
	streamer Streamer
}

// NewProcessor returns a Processor. objects may be nil if no job uses
// source "object" (such jobs then fail permanently).
func NewProcessor(cfg ProcessorConfig, domains Domains, objects Objects, streamer Streamer) *Processor {
	dc := dataset.Config{DataDir: cfg.DataDir, ScratchDir: cfg.ScratchDir, Limits: cfg.limits()}
	if objects != nil {
		dc.Objects = objectStore{objects}
	}
	return &Processor{cfg: cfg, domains: domains, data: dataset.NewLoader(dc), streamer: streamer}
}

// Observer is told how a job attempt progresses. Its methods are called on
// the goroutine running the job and must not block for long.
type Observer interface {
	// Loaded is called once the file is loaded (validation runs while
	// it streams).
	Loaded(records int, fileBytes int64)
	// Resumed is called once, before the first chunk, when the stream
	// resumes chunks 0..chunks-1 (records in all) that the batch server
	// had staged from an earlier attempt: they are not sent again.
	Resumed(chunks, records uint64)
	// Sent is called after each chunk with running totals: records and
	// chunks of the whole dataset (a resumed stream's start at its resume
	// point), bytes sent by this attempt.
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

// refOf returns where job's file is; a dict keyed by id puts its keys in
// the domain's id field (keyColumn).
func refOf(job queue.Job, keyColumn string) (dataset.Ref, error) {
	switch job.Source {
	case "", queue.SourceFile:
		return dataset.Ref{Origin: dataset.InDataDir, Name: job.FileName, KeyColumn: keyColumn}, nil
	case queue.SourceObject:
		return dataset.Ref{Origin: dataset.InObjectStore, Name: job.FileName, KeyColumn: keyColumn}, nil
	default:
		return dataset.Ref{}, fmt.Errorf("%w: unknown source %q", queue.ErrBadJob, job.Source)
	}
}

// Run runs one attempt of job; attempt is the delivery count (1 first). The
// returned error is classified by [Classify]; when ctx ends, the error
// wraps its cause. The file is mapped: a read of it that faults because
// another process truncated it meanwhile, on this goroutine or one
// reading the table for it, fails the attempt with an error wrapping
// dataset.ErrFault (transient), not the worker.
func (p *Processor) Run(ctx context.Context, job queue.Job, attempt int, obs Observer) (rep Report, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			ferr := dataset.Fault(v)
			if ferr == nil {
				panic(v)
			}
			err = fmt.Errorf("read %s: %w", job.FileName, ferr)
		}
	}()
	return p.run(ctx, job, attempt, obs)
}

// run is Run, on a goroutine guarded against faults.
func (p *Processor) run(ctx context.Context, job queue.Job, attempt int, obs Observer) (Report, error) {
	var rep Report
	dom, err := p.domains.Lookup(job.Domain)
	if err != nil {
		return rep, fmt.Errorf("look up domain: %w", err)
	}
	ref, err := refOf(job, dom.IDField)
	if err != nil {
		return rep, err
	}
	ds, st, err := p.data.Load(ctx, ref)
	rep.FileBytes, rep.SHA256, rep.Phases.Read, rep.Phases.Load = st.FileBytes, st.SHA256, st.Read, st.Load
	if err != nil {
		return rep, err
	}

	// The table aliases the dataset's mapped file (strings, vectors): the
	// dataset is released when this attempt returns, once the goroutines
	// reading the table have ended (the streamer joins its encoder before
	// it returns; the validation holds the dataset itself and is waited
	// for here), also when a panic unwinds. The error returned does not
	// alias it: pickleload and domain copy the names their errors carry.
	var verdict chan outcome // set once validation runs
	validated := false
	defer func() {
		if verdict != nil && !validated {
			<-verdict
		}
		ds.Release()
	}()
	src := ds.Source()
	rep.Records = src.Rows()
	if obs != nil {
		obs.Loaded(src.Rows(), rep.FileBytes)
	}
	// What the schema decides (a required field missing, a known field of
	// another type, an embedding of the wrong dimension) fails the job
	// before the first chunk leaves.
	start := time.Now()
	if err := dom.CheckSchema(src); err != nil {
		rep.Phases.Validate = time.Since(start)
		return rep, fmt.Errorf("validate %s: %w", job.FileName, err)
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("before streaming: %w", context.Cause(ctx))
	}

	// Validate the rows while they stream: the stream is committed only once
	// the verdict is in (BeforeCommit), and cancelled, applying nothing, if
	// the table is invalid. Validation (read-only) overlaps the wire.
	verdict = make(chan outcome, 1)
	ds.Retain()
	go func() {
		start := time.Now()
		var err error
		defer func() {
			if v := recover(); v != nil {
				err = recovered(v) // a bug: fail this job, not the worker
			}
			ds.Release() // before the verdict: Run's release is then the last
			verdict <- outcome{err, time.Since(start)}
		}()
		err = dataset.Guard(func() error { return dom.ValidateSource(src) })
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
		opts.Resumed = obs.Resumed
	}
	start = time.Now()
	rep.Result, err = p.streamer.Stream(ctx, meta, src, opts, progress)
	rep.Phases.Stream = time.Since(start)
	if err != nil {
		if verr := validate(); verr != nil {
			return rep, verr // permanent: it wins over whatever cut the stream
		}
		return rep, fmt.Errorf("stream to batch server: %w", err)
	}
	return rep, nil
}
