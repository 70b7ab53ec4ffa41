package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/embedstream/embedstream/internal/container"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/source"
	"github.com/embedstream/embedstream/internal/table"
)

var (
	// ErrTooLarge marks a file above Limits.MaxFileBytes (for a container,
	// its content once unwrapped), or too large to map at all. Retrying
	// cannot help.
	ErrTooLarge = errors.New("file too large")
	// ErrNoObjectStore is returned for an object when the Loader has no
	// object store (Config.Objects is nil).
	ErrNoObjectStore = errors.New("no object store configured")
	// ErrOverBudget marks a file whose decoding needs more memory than
	// Limits.MemoryBudget and that cannot be read in windows either. The
	// error also satisfies pickleload.ErrInvalid and pickleload.ErrLimit:
	// retrying with the same settings cannot help.
	ErrOverBudget = errors.New("file needs more memory than the budget")
)

// Objects opens objects of an object store by name; the worker's is
// internal/queue's ingest_files store, adapted. size is the object's size
// in bytes (-1: unknown). Errors are the store's (a missing object's says
// so in the store's own terms) and pass through [Loader.Load] wrapped.
type Objects interface {
	Open(ctx context.Context, name string) (r io.ReadCloser, size int64, err error)
}

// DefaultMaxFileBytes is the largest file the worker loads unless told
// otherwise (its setting MAX_FILE_BYTES defaults to it). Limits' zero
// MaxFileBytes means no limit, not this.
const DefaultMaxFileBytes int64 = 4 << 30

// Limits bound what a [Loader] reads and decodes. The zero value means no
// file size limit, no memory budget and pickleload's default limits.
type Limits struct {
	// MaxFileBytes refuses larger files ([ErrTooLarge]), and containers
	// whose content is larger once unwrapped; <= 0: no limit (the
	// worker's default is [DefaultMaxFileBytes]).
	MaxFileBytes int64
	// PickleDecodedFactor bounds a load's decoded size and conversion
	// work to this multiple of the file size plus
	// pickleload.DefaultDecodedSlack (PICKLE_DECODED_FACTOR; 0: the
	// loader's default).
	PickleDecodedFactor int
	// PickleMaxDepth bounds nesting (PICKLE_MAX_DEPTH; 0: the loader's
	// default).
	PickleMaxDepth int
	// MemoryBudget is the memory one load may use for what it decodes
	// (the file itself is mapped, not counted): a pickle whose whole
	// table would need more is read in windows (pickleload.Open), and one
	// that cannot be is refused with [ErrOverBudget]. <= 0: no budget,
	// every file is decoded whole.
	MemoryBudget int64
	// BudgetAdvice ends the message of an [ErrOverBudget] refusal: what
	// to change, e.g. "raise MEMORY_LIMIT or lower WORKER_CONCURRENCY".
	// "": a generic advice.
	BudgetAdvice string
}

// pickleOptions returns the pickle loader's limits for a file of size
// bytes.
func (l Limits) pickleOptions(size int) pickleload.Options {
	o := pickleload.Options{MaxDepth: l.PickleMaxDepth, MemoryBudget: max(0, l.MemoryBudget)}
	if l.PickleDecodedFactor > 0 {
		o.MaxDecodedBytes = int64(l.PickleDecodedFactor)*int64(size) + pickleload.DefaultDecodedSlack
	}
	return o
}

// Config configures a [Loader].
type Config struct {
	// DataDir is where [InDataDir] names are resolved (DATA_DIR).
	DataDir string
	// Objects serves [InObjectStore] names; nil: such loads fail with
	// [ErrNoObjectStore].
	Objects Objects
	// ScratchDir is where objects of the object store and the content of
	// compressed files and archives are written to be mapped
	// (SCRATCH_DIR); "": os.TempDir(). It should be on a disk: on a
	// tmpfs the spooled bytes are memory again.
	ScratchDir string
	Limits
}

// Origin says where a dataset's file is.
type Origin int

// The origins of a [Ref].
const (
	// InDataDir: a name relative to Config.DataDir, opened through an
	// os.Root under internal/source's rules: absolute names, ".." and
	// names resolving outside the directory are refused, and so is
	// anything but a regular file.
	InDataDir Origin = iota
	// InObjectStore: the name of an object in Config.Objects.
	InObjectStore
	// AtPath: a path of the local file system, used as it is (publisher
	// inspect, on the operator's own files).
	AtPath
)

