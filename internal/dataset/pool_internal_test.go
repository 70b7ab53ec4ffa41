package dataset

// Tests of readInto's failure paths and of the buffer pool under
// concurrent use: a buffer handed to two holders at once, or freed while
// held, would let one dataset's table read another file's bytes, or fault.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/embedstream/embedstream/internal/filebuf"
)

// onlyReader hides every method of r but Read (no io.ReaderAt): readInto
// then reads by growing its buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// failAfter reads r, then fails with err instead of io.EOF.
type failAfter struct {
	r   io.Reader
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// failAt is a reader of data whose ReadAt fails every read reaching off.
type failAt struct {
	*bytes.Reader
	off int64
	err error
}

func (f failAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.off {
		return 0, f.err
	}
	return f.Reader.ReadAt(p, off)
}

// checkPool checks p's invariants: every pooled buffer is distinct (a
// double put would hand one buffer to two jobs), live and worth pooling,
// and there are at most maxPooled.
func checkPool(t *testing.T, p *bufferPool) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) > maxPooled {
		t.Fatalf("pool holds %d buffers, at most %d allowed", len(p.free), maxPooled)
	}
	seen := map[*filebuf.Buffer]bool{}
	for _, b := range p.free {
		if seen[b] {
			t.Fatal("the pool holds one buffer twice")
		}
		seen[b] = true
		if b.Cap() < minPooled {
			t.Fatalf("the pool holds a buffer of %d bytes (freed, or too small to pool)", b.Cap())
		}
	}
}

// TestReadIntoErrorPathsPutOnce drives readInto's failure paths (a read
// error after the buffer grew through pooled sizes, MAX_FILE_BYTES crossed
// while growing, a file that changed size, a ReadAt failure) against one
// pool and checks after each that the pool holds each buffer at most once,
// none freed, and then hands out distinct buffers.
func TestReadIntoErrorPathsPutOnce(t *testing.T) {
	t.Parallel()
	var p bufferPool
	defer p.release()
	data := bytes.Repeat([]byte("0123456789abcdef"), (5<<20)/16) // 5 MiB: grows past 1, 2 and 4 MiB
	errRead := errors.New("disk on fire")

	cases := []struct {
		name  string
		r     io.Reader
		size  int64
		limit int64
		want  error
	}{
		{"read error after growing", onlyReader{&failAfter{bytes.NewReader(data), errRead}}, -1, 0, errRead},
		{"limit crossed while growing", onlyReader{bytes.NewReader(data)}, -1, 3 << 20, ErrTooLarge},
		{"limit crossed, size known", onlyReader{bytes.NewReader(data)}, 2 << 20, 3 << 20, ErrTooLarge},
		{"file shorter than its size", onlyReader{bytes.NewReader(data)}, int64(len(data)) + 5, 0, io.ErrUnexpectedEOF},
		{"file longer than its size", onlyReader{bytes.NewReader(data)}, int64(len(data)) - 5, 0, io.ErrUnexpectedEOF},
		{"ReadAt failure", failAt{bytes.NewReader(data), 3 << 20, errRead}, int64(len(data)), 0, errRead},
		{"ReadAt file grew", bytes.NewReader(data), int64(len(data)) - 5, 0, filebuf.ErrChanged},
	}
	for _, c := range cases {
		b, err := readInto(c.r, c.size, c.limit, &p)
		if b != nil || !errors.Is(err, c.want) {
			t.Fatalf("%s: buffer %v, err = %v, want %v", c.name, b != nil, err, c.want)
		}
		checkPool(t, &p)
	}
	// The pool still works: two buffers in use at once are distinct, and
	// a good read returns the data.
	a, err := p.get(3 << 20)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.get(3 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("one buffer handed out twice")
	}
	p.put(a)
	p.put(b)
	checkPool(t, &p)
	got, err := readInto(onlyReader{bytes.NewReader(data)}, -1, 0, &p)
	if err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("good read after the failures: %v", err)
	}
	p.put(got)
	checkPool(t, &p)
}

// TestBufferPoolConcurrentJobs has goroutines take, stamp, check and give
// back buffers while others release the pool, as concurrent jobs and the
// idle timer do: a buffer must never be handed to two holders at once (a
// stamp overwritten while held), nor freed while held.
func TestBufferPoolConcurrentJobs(t *testing.T) {
	t.Parallel()
	var p bufferPool
	defer p.release()
	sizes := []int{minPooled, minPooled + 4096, 2 * minPooled, 3*minPooled + 1}
	const holders, rounds = 4, 60
	errc := make(chan error, holders)
	var wg sync.WaitGroup
	for h := range holders {
		wg.Go(func() {
			for i := range rounds {
				n := sizes[(h+i)%len(sizes)]
				b, err := p.get(n)
				if err != nil {
					errc <- err
					return
				}
				mem := b.Bytes()
				stamp := byte(h*rounds + i)
				mem[0], mem[n/2], mem[n-1] = stamp, stamp, stamp
				runtime.Gosched()
				if len(b.Bytes()) != n || mem[0] != stamp || mem[n/2] != stamp || mem[n-1] != stamp {
					errc <- fmt.Errorf("holder %d round %d: buffer changed while held", h, i)
					return
				}
				p.put(b)
				if i%7 == 0 {
					p.release()
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	checkPool(t, &p)
}
