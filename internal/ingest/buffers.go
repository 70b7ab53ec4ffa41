package ingest

import (
	"sync"
	"time"

	"github.com/embedstream/embedstream/internal/pickleload"
)

// bufferPool recycles the buffers whole files are read into, across jobs.
//
// A job's table aliases its file buffer (strings, in-place float32
// matrices) until the job ends, so a buffer comes back only after a job
// succeeded, once nothing refers to the table. Without it, the next large
// job allocated its buffer before a GC had freed the previous one, and a
// worker's peak RSS grew with every job until a GC caught up. A reused
// buffer is also already faulted in: reading into it costs a copy and no
// page faults.
//
// The pool keeps at most maxPooled buffers and lets them go to the GC
// after poolIdle without a put, so an idle worker does not hold them.
// (sync.Pool does not fit: a buffer put on one P is invisible to a Get on
// another until a GC, which then drops it.)
type bufferPool struct {
	mu    sync.Mutex
	free  [][]byte
	timer *time.Timer // releases free after poolIdle
}

const (
	// minPooled is the smallest buffer worth pooling: small files are
	// cheap to allocate.
	minPooled = 1 << 20
	// maxPooled bounds the buffers kept.
	maxPooled = 2
	// poolIdle is how long kept buffers outlive the last job that
	// returned one.
	poolIdle = 30 * time.Second
)

// get returns a buffer of length n: the smallest pooled one large enough,
// else a new one. A nil pool always allocates.
func (p *bufferPool) get(n int) []byte {
	if p != nil && n >= minPooled {
		p.mu.Lock()
		best := -1
		for i, b := range p.free {
			if cap(b) >= n && (best < 0 || cap(b) < cap(p.free[best])) {
				best = i
			}
		}
		if best >= 0 {
			b := p.free[best]
			p.free = append(p.free[:best], p.free[best+1:]...)
			p.mu.Unlock()
			return b[:n]
		}
		p.mu.Unlock()
	}
	return pickleload.NewFileBuffer(n)
}

// put returns b for reuse. The caller must not use b, or anything aliasing
// it, afterwards.
func (p *bufferPool) put(b []byte) {
	if p == nil || cap(b) < minPooled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxPooled {
		p.free = append(p.free, b[:0])
	} else {
		// full: keep the larger buffers, which serve more files
		small := 0
		for i := range p.free {
			if cap(p.free[i]) < cap(p.free[small]) {
				small = i
			}
		}
		if cap(b) <= cap(p.free[small]) {
			return
		}
		p.free[small] = b[:0]
	}
	if p.timer == nil {
		p.timer = time.AfterFunc(poolIdle, p.release)
	} else {
		p.timer.Reset(poolIdle)
	}
}

// release drops the pooled buffers.
func (p *bufferPool) release() {
	p.mu.Lock()
	clear(p.free)
	p.free = p.free[:0]
	p.mu.Unlock()
}
