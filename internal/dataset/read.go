package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/embedstream/embedstream/internal/container"
	"github.com/embedstream/embedstream/internal/filebuf"
)

// input is a file ready for decoding: a file of the data directory or a
// path, mapped where it is, or a spooled file (an object, a container's
// content), unlinked at once; or, without a memory budget, the file read
// into a pooled buffer (buf).
type input struct {
	f      *os.File         // nil for a buffer
	buf    *filebuf.Buffer  // the file read into memory, or nil
	pool   *bufferPool      // where buf goes back
	data   []byte           // the mapping, or buf's bytes
	format container.Format // what data is, once identified
	// digest is the hex sha256 of the file as stored when it was
	// computed while spooling or unwrapping; "": hash data.
	digest string
	// size is the file's size at open, checked again after decoding
	// (not for spooled files, which nothing else can open).
	size   int64
	inSitu bool
}

// hash starts hashing in's file and returns a function waiting for the
// hex digest (as often as called). The reading goroutine is guarded
// against faults.
func (in *input) hash() func() (string, error) {
	if in.digest != "" {
		return func() (string, error) { return in.digest, nil }
	}
	type result struct {
		sum string
		err error
	}
	ch := make(chan result, 1)
	data := in.data
	go func() {
		var sum [sha256.Size]byte
		err := Guard(func() error { sum = sha256.Sum256(data); return nil })
		ch <- result{hex.EncodeToString(sum[:]), err}
	}()
	return sync.OnceValues(func() (string, error) {
		r := <-ch
		return r.sum, r.err
	})
}

// unchanged returns a transient error when in's file no longer has the
// size it had when it was mapped: it is being written or replaced, and
// what was decoded may mix two versions (a retry reads it whole).
func (in *input) unchanged() error {
	if !in.inSitu || in.f == nil {
		return nil
	}
	fi, err := in.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != in.size {
		return fmt.Errorf("the file changed while it was read (%d bytes at open, %d after): %w", in.size, fi.Size(), io.ErrUnexpectedEOF)
	}
	return nil
}

// close unmaps and closes in's file (a spooled file's disk space is then
// freed), or gives its buffer back to the pool.
func (in *input) close() error {
	data := in.data
	in.data = nil
	if in.buf != nil {
		in.pool.put(in.buf)
		in.buf = nil
		return nil
	}
	return errors.Join(unmap(data), in.f.Close())
}

// limit returns MaxFileBytes, or no limit (a number nothing reaches,
// with room to count past it).
func (l *Loader) limit() int64 {
	if n := l.cfg.MaxFileBytes; n > 0 {
		return min(n, math.MaxInt64/2)
	}
	return math.MaxInt64 / 2
}

// tooLarge is the error for a file of size bytes above the limit.
func (l *Loader) tooLarge(size int64) error {
	return fmt.Errorf("%w: %d bytes, MAX_FILE_BYTES is %d", ErrTooLarge, size, l.limit())
}

// mapOpened maps f, a file of the data directory or a path; a file that is
// not a regular file (a pipe) is spooled first. It closes f on error.
func (l *Loader) mapOpened(ctx context.Context, f *os.File, st *Stats) (*input, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		defer f.Close()
		return l.spool(ctx, f, -1, st)
	}
	st.FileBytes = fi.Size()
	if fi.Size() > l.limit() {
		f.Close()
		return nil, l.tooLarge(fi.Size())
	}
	if l.readWhole() {
		defer f.Close()
		return l.readBuffer(f, fi.Size())
	}
	data, err := mapFile(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	return &input{f: f, data: data, size: fi.Size(), inSitu: true}, nil
}

// spoolObject writes an object of the object store (size bytes; -1:
// unknown) into a scratch file, hashing it on the way, and maps that
// (without a memory budget: reads it into a pooled buffer).
func (l *Loader) spoolObject(ctx context.Context, r io.Reader, size int64, st *Stats) (*input, error) {
	if size > l.limit() {
		st.FileBytes = size
		return nil, l.tooLarge(size)
	}
	if l.readWhole() {
		in, err := l.readBuffer(ctxReader{ctx, r}, size)
		if in != nil {
			st.FileBytes = int64(len(in.data))
		}
		return in, err
	}
	return l.spool(ctx, r, size, st)
}

