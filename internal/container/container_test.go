package container_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/embedstream/embedstream/internal/container"
)

// formatsDir holds the real files CPython wrote (see
// internal/pickleload/testdata/README.md); TestFormats there loads them
// end to end.
const formatsDir = "../pickleload/testdata/formats"

// pickleBytes is a small protocol 4 pickle (the list [1, 2, 3]).
var pickleBytes = []byte("\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02K\x03e.")

func TestSniff(t *testing.T) {
	t.Parallel()
	ustar := make([]byte, 512)
	copy(ustar, "x.pkl")
	copy(ustar[257:], "ustar\x0000")
	for _, tc := range []struct {
		name string
		head []byte
		want container.Format
	}{
		{"empty", nil, container.Empty},
		{"pickle_p4", pickleBytes, container.Pickle},
		{"pickle_p2", []byte("\x80\x02]q\x00."), container.Pickle},
		{"pickle_p0_list", []byte("(lp0\nI1\na."), container.Pickle},
		{"pickle_p0_object", []byte("ccopy_reg\n_reconstructor\np0\n(cpandas.core.frame\nDataFrame\n"), container.Pickle},
		{"pickle_p1_list", []byte("]q\x00(K\x01e."), container.Pickle},
		{"joblib", []byte("\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x13joblib.numpy_pickle\x94"), container.Joblib},
		{"gzip", []byte("\x1f\x8b\x08\x00"), container.Gzip},
		{"bzip2", []byte("BZh91AY&SY"), container.Bzip2},
		{"xz", []byte("\xfd7zXZ\x00\x00\x04"), container.XZ},
		{"zstd", []byte("\x28\xb5\x2f\xfd\x24"), container.Zstd},
		{"zstd_skippable", []byte("\x5a\x2a\x4d\x18\x00\x00\x00\x00"), container.Zstd},
		{"zlib", []byte("x^\x01\x02"), container.Zlib},
		{"zlib_default", []byte("x\x9c\x01\x02"), container.Zlib},
		{"zip", zipHeader("df.pkl"), container.Zip},
		{"npz", zipHeader("embedding.npy"), container.NPZ},
		{"xlsx", zipHeader("[Content_Types].xml"), container.Excel},
		{"torch", zipHeader("archive/data.pkl"), container.PyTorch},
		{"empty_zip", []byte("PK\x05\x06" + strings.Repeat("\x00", 18)), container.Zip},
		{"tar", ustar, container.Tar},
		{"npy", []byte("\x93NUMPY\x01\x00v\x00{'descr'"), container.NPY},
		{"hdf5", []byte("\x89HDF\r\n\x1a\n\x00"), container.HDF5},
		{"parquet", []byte("PAR1\x15\x04"), container.Parquet},
		{"feather", []byte("ARROW1\x00\x00"), container.Arrow},
		{"feather1", []byte("FEA1\x00"), container.Feather1},
		{"orc", []byte("ORC\x0a"), container.ORC},
		{"xls", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), container.Excel},
		{"sqlite", []byte("SQLite format 3\x00"), container.SQLite},
		{"lz4", []byte("\x04\x22\x4d\x18\x64"), container.LZ4},
		{"csv", []byte("id,name,score\n1,a,0.5\n"), container.CSV},
		{"csv_capital_I", []byte("Id;Name\n1;a\n"), container.CSV},
		{"tsv", []byte("a\tb\n"), container.CSV},
		{"json", []byte("  [{\"a\": 1}]"), container.JSON},
		{"jsonl_bom", []byte("\xef\xbb\xbf{\"a\": 1}\n{\"a\": 2}\n"), container.JSON},
		{"text", []byte("hello world\n"), container.Text},
		{"text_cut_rune", []byte("안녕"[:4]), container.Text},
		{"binary", []byte{0x00, 0x01, 0xfe, 0xff}, container.Unknown},
		{"x_csv_not_zlib", []byte("x,y\n1,2\n"), container.CSV},
		{"V_not_pickle", []byte("Very,nice\n"), container.CSV},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := container.Sniff(tc.head); got != tc.want {
				t.Errorf("Sniff(%q) = %s, want %s", tc.head, got, tc.want)
			}
		})
	}
}

// zipHeader is a local file header for name (the start of a zip).
func zipHeader(name string) []byte {
	h := make([]byte, 30, 30+len(name))
	copy(h, "PK\x03\x04")
	binary.LittleEndian.PutUint16(h[26:], uint16(len(name)))
	return append(h, name...)
}

func TestIdentifyRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		head []byte
		want string
	}{
		{[]byte("GIF89a\x01\x00abcdefgh"), `starts with 47 49 46 38 39 61 01 00 61 62 63 64 65 66 67 68 ("GIF89a..abcdefgh")`},
		{make([]byte, 1024), "not a pickle: a file whose first 1024 bytes are all zero"},
		{[]byte("PAR1xxxx"), "not a pickle: a Parquet file; read it with pd.read_parquet"},
		{[]byte("\x89HDF\r\n\x1a\n"), "not a pickle: an HDF5 file"},
		{[]byte("id,name\n"), "not a pickle: a CSV file; read it with pd.read_csv"},
		{[]byte{}, "not a pickle: the file is empty"},
		{[]byte{0, 1, 2, 0xff}, "not a pickle: starts with 00 01 02 ff"},
		{[]byte("GIF89a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), `starts with 47 49 46 38 39 61 00 00 00 00 00 00 00 00 00 00 …;`},
	} {
		f, err := container.Identify(tc.head)
		if err == nil {
			t.Errorf("Identify(%q) = %s, nil; want a refusal", tc.head, f)
			continue
		}
		if !errors.Is(err, container.ErrInvalid) || !errors.Is(err, container.ErrNotReadable) {
			t.Errorf("Identify(%q): %v is not ErrInvalid and ErrNotReadable", tc.head, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Identify(%q): %q does not contain %q", tc.head, err, tc.want)
		}
	}
	for _, head := range [][]byte{pickleBytes, []byte("\x1f\x8b\x08"), []byte("\x93NUMPY\x01\x00")} {
		if f, err := container.Identify(head); err != nil || !(f.Readable() || f.Container()) {
			t.Errorf("Identify(%q) = %s, %v", head, f, err)
		}
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		chain []container.Format
		inner container.Format
		want  string
	}{
		{nil, container.Pickle, "pickle"},
		{[]container.Format{container.Gzip}, container.Pickle, "gzip-compressed pickle"},
		{[]container.Format{container.Zip}, container.Pickle, "pickle in a zip archive"},
		{[]container.Format{container.XZ, container.Tar}, container.Pickle, "pickle in an xz-compressed tar archive"},
		{[]container.Format{container.Zlib}, container.Joblib, "zlib-compressed joblib file"},
		{[]container.Format{container.Gzip}, container.Unknown, "gzip-compressed file"},
		{[]container.Format{container.Gzip}, container.CSV, "gzip-compressed CSV file"},
	} {
		if got := container.Describe(tc.chain, tc.inner); got != tc.want {
			t.Errorf("Describe(%v, %s) = %q, want %q", tc.chain, tc.inner, got, tc.want)
		}
	}
}

// unwrap runs Unwrap over data with the limit.
func unwrap(t testing.TB, data []byte, limit int64) ([]byte, container.Result, error) {
	t.Helper()
	var out bytes.Buffer
	res, err := container.Unwrap(context.Background(), bytes.NewReader(data), int64(len(data)), &out, container.Options{MaxBytes: limit})
	if err == nil && res.Size != int64(out.Len()) {
		t.Errorf("Result.Size = %d, wrote %d", res.Size, out.Len())
	}
	return out.Bytes(), res, err
}

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	z := gzip.NewWriter(&buf)
	if _, err := z.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xzed(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	z, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := z.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t testing.TB, b []byte) []byte {
	z, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	return z.EncodeAll(b, nil)
}

func zlibbed(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	z := zlib.NewWriter(&buf)
	if _, err := z.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type member struct {
	name string
	data []byte
	typ  byte
}

func tarred(t testing.TB, ms ...member) []byte {
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data)), Typeflag: tar.TypeReg}
		if m.typ != 0 {
			h.Typeflag, h.Size, h.Linkname = m.typ, 0, "target"
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if m.typ == 0 {
			if _, err := w.Write(m.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// paxGlobalOnly is a tar archive holding only a PAX global header.
func paxGlobalOnly(t testing.TB) []byte {
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	if err := w.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "global", PAXRecords: map[string]string{"comment": "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zipped(t testing.TB, ms ...member) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, m := range ms {
		f, err := w.CreateHeader(&zip.FileHeader{Name: m.name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUnwrap(t *testing.T) {
	t.Parallel()
	p := pickleBytes
	concat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for _, tc := range []struct {
		name   string
		data   []byte
		chain  string
		member string
	}{
		{"gzip", gzipped(t, p), "[gzip-compressed file]", ""},
		{"gzip_two_members_padded", concat(gzipped(t, p[:10]), gzipped(t, p[10:]), make([]byte, 8)), "[gzip-compressed file]", ""},
		{"xz", xzed(t, p), "[xz-compressed file]", ""},
		{"xz_two_streams_padded", concat(xzed(t, p[:7]), make([]byte, 4), xzed(t, p[7:]), make([]byte, 8)), "[xz-compressed file]", ""},
		{"zstd", zstded(t, p), "[zstd-compressed file]", ""},
		{"zstd_two_frames", concat(zstded(t, p[:5]), zstded(t, p[5:])), "[zstd-compressed file]", ""},
		{"zlib", zlibbed(t, p), "[zlib-compressed file]", ""},
		{"tar", tarred(t, member{name: "data/x.pkl", data: p}), "[tar archive]", "data/x.pkl"},
		{"tar_xz", xzed(t, tarred(t, member{name: "x.pkl", data: p})), "[xz-compressed file tar archive]", "x.pkl"},
		{"zip", zipped(t, member{name: "x.pkl", data: p}), "[zip archive]", "x.pkl"},
		{"plain_copied", p, "[]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, res, err := unwrap(t, tc.data, 1<<20)
			if err != nil {
				t.Fatalf("Unwrap: %v", err)
			}
			if !bytes.Equal(out, p) {
				t.Errorf("unwrapped %q, want %q", out, p)
			}
			if got := strings.Join(strings.Fields(formatList(res.Chain)), " "); got != tc.chain {
				t.Errorf("chain %s, want %s", got, tc.chain)
			}
			if res.Inner != container.Pickle || res.Member != tc.member {
				t.Errorf("inner %s member %q, want pickle %q", res.Inner, res.Member, tc.member)
			}
		})
	}
}

func formatList(fs []container.Format) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.String())
	}
	return "[" + strings.Join(s, " ") + "]"
}

// TestUnwrapRefusals: hostile and bad containers built here (the
// generated ones are in TestFormats of pickleload).
func TestUnwrapRefusals(t *testing.T) {
	t.Parallel()
	p := pickleBytes
	threeFiles := zipped(t, member{name: "a.pkl", data: p}, member{name: "b.pkl", data: p}, member{name: "c.pkl", data: p})
	// the end record says one file; the directory lists three
	lying := bytes.Clone(threeFiles)
	eocd := bytes.LastIndex(lying, []byte("PK\x05\x06"))
	binary.LittleEndian.PutUint16(lying[eocd+8:], 1)
	binary.LittleEndian.PutUint16(lying[eocd+10:], 1)
	xzDouble := xzed(t, p)
	for _, tc := range []struct {
		name string
		data []byte
		kind error
		want string
	}{
		{"zip_three", threeFiles, container.ErrUnsupported, "a zip archive of 3 files"},
		{"zip_end_record_lies", lying, container.ErrUnsupported, "a zip archive of"},
		{"zip_backslash", zipped(t, member{name: `..\x.pkl`, data: p}), container.ErrRefused, "leaves the archive"},
		{"zip_drive", zipped(t, member{name: `C:/x.pkl`, data: p}), container.ErrRefused, "absolute"},
		{"tar_symlink", tarred(t, member{name: "x.pkl", typ: tar.TypeSymlink}), container.ErrRefused, "is a link"},
		{"tar_empty", tarred(t), container.ErrNotReadable, "all zero (an empty tar archive"},
		{"tar_only_global_header", paxGlobalOnly(t), container.ErrUnsupported, "an empty tar archive"},
		{"tar_absolute", tarred(t, member{name: "/x.pkl", data: p}), container.ErrRefused, "absolute"},
		{"tar_dot_dot", tarred(t, member{name: "a/../../x.pkl", data: p}), container.ErrRefused, "leaves the archive"},
		{"tar_fifo", tarred(t, member{name: "x.pkl", typ: tar.TypeFifo}), container.ErrUnsupported, "not a regular file"},
		{"tar_in_zip", zipped(t, member{name: "x.tar", data: tarred(t, member{name: "x.pkl", data: p})}), container.ErrUnsupported, "nested"},
		{"zlib_trailing", append(zlibbed(t, p), "junk"...), container.ErrMalformed, "corrupt zlib-compressed pickle: bytes follow the end of the zlib stream"},
		{"gzip_header_only", []byte("\x1f\x8b\x08\x00\x00\x00"), container.ErrMalformed, "truncated gzip-compressed file"},
		{"xz_bad_crc", append(bytes.Clone(xzDouble[:len(xzDouble)-12]), 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 'Y', 'Z'), container.ErrMalformed, "xz"},
		{"gzip_csv", gzipped(t, []byte("a,b\n1,2\n")), container.ErrNotReadable, "not a pickle: a gzip-compressed CSV file"},
		{"gzip_empty", gzipped(t, nil), container.ErrNotReadable, "empty"},
		{"zip_npy_bomb_claim", zipped(t, member{name: "x.pkl", data: make([]byte, 3<<20)}), container.ErrLimit, "claims"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := unwrap(t, tc.data, 1<<20)
			if err == nil {
				t.Fatal("Unwrap succeeded")
			}
			if !errors.Is(err, container.ErrInvalid) || !errors.Is(err, tc.kind) {
				t.Errorf("%v: not ErrInvalid and %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestBombBounded: a gzip and a zstd stream of 256 MiB of zeros stop at the
// limit, allocating about the limit's worth at most (not parallel: it
// reads the runtime's allocation counter).
func TestBombBounded(t *testing.T) {
	zeros := make([]byte, 1<<20)
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	var zs bytes.Buffer
	sw, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	// a pickle's opening, then zeros
	if _, err := zw.Write(pickleBytes[:11]); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Write(pickleBytes[:11]); err != nil {
		t.Fatal(err)
	}
	for range 256 {
		if _, err := zw.Write(zeros); err != nil {
			t.Fatal(err)
		}
		if _, err := sw.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"gzip": gz.Bytes(), "zstd": zs.Bytes()} {
		const limit = 8 << 20
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		n, err := container.Unwrap(context.Background(), bytes.NewReader(data), int64(len(data)), io.Discard, container.Options{MaxBytes: limit})
		runtime.ReadMemStats(&after)
		if !errors.Is(err, container.ErrLimit) || !strings.Contains(err.Error(), "decompresses to more than 8388608 bytes") {
			t.Errorf("%s bomb of %d bytes: %v, want ErrLimit", name, len(data), err)
		}
		if n.Size > limit {
			t.Errorf("%s: wrote %d bytes past the limit %d", name, n.Size, limit)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
			t.Errorf("%s bomb: allocated %d bytes", name, alloc)
		}
	}
}

// failingReaderAt fails every read past off.
type failingReaderAt struct {
	data []byte
	off  int64
}

var errDisk = errors.New("disk on fire")

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.off {
		return 0, errDisk
	}
	return copy(p, f.data[off:]), nil
}

type failingWriter struct{}

func (failingWriter) Write(p []byte) (int, error) { return 0, errDisk }

// TestUnwrapTransient: I/O errors and cancellation are not bad files.
func TestUnwrapTransient(t *testing.T) {
	t.Parallel()
	big := make([]byte, 1<<20)
	copy(big, pickleBytes)
	gz := gzipped(t, big)
	for name, data := range map[string][]byte{"gzip": gz, "zip": zipped(t, member{name: "x.pkl", data: big}), "xz": xzed(t, big)} {
		_, err := container.Unwrap(context.Background(), failingReaderAt{data, int64(len(data)) / 2}, int64(len(data)), io.Discard, container.Options{})
		if !errors.Is(err, errDisk) || errors.Is(err, container.ErrInvalid) {
			t.Errorf("%s, failing source: %v, want the I/O error and not ErrInvalid", name, err)
		}
	}
	_, err := container.Unwrap(context.Background(), bytes.NewReader(gz), int64(len(gz)), failingWriter{}, container.Options{})
	if !errors.Is(err, errDisk) || errors.Is(err, container.ErrInvalid) {
		t.Errorf("failing destination: %v, want the I/O error and not ErrInvalid", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = container.Unwrap(ctx, bytes.NewReader(gz), int64(len(gz)), io.Discard, container.Options{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, container.ErrInvalid) {
		t.Errorf("cancelled: %v, want context.Canceled and not ErrInvalid", err)
	}
}

// TestFormatsSniff: the real files CPython wrote are what their names say.
func TestFormatsSniff(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]container.Format{
		"df.pkl.gz": container.Gzip, "df.pkl.bz2": container.Bzip2, "df.pkl.xz": container.XZ, "df.pkl.zst": container.Zstd,
		"df.pkl.zip": container.Zip, "df.pkl.tar": container.Tar, "df_gzip_named.pkl": container.Gzip,
		"npy_f32_2d.npy": container.NPY, "npz_plain.npz": container.NPZ, "npz_compressed.npz": container.NPZ,
		"joblib_df.joblib": container.Joblib, "joblib_df_compress3.joblib": container.Zlib,
		"appended_records.pkl": container.Pickle, "table.csv": container.CSV, "table.json": container.JSON,
	} {
		data, err := os.ReadFile(filepath.Join(formatsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := container.Sniff(data[:min(len(data), container.SniffLen)]); got != want {
			t.Errorf("%s: Sniff = %s, want %s", name, got, want)
		}
	}
	data, err := os.ReadFile(filepath.Join(formatsDir, "joblib_df_compress3.joblib"))
	if err != nil {
		t.Fatal(err)
	}
	if _, res, err := unwrap(t, data, 1<<20); err != nil || res.Inner != container.Joblib {
		t.Errorf("joblib compress=3: %v, inner %s, want a joblib file", err, res.Inner)
	}
}
