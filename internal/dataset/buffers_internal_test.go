package dataset

import (
	"bytes"
	"testing"

	"github.com/embedstream/embedstream/internal/filebuf"
)

func mustGet(t *testing.T, p *bufferPool, n int) *filebuf.Buffer {
	t.Helper()
	b, err := p.get(n)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Bytes()) != n {
		t.Fatalf("get(%d) returned %d bytes", n, len(b.Bytes()))
	}
	return b
}

func TestBufferPoolReusesAndBounds(t *testing.T) {
	t.Parallel()
	var p bufferPool
	a := mustGet(t, &p, 2<<20)
	p.put(a)
	b := mustGet(t, &p, 1<<20)
	if b != a {
		t.Fatal("get after put: want the pooled buffer, got a new one")
	}
	if c := mustGet(t, &p, 1<<20); c == a {
		t.Fatal("a buffer in use was handed out twice")
	} else {
		p.put(c)
	}
	p.put(b)
	if c := mustGet(t, &p, 4<<20); c == a {
		t.Fatal("a buffer too small was handed out")
	} else {
		p.put(c)
	}
	for range maxPooled + 2 {
		p.put(mustGet(t, nil, minPooled))
	}
	if len(p.free) != maxPooled {
		t.Fatalf("pool holds %d buffers, want at most %d", len(p.free), maxPooled)
	}
	kept := append([]*filebuf.Buffer(nil), p.free...)
	small := mustGet(t, nil, 10)
	p.put(small) // too small to keep: freed
	if small.Cap() != 0 {
		t.Fatal("a buffer too small to pool was not freed")
	}
	p.release()
	if len(p.free) != 0 {
		t.Fatalf("release left %d buffers", len(p.free))
	}
	for _, b := range kept {
		if b.Cap() != 0 {
			t.Fatal("release did not free a pooled buffer")
		}
	}
	var nilPool *bufferPool
	nilPool.put(mustGet(t, nilPool, 2<<20))
}

func TestReadIntoReusedBuffer(t *testing.T) {
	t.Parallel()
	var p bufferPool
	defer p.release()
	first := bytes.Repeat([]byte{0xAA}, 3<<20)
	b, err := readInto(bytes.NewReader(first), int64(len(first)), 0, &p)
	if err != nil || !bytes.Equal(b.Bytes(), first) {
		t.Fatalf("first read: %v", err)
	}
	p.put(b)
	second := bytes.Repeat([]byte("pickle"), 300_000) // shorter: stale bytes must not show
	b2, err := readInto(bytes.NewReader(second), int64(len(second)), 0, &p)
	if err != nil || !bytes.Equal(b2.Bytes(), second) {
		t.Fatalf("second read into the reused buffer: %v", err)
	}
	if b2 != b {
		t.Fatal("second read did not reuse the pooled buffer")
	}
	p.put(b2)
}
