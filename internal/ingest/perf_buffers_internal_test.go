package ingest

import (
	"bytes"
	"testing"
	"unsafe"
)

func TestBufferPoolReusesAndBounds(t *testing.T) {
	t.Parallel()
	var p bufferPool
	a := p.get(2 << 20)
	p.put(a)
	b := p.get(1 << 20)
	if unsafe.SliceData(a) != unsafe.SliceData(b) || len(b) != 1<<20 {
		t.Fatalf("get after put: want the pooled buffer, got a new one (len %d)", len(b))
	}
	if c := p.get(1 << 20); unsafe.SliceData(c) == unsafe.SliceData(a) {
		t.Fatal("a buffer in use was handed out twice")
	}
	p.put(b)
	if c := p.get(4 << 20); unsafe.SliceData(c) == unsafe.SliceData(a) || len(c) != 4<<20 {
		t.Fatal("a buffer too small was handed out")
	}
	for range maxPooled + 2 {
		p.put(make([]byte, minPooled))
	}
	if len(p.free) != maxPooled {
		t.Fatalf("pool holds %d buffers, want at most %d", len(p.free), maxPooled)
	}
	p.put(make([]byte, 10)) // too small to keep
	p.release()
	if len(p.free) != 0 {
		t.Fatalf("release left %d buffers", len(p.free))
	}
	var nilPool *bufferPool
	nilPool.put(a)
	if len(nilPool.get(2<<20)) != 2<<20 {
		t.Fatal("nil pool: wrong length")
	}
}

func TestReadPlacedIntoReusedBuffer(t *testing.T) {
	t.Parallel()
	var p bufferPool
	first := bytes.Repeat([]byte{0xAA}, 3<<20)
	data, backing, err := readPlaced(bytes.NewReader(first), int64(len(first)), 0, &p)
	if err != nil || !bytes.Equal(data, first) {
		t.Fatalf("first read: %v", err)
	}
	p.put(backing)
	second := bytes.Repeat([]byte("pickle"), 300_000) // shorter: stale bytes must not show
	data, backing2, err := readPlaced(bytes.NewReader(second), int64(len(second)), 0, &p)
	if err != nil || !bytes.Equal(data, second) {
		t.Fatalf("second read into the reused buffer: %v, %d bytes", err, len(data))
	}
	if unsafe.SliceData(backing2) != unsafe.SliceData(backing) {
		t.Fatal("second read did not reuse the pooled buffer")
	}
}
