package filebuf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"testing"
)

// These tests change GOMAXPROCS, which ReadFull reads to choose its parts:
// none of them may run in parallel with other tests.

// patternPeriod is the period of the bytes patternAt serves: a prime, so
// that a part read at the wrong offset shows.
const patternPeriod = 4093

// pattern holds two periods, so that any offset's next period is one slice.
var pattern = func() []byte {
	b := make([]byte, 2*patternPeriod)
	for i := range b {
		j := i % patternPeriod
		b[i] = byte(j*7 + j>>5 + 1)
	}
	return b
}()

// span is one ReadAt call.
type span struct{ off, n int64 }

// patternAt is an io.ReaderAt of size bytes of pattern, recording its calls.
// fault, if set, may replace a call's result (the call's offset and
// buffer, and the well-behaved result).
type patternAt struct {
	size  int64
	fault func(off int64, p []byte, n int, err error) (int, error)

	mu    sync.Mutex
	calls []span
}

func (r *patternAt) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	r.calls = append(r.calls, span{off, int64(len(p))})
	r.mu.Unlock()
	n := 0
	if off < r.size {
		n = int(min(int64(len(p)), r.size-off))
	}
	for i := 0; i < n; {
		i += copy(p[i:n], pattern[(off+int64(i))%patternPeriod:])
	}
	var err error
	if n < len(p) {
		err = io.EOF
	}
	if r.fault != nil {
		return r.fault(off, p, n, err)
	}
	return n, err
}

// checkPattern checks that dst holds the pattern from offset 0.
func checkPattern(dst []byte) error {
	for i := 0; i < len(dst); i += patternPeriod {
		end := min(len(dst), i+patternPeriod)
		if !bytes.Equal(dst[i:end], pattern[:end-i]) {
			return fmt.Errorf("bytes %d to %d differ from the file", i, end)
		}
	}
	return nil
}

// withProcs runs f with GOMAXPROCS set to n.
func withProcs(n int, f func()) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	f()
}

// TestReadFullPartsTileTheBuffer reads sizes around the part boundaries
// with 1, 3 and 8 procs and checks that the parts ReadFull reads cover dst
// exactly once, start on page boundaries, number min(4, procs, size/16 MiB)
// (at least one), that a single one-byte read past the end checks for
// more, and that dst holds the file.
func TestReadFullPartsTileTheBuffer(t *testing.T) {
	sizes := []int{0, 1, 4095, 4096, 4097, partMin - 1, partMin, partMin + 1,
		2*partMin - 1, 2 * partMin, 2*partMin + 4097, 3*partMin + 12345, 4*partMin + 1}
	big := make([]byte, 5*partMin+3)
	for _, procs := range []int{1, 3, 8} {
		withProcs(procs, func() {
			ss := sizes
			if procs == 8 {
				ss = append(slices.Clone(sizes), 5*partMin+3) // more parts than maxParts
			}
			for _, n := range ss {
				clear(big[:n])
				r := &patternAt{size: int64(n)}
				if err := ReadFull(r, big[:n]); err != nil {
					t.Fatalf("procs %d size %d: %v", procs, n, err)
				}
				if err := checkPattern(big[:n]); err != nil {
					t.Fatalf("procs %d size %d: %v", procs, n, err)
				}
				if err := checkParts(r.calls, n, min(maxParts, procs, max(1, n/partMin))); err != nil {
					t.Fatalf("procs %d size %d: %v", procs, n, err)
				}
			}
		})
	}
}

// checkParts checks the ReadAt calls of one ReadFull of n bytes: want
// parts tiling [0, n) from page boundaries, then one 1-byte read at n.
func checkParts(calls []span, n, want int) error {
	var parts []span
	probes := 0
	for _, c := range calls {
		if c.off == int64(n) && c.n == 1 {
			probes++
			continue
		}
		parts = append(parts, c)
	}
	if probes != 1 {
		return fmt.Errorf("%d reads past the end, want 1 (calls %v)", probes, calls)
	}
	if len(parts) != want {
		return fmt.Errorf("%d parts, want %d (calls %v)", len(parts), want, calls)
	}
	slices.SortFunc(parts, func(a, b span) int { return int(a.off - b.off) })
	at := int64(0)
	for _, p := range parts {
		if p.off != at || p.off%4096 != 0 {
			return fmt.Errorf("part %v: want one starting at %d on a page boundary (calls %v)", p, at, calls)
		}
		at += p.n
	}
	if at != int64(n) {
		return fmt.Errorf("parts end at %d, want %d (calls %v)", at, n, calls)
	}
	return nil
}

