package filebuf

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func TestNewResizeFree(t *testing.T) {
	for _, n := range []int{0, 10, 1 << 20, 3<<20 + 5} {
		b, err := New(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Bytes()) != n || b.Cap() != n {
			t.Fatalf("New(%d): %d bytes, cap %d", n, len(b.Bytes()), b.Cap())
		}
		for i, c := range b.Bytes() {
			if c != 0 {
				t.Fatalf("New(%d): byte %d is %d, want zero-filled", n, i, c)
			}
		}
		if n > 0 {
			b.Bytes()[n-1] = 7
			b.Resize(n / 2)
			if len(b.Bytes()) != n/2 {
				t.Fatalf("Resize(%d): %d bytes", n/2, len(b.Bytes()))
			}
			b.Resize(n)
			if b.Bytes()[n-1] != 7 {
				t.Fatal("Resize cleared the bytes")
			}
		}
		if err := b.Free(); err != nil {
			t.Fatal(err)
		}
		if b.Cap() != 0 || len(b.Bytes()) != 0 {
			t.Fatal("a freed buffer is not empty")
		}
		if err := b.Free(); err != nil {
			t.Fatalf("second Free: %v", err)
		}
	}
	if _, err := New(-1); err == nil {
		t.Fatal("New(-1) succeeded")
	}
}

func TestResizeBeyondCapPanics(t *testing.T) {
	b, _ := New(10)
	defer func() {
		if recover() == nil {
			t.Fatal("Resize beyond Cap did not panic")
		}
	}()
	b.Resize(11)
}

func TestReadFullInParts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 2*partMin+12345) // several parts on several CPUs
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	dst := make([]byte, len(data))
	if err := ReadFull(bytes.NewReader(data), dst); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst, data) {
		t.Fatal("ReadFull returned other bytes")
	}
	// shorter than expected (the file shrank) and longer (it grew)
	if err := ReadFull(bytes.NewReader(data[:len(data)-1]), dst); !errors.Is(err, ErrChanged) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short file: %v, want ErrChanged", err)
	}
	if err := ReadFull(bytes.NewReader(append(data, 1)), dst); !errors.Is(err, ErrChanged) {
		t.Fatalf("longer file: %v, want ErrChanged", err)
	}
	if err := ReadFull(bytes.NewReader(nil), nil); err != nil {
		t.Fatalf("empty: %v", err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.pkl")
	want := bytes.Repeat([]byte("pickle"), 400_000)
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free()
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatal("ReadFile returned other bytes")
	}
	if _, err := ReadFile(dir); err == nil {
		t.Fatal("ReadFile of a directory succeeded")
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