// Ref names one dataset's file.
type Ref struct {
	Origin Origin
	Name   string
	// KeyColumn names the column that the keys of a dict keyed by id
	// (df.to_dict("index"), df.to_dict()) become: the domain's id field,
	// e.g. "recruit_id" ("": "index"); see pickleload.Options.KeyColumn.
	KeyColumn string
}

// Error is a failure to open, read or load a dataset's file. Its text
// names the step and the file, e.g. "load x.pkl: pickleload: ...".
type Error struct {
	Op   string // "open", "open object", "read", "unwrap" or "load"
	Name string // Ref.Name
	Err  error
}

func (e *Error) Error() string { return e.Op + " " + e.Name + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Stats say how far a load got and what each step took; a step not
// reached leaves its fields zero.
type Stats struct {
	FileBytes int64         // the file's size as stored, once opened
	SHA256    string        // hex sha256 of the file as stored (a container's compressed bytes), once read (also when decoding failed)
	Format    string        // what the file is, once identified: "pickle", "gzip-compressed pickle", "NumPy .npz archive"
	DataBytes int64         // the bytes decoded: FileBytes, or a container's content once unwrapped
	Lazy      bool          // the table is read in windows (it would not fit Limits.MemoryBudget whole)
	Read      time.Duration // open and map the file (spool an object, unwrap a container)
	Load      time.Duration // decode it (and hash it, alongside)
}

// Loader is the dataset stage: it opens a dataset's file, maps it (or a
// spooled copy of an object or of a container's content; without a memory
// budget, reads it into a pooled buffer), identifies it by its first
// bytes, hashes it while decoding it, and hands back a [Dataset] aliasing
// the mapping or buffer. It is safe for concurrent use; concurrent loads
// share its pool.
type Loader struct {
	cfg  Config
	bufs bufferPool // without a memory budget: file buffers, reused across loads

	// leftover counts the file bytes of datasets released since the last
	// collect: a measure of the garbage (decoded tables) they left.
	leftover atomic.Int64
	// held counts datasets loaded and not yet released.
	held atomic.Int64
}

// NewLoader returns a Loader.
func NewLoader(cfg Config) *Loader {
	return &Loader{cfg: cfg}
}

// FreeBuffers frees the buffers the pool keeps for reuse now, instead of
// once it has been idle for a while. Buffers of datasets not yet released
// are not affected: they go back to the pool on release.
func (l *Loader) FreeBuffers() { l.bufs.release() }

// PooledBuffers returns how many buffers the pool keeps for reuse.
func (l *Loader) PooledBuffers() int {
	l.bufs.mu.Lock()
	defer l.bufs.mu.Unlock()
	return len(l.bufs.free)
}

// Held returns the number of datasets this Loader returned that are not
// released yet: each holds a mapping (and, for a spooled file, its disk
// space).
func (l *Loader) Held() int { return int(l.held.Load()) }

// collectAfter is the leftover above which a load collects garbage before
// it reads its file; see [Loader.collect].
const collectAfter = 64 << 20

// collect runs a garbage collection when the datasets released since the
// last one left enough garbage. A large load ends with what it decoded
// (the object graph gopickle built, the table's string and vector headers)
// live at the last GC, so the GC's next goal (twice the live heap) lets
// the next load allocate all of its own before the previous one's is
// freed. The files themselves are outside the heap (mapped, or in
// internal/filebuf buffers), so this matters less than it did: over three jobs of a 190 MiB DataFrame, peak
// RSS was 1.81x the file with it and 1.85x without (4.0x against 2.9x when
// files were read into the heap). A collection when the previous table is
// garbage costs a few milliseconds.
func (l *Loader) collect() {
	if n := l.leftover.Load(); n >= collectAfter && l.leftover.CompareAndSwap(n, 0) {
		runtime.GC()
	}
}

// Load opens ref's file, maps it (without a memory budget: reads it into a
// pooled buffer; refusing more than MaxFileBytes either way), identifies it by its first bytes (container.Identify), unwraps a
// compressed file or an archive into a spooled file, and decodes it under
// the pickle limits and the memory budget while hashing it: a pickle or a
// joblib file with pickleload.Open, a NumPy .npy or .npz file with
// pickleload.LoadNPY or LoadNPZ. It returns the [Dataset], to
// [Dataset.Release] once done with it, and the [Stats] of the steps it got
// through, also when it fails.
//
// Errors are [*Error]s naming the step and the file, wrapping: from
// opening, internal/source's ErrUnsafePath or ErrNotFound, the object
// store's error, [ErrNoObjectStore], or the file system's; from reading
// (mapping, spooling, unwrapping), [ErrTooLarge], container.ErrInvalid (a
// file that is no pickle, a corrupt or refused container: the message
// names what the file is), a file that changed size while it was read
// (io.ErrUnexpectedEOF: transient) or an I/O error; from decoding,
// pickleload's errors (pickleload.ErrInvalid), [ErrOverBudget], and
// [ErrFault] for a file truncated while it was mapped (transient). Nothing
// an error holds aliases the file.
func (l *Loader) Load(ctx context.Context, ref Ref) (*Dataset, Stats, error) {
	var st Stats
	l.collect()
	start := time.Now()
	in, err := l.open(ctx, ref, &st)
	st.Read = time.Since(start)
	if err != nil {
		return nil, st, err
	}
	start = time.Now()
	src, err := l.decode(in, ref.KeyColumn, &st)
	st.Load = time.Since(start)
	if err != nil {
		l.leftover.Add(st.DataBytes)
		if cerr := in.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, st, &Error{Op: "load", Name: ref.Name, Err: err}
	}
	st.Lazy = src.WindowRows() > 0
	if !st.Lazy {
		// Decoded whole: hand out the table itself, whose window of every
		// row is itself, so that consumers (the chunk encoder's estimate
		// and stream) check it once, not once per call.
		t, err := src.Window(0, src.Rows(), nil)
		if err != nil {
			in.close()
			return nil, st, &Error{Op: "load", Name: ref.Name, Err: err}
		}
		src = t
	}
	d := &Dataset{Stats: st, src: src, in: in, loader: l}
	d.refs.Store(1)
	l.held.Add(1)
	return d, st, nil
}

// decode hashes in's file (unless spooling did) while decoding its
// content by its format, with the calling goroutine guarded against
// faults. keyColumn is Ref.KeyColumn.
func (l *Loader) decode(in *input, keyColumn string, st *Stats) (src table.Source, err error) {
	sum := in.hash()
	defer func() { // the hash must be done before in can be closed
		digest, herr := sum()
		st.SHA256 = digest
		if herr != nil && err == nil {
			src, err = nil, herr
		}
	}()
	err = Guard(func() error {
		var err error
		src, err = l.decodeData(in.data, in.format, keyColumn)
		return err
	})
	if err == nil {
		err = in.unchanged()
	}
	return src, err
}

// decodeData decodes data, a file of format f; keyColumn is Ref.KeyColumn.
func (l *Loader) decodeData(data []byte, f container.Format, keyColumn string) (table.Source, error) {
	opts := l.cfg.pickleOptions(len(data))
	opts.KeyColumn = keyColumn
	switch f {
	case container.Pickle, container.Joblib:
		src, err := pickleload.Open(data, opts)
		if err != nil {
			return nil, l.budgetError(err)
		}
		return src, nil
	case container.NPY:
		return pickleload.LoadNPY(data, opts)
	case container.NPZ:
		return pickleload.LoadNPZ(data, pickleload.NPZOptions{Options: opts, MaxBytes: l.npzBytes()})
	}
	return nil, fmt.Errorf("dataset: no loader for a %s", f) // Identify lets no other format through
}

// npzBytes bounds the arrays of a .npz archive after decompression: its
// deflated members are decompressed into memory, so the budget bounds them
// too.
func (l *Loader) npzBytes() int64 {
	n := l.cfg.MaxFileBytes
	if b := l.cfg.MemoryBudget; b > 0 && (n <= 0 || b < n) {
		n = b
	}
	return n
}

// budgetError marks pickleload's refusal of a file over the memory budget
// with [ErrOverBudget] and says what to change.
func (l *Loader) budgetError(err error) error {
	var pe *pickleload.Error
	if l.cfg.MemoryBudget <= 0 || !errors.As(err, &pe) || pe.Kind != pickleload.ErrLimit || !strings.Contains(pe.Msg, "budget") {
		return err
	}
	advice := l.cfg.BudgetAdvice
	if advice == "" {
		advice = "give the loader a larger memory budget"
	}
	return fmt.Errorf("%w of %d MiB per job and cannot be read in parts: %s: %w", ErrOverBudget, l.cfg.MemoryBudget>>20, advice, err)
}

// Dataset is a loaded file: its rows as a [table.Source] (strings, bytes
// and vector rows alias the mapped file or its buffer) and its [Stats]. It
// holds the mapping or buffer until it is released as often as it was
// retained, plus once for [Loader.Load]; nothing may use the source, its
// windows, or anything aliasing them afterwards.
type Dataset struct {
	Stats

	src    table.Source
	in     *input
	loader *Loader
	refs   atomic.Int64
}

// Source returns the dataset's rows. Its windows alias the mapped file or its buffer:
// read them on goroutines guarded against faults ([Guard]). It is valid
// until the dataset is released.
func (d *Dataset) Source() table.Source { return d.src }

// Table returns the whole table, the source's window of every row: for a
// dataset read in windows ([Stats].Lazy), that decodes all of it at once,
// whatever the budget. It aliases the mapped file like the source and is
// valid until the dataset is released. Errors are the source's (e.g.
// [ErrFault]).
func (d *Dataset) Table() (*table.Table, error) {
	var t *table.Table
	err := Guard(func() error {
		var err error
		t, err = d.src.Window(0, d.src.Rows(), nil)
		return err
	})
	return t, err
}

// Rows returns the number of records.
func (d *Dataset) Rows() int { return d.src.Rows() }

// Retain adds a holder: one more [Dataset.Release] is then needed before
// the mapping or buffer goes. Call it before handing the dataset to another
// goroutine that may outlive the caller's hold.
func (d *Dataset) Retain() {
	if d.refs.Add(1) <= 1 {
		panic("dataset: Retain after the last Release")
	}
}

// Release drops one hold; the last one unmaps the file and closes it (a
// spooled file's disk space is then freed), or gives its buffer back to
// the loader's pool for another file to overwrite. Releasing more often than the
// dataset was held panics: it is a bug that could unmap memory still in
// use.
func (d *Dataset) Release() {
	switch n := d.refs.Add(-1); {
	case n == 0:
		d.loader.held.Add(-1)
		d.loader.leftover.Add(d.DataBytes)
		// Unmapping a mapping we made, and closing a file we opened
		// read-only or unlinked, cannot fail short of a bug, which a
		// panic reports better than a log line nobody connects to it.
		if err := d.in.close(); err != nil {
			panic(err)
		}
	case n < 0:
		panic("dataset: Release called more often than Retain")
	}
}

// openError wraps err from opening ref.
func openError(ref Ref, op string, err error) error { return &Error{Op: op, Name: ref.Name, Err: err} }

// open opens ref's file and maps what is to be decoded.
func (l *Loader) open(ctx context.Context, ref Ref, st *Stats) (*input, error) {
	var f *os.File
	switch ref.Origin {
	case InDataDir:
		var err error
		if f, err = source.OpenFile(l.cfg.DataDir, ref.Name); err != nil {
			return nil, openError(ref, "open", err)
		}
	case AtPath:
		var err error
		if f, err = os.Open(ref.Name); err != nil {
			return nil, openError(ref, "open", err)
		}
	case InObjectStore:
		if l.cfg.Objects == nil {
			return nil, openError(ref, "open object", ErrNoObjectStore)
		}
		obj, size, err := l.cfg.Objects.Open(ctx, ref.Name)
		if err != nil {
			return nil, openError(ref, "open object", err)
		}
		in, err := l.spoolObject(ctx, obj, size, st)
		obj.Close()
		if err != nil {
			return nil, &Error{Op: "read", Name: ref.Name, Err: err}
		}
		return l.identify(ctx, ref, in, st)
	default:
		return nil, openError(ref, "open", fmt.Errorf("unknown origin %d", ref.Origin))
	}
	in, err := l.mapOpened(ctx, f, st)
	if err != nil {
		return nil, &Error{Op: "read", Name: ref.Name, Err: err}
	}
	return l.identify(ctx, ref, in, st)
}

// identify sniffs in's first bytes and, for a container, replaces in with
// its unwrapped content.
func (l *Loader) identify(ctx context.Context, ref Ref, in *input, st *Stats) (*input, error) {
	var (
		f   container.Format
		err error
	)
	if gerr := Guard(func() error {
		f, err = container.Identify(in.data[:min(len(in.data), container.SniffLen)])
		return nil
	}); gerr != nil {
		err = gerr
	}
	st.Format = container.Describe(nil, f)
	switch {
	case err != nil:
		err = &Error{Op: "read", Name: ref.Name, Err: err}
	case f.Container():
		out, uerr := l.unwrap(ctx, in, st) // closes in
		if uerr != nil {
			return nil, &Error{Op: "unwrap", Name: ref.Name, Err: uerr}
		}
		in = out
	default:
		in.format = f
	}
	if err != nil {
		if sum, herr := in.hash()(); herr == nil { // the hash of a refused file still names it
			st.SHA256 = sum
		}
		if cerr := in.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	st.DataBytes = int64(len(in.data))
	return in, nil
}
