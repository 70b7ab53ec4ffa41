package dataset

import (
	"sync"
	"time"

	"github.com/embedstream/embedstream/internal/filebuf"
)

// bufferPool recycles the buffers whole files are read into, across loads.
//
// A dataset's table aliases its file buffer (strings, vectors) until the
// dataset is released, so a buffer comes back only once nothing refers to
// the table any more. The buffers are internal/filebuf mappings, outside
// the Go heap: the pool frees them itself (when it is full, and after
// poolIdle without a put, so that an idle worker does not hold them), and a
// reused buffer is already faulted in: reading into it costs a copy and no
// page faults. (sync.Pool does not fit: a buffer put on one P is invisible
// to a Get on another until a GC, which then drops it without unmapping
// it.)
type bufferPool struct {
	mu    sync.Mutex
	free  []*filebuf.Buffer
	timer *time.Timer // releases free after poolIdle
}

const (
	// minPooled is the smallest buffer worth pooling: small files are
	// cheap to allocate.
	minPooled = 1 << 20
	// maxPooled bounds the buffers kept.
	maxPooled = 2
	// poolIdle is how long kept buffers outlive the last dataset that
	// returned one.
	poolIdle = 30 * time.Second
)

// get returns a buffer of n bytes: the smallest pooled one large enough,
// else a new one. A nil pool always allocates.
func (p *bufferPool) get(n int) (*filebuf.Buffer, error) {
	if p != nil && n >= minPooled {
		p.mu.Lock()
		best := -1
		for i, b := range p.free {
			if b.Cap() >= n && (best < 0 || b.Cap() < p.free[best].Cap()) {
				best = i
			}
		}
		if best >= 0 {
			b := p.free[best]
			p.free = append(p.free[:best], p.free[best+1:]...)
			p.mu.Unlock()
			b.Resize(n)
			return b, nil
		}
		p.mu.Unlock()
	}
	return filebuf.New(n)
}

// put returns b for reuse, or frees it. The caller must not use b, or
// anything aliasing it, afterwards. A nil b is ignored.
func (p *bufferPool) put(b *filebuf.Buffer) {
	if b == nil {
		return
	}
	if p == nil || b.Cap() < minPooled {
		free(b)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxPooled {
		p.free = append(p.free, b)
	} else {
		// full: keep the larger buffers, which serve more files
		small := 0
		for i := range p.free {
			if p.free[i].Cap() < p.free[small].Cap() {
				small = i
			}
		}
		if b.Cap() <= p.free[small].Cap() {
			free(b)
			return
		}
		free(p.free[small])
		p.free[small] = b
	}
	if p.timer == nil {
		p.timer = time.AfterFunc(poolIdle, p.release)
	} else {
		p.timer.Reset(poolIdle)
	}
}

// release frees the pooled buffers.
func (p *bufferPool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.free {
		free(b)
	}
	clear(p.free)
	p.free = p.free[:0]
}

// free unmaps b. Unmapping a mapping we made cannot fail short of a bug,
// which a panic reports better than a log line nobody connects to it.
func free(b *filebuf.Buffer) {
	if err := b.Free(); err != nil {
		panic(err)
	}
}
