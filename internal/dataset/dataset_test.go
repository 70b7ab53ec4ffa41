package dataset_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/container"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/source"
)

// The pickle corpus of package pickleload (written by its generate.py).
var (
	fixtures = filepath.Join("..", "pickleload", "testdata", "fixtures")
	hostile  = filepath.Join("..", "pickleload", "testdata", "hostile")
)

// bigPickle is {"id": [n strings]}, protocol 4: a table of one STRING
// column, and over 1 MiB for n >= 20000 (a pooled, mapped buffer).
func bigPickle(n int, tag string) []byte {
	str := func(b []byte, s string) []byte {
		b = append(b, 'X')
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		return append(b, s...)
	}
	b := []byte{0x80, 4, '}', '('}
	b = str(b, "id")
	b = append(b, ']')
	for i := range n {
		if i%1000 == 0 {
			b = append(b, '(')
		}
		b = str(b, fmt.Sprintf("%s-%06d-%s", tag, i, strings.Repeat("v", 50)))
		if i%1000 == 999 || i == n-1 {
			b = append(b, 'e')
		}
	}
	return append(b, 'u', '.')
}

func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// objects is an in-memory object store.
type objects map[string][]byte

var errNoSuchObject = errors.New("test: no such object")

func (o objects) Open(_ context.Context, name string) (io.ReadCloser, int64, error) {
	b, ok := o[name]
	if !ok {
		return nil, 0, errNoSuchObject
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

// TestLoadFromEveryOrigin loads one fixture from the data directory, the
// object store and a path: each gives the table pickleload gives, the
// file's sha256 and size.
func TestLoadFromEveryOrigin(t *testing.T) {
	t.Parallel()
	const name = "recruit_small_df.pkl"
	data, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	want, err := pickleload.Load(bytes.Clone(data), pickleload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wantJSON bytes.Buffer
	if err := canonical.WriteTable(&wantJSON, want); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	dir := t.TempDir()
	writeFile(t, dir, name, data)
	l := dataset.NewLoader(dataset.Config{DataDir: dir, Objects: objects{"up/" + name: data}})
	for _, ref := range []dataset.Ref{
		{Origin: dataset.InDataDir, Name: name},
		{Origin: dataset.InObjectStore, Name: "up/" + name},
		{Origin: dataset.AtPath, Name: filepath.Join(fixtures, name)},
	} {
		d, st, err := l.Load(context.Background(), ref)
		if err != nil {
			t.Fatalf("%+v: %v", ref, err)
		}
		if st != d.Stats || st.FileBytes != int64(len(data)) || st.SHA256 != hex.EncodeToString(sum[:]) || d.Rows() != want.NumRows ||
			st.Format != "pickle" || st.DataBytes != st.FileBytes || st.Lazy {
			t.Errorf("%+v: stats %+v, %d rows", ref, st, d.Rows())
		}
		tbl, err := d.Table()
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := canonical.WriteTable(&got, tbl); err != nil {
			t.Fatal(err)
		}
		if err := canonical.Compare(&got, bytes.NewReader(wantJSON.Bytes())); err != nil {
			t.Errorf("%+v: table differs from pickleload's: %v", ref, err)
		}
		d.Release()
	}
}

// TestLoadErrors: every failure is an *Error naming the step and the
// file, and wraps what callers classify by.
func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := bigPickle(100, "g")
	writeFile(t, dir, "good.pkl", good)
	bad, err := os.ReadFile(filepath.Join(hostile, "global_os_system.pkl"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "bad.pkl", bad)
	writeFile(t, dir, "data.parquet", []byte("PAR1\x15\x04\x15\x00PAR1"))
	gz := gzipped(t, good)
	cut := gz[:len(gz)/2]
	writeFile(t, dir, "cut.pkl.gz", cut)
	outside := t.TempDir()
	writeFile(t, outside, "x.pkl", good)
	if err := os.Symlink(filepath.Join(outside, "x.pkl"), filepath.Join(dir, "out.pkl")); err != nil {
		t.Fatal(err)
	}
	errStore := errors.New("test: store down")
	for _, c := range []struct {
		name  string
		cfg   dataset.Config
		ref   dataset.Ref
		op    string
		want  error
		bytes int64 // Stats.FileBytes
		hash  bool  // Stats.SHA256 set
	}{
		{"dotdot", dataset.Config{DataDir: dir}, dataset.Ref{Name: "../x.pkl"}, "open", source.ErrUnsafePath, 0, false},
		{"symlink out", dataset.Config{DataDir: dir}, dataset.Ref{Name: "out.pkl"}, "open", source.ErrUnsafePath, 0, false},
		{"missing", dataset.Config{DataDir: dir}, dataset.Ref{Name: "none.pkl"}, "open", source.ErrNotFound, 0, false},
		{"missing path", dataset.Config{}, dataset.Ref{Origin: dataset.AtPath, Name: filepath.Join(dir, "none.pkl")}, "open", os.ErrNotExist, 0, false},
		{"too large", dataset.Config{DataDir: dir, Limits: dataset.Limits{MaxFileBytes: int64(len(good)) - 1}}, dataset.Ref{Name: "good.pkl"}, "read", dataset.ErrTooLarge, int64(len(good)), false},
		{"object too large", dataset.Config{Objects: objects{"g": good}, Limits: dataset.Limits{MaxFileBytes: 10}}, dataset.Ref{Origin: dataset.InObjectStore, Name: "g"}, "read", dataset.ErrTooLarge, int64(len(good)), false},
		{"object over the limit as it is read", dataset.Config{Objects: unsized{"g": good}, Limits: dataset.Limits{MaxFileBytes: 10}}, dataset.Ref{Origin: dataset.InObjectStore, Name: "g"}, "read", dataset.ErrTooLarge, 0, false},
		{"object over the limit as it is spooled", dataset.Config{Objects: unsized{"g": good}, Limits: dataset.Limits{MaxFileBytes: 10, MemoryBudget: 1 << 30}}, dataset.Ref{Origin: dataset.InObjectStore, Name: "g"}, "read", dataset.ErrTooLarge, 11, false},
		{"not a pickle", dataset.Config{DataDir: dir}, dataset.Ref{Name: "data.parquet"}, "read", container.ErrNotReadable, 12, true},
		{"truncated gzip", dataset.Config{DataDir: dir}, dataset.Ref{Name: "cut.pkl.gz"}, "unwrap", container.ErrMalformed, int64(len(cut)), true},
		{"refused global", dataset.Config{DataDir: dir}, dataset.Ref{Name: "bad.pkl"}, "load", pickleload.ErrInvalid, int64(len(bad)), true},
		{"depth limit", dataset.Config{DataDir: dir, Limits: dataset.Limits{PickleMaxDepth: 1}}, dataset.Ref{Name: "good.pkl"}, "load", pickleload.ErrLimit, int64(len(good)), true},
		{"no object store", dataset.Config{}, dataset.Ref{Origin: dataset.InObjectStore, Name: "g"}, "open object", dataset.ErrNoObjectStore, 0, false},
		{"missing object", dataset.Config{Objects: objects{}}, dataset.Ref{Origin: dataset.InObjectStore, Name: "g"}, "open object", errNoSuchObject, 0, false},
		{"store error", dataset.Config{Objects: failing{errStore}}, dataset.Ref{Origin: dataset.InObjectStore, Name: "g"}, "open object", errStore, 0, false},
	} {
		d, st, err := dataset.NewLoader(c.cfg).Load(context.Background(), c.ref)
		var de *dataset.Error
		if d != nil || !errors.As(err, &de) || !errors.Is(err, c.want) {
			t.Errorf("%s: %v, %v; want an *Error wrapping %v", c.name, d, err, c.want)
			continue
		}
		if de.Op != c.op || de.Name != c.ref.Name || !strings.HasPrefix(err.Error(), c.op+" "+c.ref.Name+": ") {
			t.Errorf("%s: %q (op %q), want op %q on %s", c.name, err, de.Op, c.op, c.ref.Name)
		}
		if st.FileBytes != c.bytes || (st.SHA256 != "") != c.hash {
			t.Errorf("%s: stats %+v, want %d file bytes, hash %v", c.name, st, c.bytes, c.hash)
		}
	}
}

type failing struct{ err error }

// unsized is an object store that does not know its objects' sizes.
type unsized map[string][]byte

func (o unsized) Open(_ context.Context, name string) (io.ReadCloser, int64, error) {
	return io.NopCloser(bytes.NewReader(o[name])), -1, nil
}

func (f failing) Open(context.Context, string) (io.ReadCloser, int64, error) { return nil, 0, f.err }

// TestReleaseUnmapsOnce: the mapping goes on the last of the holds
// (Load's and Retain's), and not before: the table reads the file until
// then; a release too many panics.
func TestReleaseUnmapsOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "a.pkl", bigPickle(25000, "a"))
	l := dataset.NewLoader(dataset.Config{DataDir: dir})
	a, _, err := l.Load(context.Background(), dataset.Ref{Name: "a.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	a.Retain()
	a.Release()
	if n := l.Held(); n != 1 {
		t.Fatalf("%d datasets held while one is, want 1", n)
	}
	tbl, err := a.Table()
	if err != nil {
		t.Fatal(err)
	}
	ids := tbl.Column("id").Strings
	if len(ids) != 25000 || !strings.HasPrefix(ids[24999], "a-024999-") {
		t.Fatalf("table: %d ids, last %q", len(ids), ids[len(ids)-1])
	}
	a.Release()
	if n := l.Held(); n != 0 {
		t.Fatalf("%d datasets held after the last release", n)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a Release too many did not panic")
			}
		}()
		a.Release()
	}()
}