// readWhole reports whether files are read into pooled buffers instead of
// mapped: without a memory budget. Mapping a file costs its page-table
// entries on every load (on the 190 MiB bench DataFrame, about 100 ms
// more per job than copying it into a buffer the pool keeps faulted in);
// a worker without a memory limit has no memory to save by it.
func (l *Loader) readWhole() bool { return l.cfg.MemoryBudget <= 0 }

// readBuffer reads r (size bytes; -1: unknown) whole into a buffer of the
// pool (readInto: at most MaxFileBytes; another size than announced is a
// transient error).
func (l *Loader) readBuffer(r io.Reader, size int64) (*input, error) {
	buf, err := readInto(r, size, l.limit(), &l.bufs)
	if err != nil {
		return nil, err
	}
	return &input{buf: buf, pool: &l.bufs, data: buf.Bytes()}, nil
}

// spool copies r into an unlinked scratch file, hashing it, refusing more
// than MaxFileBytes, and maps the file. size is r's expected length (-1:
// unknown); another length is a transient error.
func (l *Loader) spool(ctx context.Context, r io.Reader, size int64, st *Stats) (*input, error) {
	f, err := l.scratchFile()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, r}, l.limit()+1), make([]byte, 1<<20))
	st.FileBytes = n
	switch {
	case err != nil:
	case n > l.limit():
		err = fmt.Errorf("%w: more than MAX_FILE_BYTES (%d)", ErrTooLarge, l.limit())
	case size >= 0 && n != size:
		// Being written or replaced right now: a retry later reads it
		// whole, so this is transient, not a bad pickle.
		err = fmt.Errorf("the file changed while it was read (%d bytes announced, %d read): %w", size, n, io.ErrUnexpectedEOF)
	}
	var data []byte
	if err == nil {
		data, err = mapFile(f, n)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &input{f: f, data: data, size: n, digest: hex.EncodeToString(h.Sum(nil))}, nil
}

// unwrap writes the content of in, a compressed file or an archive, into
// an unlinked scratch file (at most MaxFileBytes) and maps it, while
// hashing in. It closes in, and returns the content's input.
func (l *Loader) unwrap(ctx context.Context, in *input, st *Stats) (res *input, err error) {
	sum := in.hash()
	defer func() {
		digest, herr := sum() // done before in is unmapped
		st.SHA256 = digest
		if err == nil {
			err = herr
		}
		if cerr := in.unchanged(); cerr != nil { // a file changing under us is not a corrupt one
			err = cerr
		}
		if cerr := in.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		if err != nil && res != nil {
			res.close()
			res = nil
		}
	}()
	out, err := l.scratchFile()
	if err != nil {
		return nil, err
	}
	// The decoders read the file with pread, not the mapping: some decode
	// on goroutines of their own, which a fault must not crash; a file cut
	// short then reads as truncated, which unchanged() tells apart.
	var src io.ReaderAt = in.f
	if in.buf != nil {
		src = bytes.NewReader(in.data) // private memory: it cannot fault
	}
	got, err := container.Unwrap(ctx, src, int64(len(in.data)), out, container.Options{MaxBytes: l.limit()})
	st.Format = got.String()
	var data []byte
	if err == nil {
		data, err = mapFile(out, got.Size)
	}
	if err != nil {
		out.Close()
		return nil, err
	}
	digest, err := sum()
	return &input{f: out, data: data, format: got.Inner, size: got.Size, digest: digest}, err
}

// ctxReader ends a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}

// spoolPrefix starts the names of scratch files.
const spoolPrefix = "embedstream-spool-"

// scratchDir returns the directory scratch files go to.
func (l *Loader) scratchDir() string {
	if l.cfg.ScratchDir != "" {
		return l.cfg.ScratchDir
	}
	return os.TempDir()
}

// scratchFile creates a scratch file and unlinks it at once: its space is
// freed when it is closed (and unmapped), also when the process is killed.
func (l *Loader) scratchFile() (*os.File, error) {
	f, err := os.CreateTemp(l.scratchDir(), spoolPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("create a scratch file (SCRATCH_DIR): %w", err)
	}
	if err := os.Remove(f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		f.Close()
		return nil, fmt.Errorf("unlink scratch file: %w", err)
	}
	return f, nil
}

// CleanScratch removes the scratch files left in dir ("": os.TempDir())
// by a process killed between creating one and unlinking it (a Loader
// unlinks each at once), and returns how many it removed. A worker calls it
// at start. Files of a process still running are unlinked by it anyway:
// removing them first does no harm.
func CleanScratch(dir string) (int, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("read scratch directory: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), spoolPrefix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
			n++
		} else if !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}
