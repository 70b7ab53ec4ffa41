package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/embedstream/embedstream/internal/filebuf"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/source"
	"github.com/embedstream/embedstream/internal/table"
)

var (
	// ErrTooLarge marks a file above Limits.MaxFileBytes, or too large to
	// hold in memory at all. Retrying cannot help.
	ErrTooLarge = errors.New("file too large")
	// ErrNoObjectStore is returned for an object when the Loader has no
	// object store (Config.Objects is nil).
	ErrNoObjectStore = errors.New("no object store configured")
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
// file size limit and pickleload's default limits.
type Limits struct {
	// MaxFileBytes refuses larger files ([ErrTooLarge]); <= 0: no limit
	// (the worker's default is [DefaultMaxFileBytes]).
	MaxFileBytes int64
	// PickleDecodedFactor bounds a load's decoded size and conversion
	// work to this multiple of the file size plus
	// pickleload.DefaultDecodedSlack (PICKLE_DECODED_FACTOR; 0: the
	// loader's default).
	PickleDecodedFactor int
	// PickleMaxDepth bounds nesting (PICKLE_MAX_DEPTH; 0: the loader's
	// default).
	PickleMaxDepth int
}

// pickleOptions returns the pickle loader's limits for a file of size
// bytes.
func (l Limits) pickleOptions(size int) pickleload.Options {
	o := pickleload.Options{MaxDepth: l.PickleMaxDepth}
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
}

// Error is a failure to open, read or load a dataset's file. Its text
// names the step and the file, e.g. "load x.pkl: pickleload: ...".
type Error struct {
	Op   string // "open", "open object", "read" or "load"
	Name string // Ref.Name
	Err  error
}

func (e *Error) Error() string { return e.Op + " " + e.Name + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Stats say how far a load got and what each step took; a step not
// reached leaves its fields zero.
type Stats struct {
	FileBytes int64         // the file's size, once read
	SHA256    string        // hex sha256 of the file, once loaded (also when decoding failed)
	Read      time.Duration // open and read the file
	Load      time.Duration // decode the pickle (and hash it, alongside)
}

// Loader is the dataset stage: it opens a dataset's file, reads it whole
// into a pooled internal/filebuf buffer, hashes it while decoding the
// pickle, and hands back a [Dataset] aliasing that buffer. It is safe for
// concurrent use; concurrent loads share its pool.
type Loader struct {
	cfg  Config
	bufs bufferPool // file buffers, reused across loads

	// leftover counts the file bytes of datasets released since the last
	// collect: a measure of the garbage (decoded tables) they left.
	leftover atomic.Int64
}

// NewLoader returns a Loader.
func NewLoader(cfg Config) *Loader {
	return &Loader{cfg: cfg}
}

// collectAfter is the leftover above which a load collects garbage before
// it reads its file; see [Loader.collect].
const collectAfter = 64 << 20

// collect runs a garbage collection when the datasets released since the
// last one left enough garbage. A large load ends with what it decoded
// (the object graph gopickle built, the table's string and vector headers)
// live at the last GC, so the GC's next goal (twice the live heap) lets
// the next load allocate all of its own before the previous one's is
// freed. The file buffers themselves are outside the heap (internal/
// filebuf), so this matters less than it did: over three jobs of a 190 MiB
// DataFrame, peak RSS was 1.81x the file with it and 1.85x without (4.0x
// against 2.9x when files were read into the heap). A collection when the
// previous table is garbage costs a few milliseconds.
func (l *Loader) collect() {
	if n := l.leftover.Load(); n >= collectAfter && l.leftover.CompareAndSwap(n, 0) {
		runtime.GC()
	}
}

// Load opens ref's file, reads it whole (refusing more than MaxFileBytes),
// and decodes it with the pickle limits while hashing it. It returns the
// [Dataset], to [Dataset.Release] once done with it, and the [Stats] of
// the steps it got through, also when it fails.
//
// Errors are [*Error]s naming the step and the file, wrapping: from
// opening, internal/source's ErrUnsafePath or ErrNotFound, the object
// store's error, [ErrNoObjectStore], or the file system's; from reading,
// [ErrTooLarge], a file that changed size while it was read
// (io.ErrUnexpectedEOF: transient) or an I/O error; from decoding,
// pickleload's errors (pickleload.ErrInvalid). Nothing an error holds
// aliases the file's buffer.
func (l *Loader) Load(ctx context.Context, ref Ref) (*Dataset, Stats, error) {
	var st Stats
	l.collect()
	start := time.Now()
	buf, err := l.read(ctx, ref)
	st.Read = time.Since(start)
	if err != nil {
		return nil, st, err
	}
	data := buf.Bytes()
	st.FileBytes = int64(len(data))

	// Hash while the pickle loads: both only read data.
	sum := make(chan [sha256.Size]byte, 1)
	go func() { sum <- sha256.Sum256(data) }()
	start = time.Now()
	t, err := func() (*table.Table, error) {
		defer func() { // the hash must be done before buf can go back
			digest := <-sum
			st.SHA256 = hex.EncodeToString(digest[:])
		}()
		return pickleload.Load(data, l.cfg.pickleOptions(len(data)))
	}()
	st.Load = time.Since(start)
	if err != nil {
		l.put(buf, st.FileBytes) // the error does not alias buf: pickleload copies what it names
		return nil, st, &Error{Op: "load", Name: ref.Name, Err: err}
	}
	d := &Dataset{Stats: st, table: t, buf: buf, loader: l}
	d.refs.Store(1)
	return d, st, nil
}

// read returns ref's file, whole, in a buffer from l.bufs.
func (l *Loader) read(ctx context.Context, ref Ref) (*filebuf.Buffer, error) {
	var (
		r    io.ReadCloser
		size int64 = -1
	)
	switch ref.Origin {
	case InDataDir:
		f, err := source.OpenFile(l.cfg.DataDir, ref.Name)
		if err != nil {
			return nil, &Error{Op: "open", Name: ref.Name, Err: err}
		}
		size = regularSize(f)
		r = f
	case InObjectStore:
		if l.cfg.Objects == nil {
			return nil, &Error{Op: "open object", Name: ref.Name, Err: ErrNoObjectStore}
		}
		obj, n, err := l.cfg.Objects.Open(ctx, ref.Name)
		if err != nil {
			return nil, &Error{Op: "open object", Name: ref.Name, Err: err}
		}
		size = n
		r = obj
	case AtPath:
		f, err := os.Open(ref.Name)
		if err != nil {
			return nil, &Error{Op: "open", Name: ref.Name, Err: err}
		}
		size = regularSize(f)
		r = f
	default:
		return nil, &Error{Op: "open", Name: ref.Name, Err: fmt.Errorf("unknown origin %d", ref.Origin)}
	}
	defer r.Close()
	buf, err := readInto(r, size, l.cfg.MaxFileBytes, &l.bufs)
	if err != nil {
		return nil, &Error{Op: "read", Name: ref.Name, Err: err}
	}
	return buf, nil
}

// regularSize returns f's size if it is a regular file, else -1 (unknown:
// read to its end).
func regularSize(f *os.File) int64 {
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		return st.Size()
	}
	return -1
}

// put gives a dataset's buffer back to the pool and counts its file's
// bytes towards the next collect.
func (l *Loader) put(buf *filebuf.Buffer, fileBytes int64) {
	l.bufs.put(buf)
	l.leftover.Add(fileBytes)
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

// Dataset is a loaded file: its table, aliasing the file's buffer
// (strings, bytes and vector rows are slices of the file), and its
// [Stats]. It holds the buffer until it is released as often as it was
// retained, plus once for [Loader.Load]; nothing may use the table, its
// windows, or anything aliasing them afterwards.
type Dataset struct {
	Stats

	table  *table.Table
	buf    *filebuf.Buffer
	loader *Loader
	refs   atomic.Int64
}

// Table returns the whole table. It is valid until the dataset is
// released.
func (d *Dataset) Table() *table.Table { return d.table }

// Source returns the dataset as a [table.Source] (its windows alias the
// buffer too). It is valid until the dataset is released.
func (d *Dataset) Source() table.Source { return d.table }

// Rows returns the number of records.
func (d *Dataset) Rows() int { return d.table.NumRows }

// Retain adds a holder: one more [Dataset.Release] is then needed before
// the buffer goes back. Call it before handing the dataset to another
// goroutine that may outlive the caller's hold.
func (d *Dataset) Retain() {
	if d.refs.Add(1) <= 1 {
		panic("dataset: Retain after the last Release")
	}
}

// Release drops one hold; the last one gives the file's buffer back to the
// loader's pool, for another file to overwrite. Releasing more often than
// the dataset was held panics: it is a bug that could hand one buffer to
// two loads.
func (d *Dataset) Release() {
	switch n := d.refs.Add(-1); {
	case n == 0:
		d.loader.put(d.buf, d.FileBytes)
	case n < 0:
		panic("dataset: Release called more often than Retain")
	}
}