// TestReadFullFailures: every way a part can come back short is an error,
// never success with a hole in dst. A short part with io.EOF or, breaking
// the io.ReaderAt contract, with no error means the file shrank
// (ErrChanged, transient); a longer file too; an I/O error is returned as
// itself. A full part with io.EOF is a legal end of file.
func TestReadFullFailures(t *testing.T) {
	errIO := errors.New("input/output error")
	const n = 2*partMin + 5 // two parts with 2 or more procs
	dst := make([]byte, n)
	cases := []struct {
		name  string
		fault func(off int64, p []byte, got int, err error) (int, error)
		want  []error // nil: success
		not   error   // an error the result must not match
	}{
		{"full parts, io.EOF at the end", func(off int64, p []byte, got int, err error) (int, error) {
			if off+int64(len(p)) == n {
				return got, io.EOF
			}
			return got, err
		}, nil, nil},
		{"first part short, no error", func(off int64, p []byte, got int, err error) (int, error) {
			if off == 0 {
				return got - 1, nil
			}
			return got, err
		}, []error{ErrChanged, io.ErrUnexpectedEOF}, nil},
		{"last part short, no error", func(off int64, p []byte, got int, err error) (int, error) {
			if off > 0 && off < n {
				return got / 2, nil
			}
			return got, err
		}, []error{ErrChanged}, nil},
		{"first part short, io.EOF", func(off int64, p []byte, got int, err error) (int, error) {
			if off == 0 {
				return 100, io.EOF
			}
			return got, err
		}, []error{ErrChanged, io.ErrUnexpectedEOF}, nil},
		{"last part empty, io.EOF", func(off int64, p []byte, got int, err error) (int, error) {
			if off > 0 && off < n {
				return 0, io.EOF
			}
			return got, err
		}, []error{ErrChanged}, nil},
		{"first part fails", func(off int64, p []byte, got int, err error) (int, error) {
			if off == 0 {
				return 4096, errIO
			}
			return got, err
		}, []error{errIO}, ErrChanged},
		{"last part fails", func(off int64, p []byte, got int, err error) (int, error) {
			if off > 0 && off < n {
				return 0, errIO
			}
			return got, err
		}, []error{errIO}, ErrChanged},
		{"the file grew", func(off int64, p []byte, got int, err error) (int, error) {
			if off == n {
				p[0] = 1
				return 1, nil
			}
			return got, err
		}, []error{ErrChanged}, nil},
	}
	withProcs(2, func() {
		for _, c := range cases {
			r := &patternAt{size: n, fault: c.fault}
			err := ReadFull(r, dst)
			if c.want == nil {
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s: ReadFull succeeded", c.name)
				continue
			}
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Errorf("%s: err = %v, want it to match %v", c.name, err, w)
				}
			}
			if c.not != nil && errors.Is(err, c.not) {
				t.Errorf("%s: err = %v, must not match %v", c.name, err, c.not)
			}
		}
	})
}

// TestReadFileLargeIsMappedAndFreeUnmaps reads a file of several parts
// into a mapped buffer, checks its bytes, and that Free really returns the
// memory: a slice still aliasing it then faults (which is why nothing may
// alias a buffer past Free). A small file is Go memory.
func TestReadFileLargeIsMappedAndFreeUnmaps(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("buffers are mappings on Linux only")
	}
	dir := t.TempDir()
	n := 2*partMin + 4097
	data := make([]byte, n)
	for i := 0; i < n; i += copy(data[i:], pattern[i%patternPeriod:]) {
	}
	path := filepath.Join(dir, "large.pkl")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var b *Buffer
	withProcs(2, func() {
		var err error
		if b, err = ReadFile(path); err != nil {
			t.Fatal(err)
		}
	})
	if !b.mapped || b.Cap() != n || !bytes.Equal(b.Bytes(), data) {
		t.Fatalf("mapped %v, %d bytes: want a mapping holding the %d bytes of the file", b.mapped, b.Cap(), n)
	}
	alias := b.Bytes()
	if err := b.Free(); err != nil {
		t.Fatal(err)
	}
	if !faults(func() { sink = alias[n/2] }) {
		t.Fatal("reading a freed buffer did not fault: Free did not unmap it")
	}

	small, err := New(mapMin - 1)
	if err != nil {
		t.Fatal(err)
	}
	if small.mapped {
		t.Fatal("a buffer under mapMin is a mapping, want Go memory")
	}
	if err := small.Free(); err != nil {
		t.Fatal(err)
	}
}

// sink keeps a load from being optimized away.
var sink byte

// faults reports whether f faults on a memory access.
func faults(f func()) (faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			faulted = true
		}
	}()
	f()
	return false
}
