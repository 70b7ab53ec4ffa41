// Package filebuf holds whole files in memory outside the Go heap.
//
// Workers no longer read their files into memory: the dataset stage
// (internal/dataset) maps them, so that their bytes are reclaimable page
// cache rather than anonymous memory. A [Buffer] remains where a file must
// be read into memory instead: the dataset stage on systems without
// mmap, and the benchmark's load stage. Kept in the Go heap, a file of
// hundreds of MB inflates the garbage collector's goal (twice the live
// heap) by as much again; it is also faulted in page by page as the read
// fills it, on one core. A Buffer is an anonymous private mapping instead
// (on Linux; ordinary Go memory elsewhere): it does not count towards the
// GC's goal, its owner says when it is no longer used ([Buffer.Free])
// instead of waiting for a GC, and [ReadFull] fills it from a file on
// every core at once.
//
// The memory is private to the process: a file that changes after it was
// read cannot change a Buffer, unlike a mapping of the file itself (which
// faults with SIGBUS when the file is truncated under it).
package filebuf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
)

// Buffer is memory for one file. The zero value is an empty buffer.
type Buffer struct {
	mem    []byte // the whole allocation
	n      int    // bytes in use
	mapped bool   // mem is a mapping to unmap, not Go memory
}

// New returns a zero-filled buffer of n bytes.
func New(n int) (*Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("filebuf: negative size %d", n)
	}
	mem, mapped, err := alloc(n)
	if err != nil {
		return nil, fmt.Errorf("filebuf: allocate %d bytes: %w", n, err)
	}
	return &Buffer{mem: mem, n: n, mapped: mapped}, nil
}

// Bytes returns the buffer's n bytes in use. They stay valid until
// [Buffer.Free]; nothing may use them, or anything aliasing them, after it.
func (b *Buffer) Bytes() []byte { return b.mem[:b.n:b.n] }

// Cap returns how many bytes the buffer can hold.
func (b *Buffer) Cap() int { return len(b.mem) }

// Resize sets how many bytes are in use, at most [Buffer.Cap]; it does
// not clear them (a reused buffer holds the previous file).
func (b *Buffer) Resize(n int) {
	if n < 0 || n > len(b.mem) {
		panic(fmt.Sprintf("filebuf: Resize(%d) on a buffer of %d bytes", n, len(b.mem)))
	}
	b.n = n
}

// Free returns the memory to the system. The buffer is empty afterwards;
// Free on an empty buffer does nothing.
func (b *Buffer) Free() error {
	mem, mapped := b.mem, b.mapped
	b.mem, b.n, b.mapped = nil, 0, false
	if mapped && len(mem) > 0 {
		if err := release(mem); err != nil {
			return fmt.Errorf("filebuf: free %d bytes: %w", len(mem), err)
		}
	}
	return nil
}

// ErrChanged reports a file whose size differs from what its Stat said:
// it is being written or replaced, so reading it again later may succeed.
// It wraps io.ErrUnexpectedEOF.
var ErrChanged = fmt.Errorf("the file changed while it was read: %w", io.ErrUnexpectedEOF)

// ReadFile reads the regular file at path whole into a new Buffer, with
// [ReadFull].
func ReadFile(path string) (*Buffer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("filebuf: %s is not a regular file", path)
	}
	size := st.Size()
	if int64(int(size)) != size {
		return nil, fmt.Errorf("filebuf: %s: %d bytes do not fit in memory", path, size)
	}
	b, err := New(int(size))
	if err != nil {
		return nil, err
	}
	if err := ReadFull(f, b.Bytes()); err != nil {
		b.Free()
		return nil, fmt.Errorf("filebuf: read %s: %w", path, err)
	}
	return b, nil
}

// Parallel reads: a part is at least partMin bytes, and at most maxParts
// run at once.
const (
	partMin  = 16 << 20
	maxParts = 4
)

// ReadFull fills dst with the first len(dst) bytes of r and checks that r
// holds no more. A large dst is read in parts by concurrent ReadAt calls,
// one per CPU (up to 4): faulting fresh pages in and copying from the page
// cache then run on every core; on two cores a 293 MiB file took 0.10 s
// instead of 0.17 s. A short or longer r is [ErrChanged].
func ReadFull(r io.ReaderAt, dst []byte) error {
	parts := min(maxParts, runtime.GOMAXPROCS(0), max(1, len(dst)/partMin))
	size := (len(dst)/parts + 4095) &^ 4095 // page-aligned parts
	errs := make([]error, parts)
	var wg sync.WaitGroup
	func() {
		defer wg.Wait() // even if a read panics: no part may outlive the call
		for i := range parts {
			lo := min(len(dst), i*size)
			hi := min(len(dst), lo+size)
			if i == parts-1 {
				hi = len(dst)
			}
			read := func() {
				n, err := r.ReadAt(dst[lo:hi], int64(lo))
				if n == hi-lo {
					err = nil
				} else if err == nil || errors.Is(err, io.EOF) {
					err = fmt.Errorf("%w (%d bytes expected, fewer found)", ErrChanged, len(dst))
				}
				errs[i] = err
			}
			if i == parts-1 {
				read() // the last part on this goroutine
			} else {
				wg.Go(read)
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var one [1]byte
	if n, _ := r.ReadAt(one[:], int64(len(dst))); n > 0 {
		return fmt.Errorf("%w (more than the %d bytes expected)", ErrChanged, len(dst))
	}
	return nil
}
