package picklegen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

// TestWriteInt compares save_long's encodings, as CPython 3.11 writes them
// (pickle.dumps(v, 2)[2:-1]).
func TestWriteInt(t *testing.T) {
	for _, tc := range []struct {
		v    int64
		want string
	}{
		{0, "4b00"},
		{255, "4bff"},
		{256, "4d0001"},
		{65535, "4dffff"},
		{65536, "4a00000100"},
		{-1, "4affffffff"},
		{-2147483648, "4a00000080"},
		{2147483647, "4affffff7f"},
		{2147483648, "8a050000008000"},
		{-2147483649, "8a05ffffff7fff"},
		{9223372036854775807, "8a08ffffffffffffff7f"},
		{-9223372036854775808, "8a080000000000000080"},
		{4294967296, "8a050000000001"},
		{-4294967296, "8a0500000000ff"},
		{549755813888, "8a06000000008000"},
		{-549755813889, "8a06ffffffff7fff"},
		{140737488355328, "8a0700000000008000"},
	} {
		p := newPickler(nil)
		p.writeInt(tc.v)
		if got := hex.EncodeToString(p.buf); got != tc.want {
			t.Errorf("%d: %s, want %s", tc.v, got, tc.want)
		}
	}
}

// TestFraming checks the framer on its edges against what CPython writes.
func TestFraming(t *testing.T) {
	// pickle.dumps([b"x" * 65536], protocol=4) is PROTO 4, EMPTY_LIST
	// MEMOIZE (a 2-byte frame: committed before the large bytes, without
	// its FRAME header), BINBYTES and the data outside any frame, then
	// MEMOIZE APPEND STOP (a 3-byte frame, again without a header).
	big := bytes.Repeat([]byte("x"), 65536)
	var out bytes.Buffer
	if _, err := dump(&out, 4, list(newBytes(big))); err != nil {
		t.Fatal(err)
	}
	want := []byte("\x80\x04]\x94B\x00\x00\x01\x00")
	want = append(want, big...)
	want = append(want, "\x94a."...)
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("got % x...\nwant % x...", out.Bytes()[:16], want[:16])
	}

	// A write error stops the dump and comes back.
	boom := errors.New("boom")
	n, err := dump(errWriter{boom}, 4, list(newBytes(big)))
	if !errors.Is(err, boom) || n != 0 {
		t.Fatalf("dump to a failing writer: %d, %v", n, err)
	}
}

type errWriter struct{ err error }

func (e errWriter) Write([]byte) (int, error) { return 0, e.err }

// TestBatches compares lists and dicts around the 1000-item batch with
// CPython's bytes (sha256 of pickle.dumps(o, protocol=4)): a single item
// is APPEND/SETITEM; a dict whose last batch is full gets an empty one.
func TestBatches(t *testing.T) {
	ints := func(n int) []object {
		o := make([]object, n)
		for i := range o {
			o[i] = pyInt(i)
		}
		return o
	}
	intDict := func(n int) object {
		var kv []object
		for i := range n {
			kv = append(kv, pyInt(i), pyInt(i))
		}
		return dict(kv...)
	}
	for _, tc := range []struct {
		name string
		obj  object
		want string
	}{
		{"dict1000", intDict(1000), "3c513442077cbb7aca54a07b25909cce78e32462b04a1ff7cfc7718a9cca9799"},
		{"dict1001", intDict(1001), "c9dc2720dca5145b2d7d14ab7114e0de5748cb0ba7aad1898e50ab861440cf28"},
		{"dict1", intDict(1), "daf9806a0d0cd0ff5cc069cd6b98a162c003f44303dd6e3bcab5280eb908c4ca"},
		{"list1000", list(ints(1000)...), "22d4f97e6fbaf3cdf3af36c80e58582660148f14c95ccaf101fdf320a201a669"},
		{"list1001", list(ints(1001)...), "161e50d7236aad5010f0600b7c2b669804f3487bdf69c03ddfd00718d290e1be"},
		{"list1", list(ints(1)...), "51d3e4034ce94468b58cfde46c0cc2eb98c8f3f94bdb2c2c06d50bfedd06f78a"},
	} {
		var out bytes.Buffer
		if _, err := dump(&out, 4, tc.obj); err != nil {
			t.Fatal(err)
		}
		if got := sha256.Sum256(out.Bytes()); hex.EncodeToString(got[:]) != tc.want {
			t.Errorf("%s: sha256 %x, want %s (bytes ...% x)", tc.name, got, tc.want, out.Bytes()[max(0, out.Len()-8):])
		}
	}
}
