package pickleload_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/table"
)

// npyFile builds a .npy file of format version major.0 with the header
// dict text (padded as numpy pads it) and the array data.
func npyFile(major byte, header string, data []byte) []byte {
	prefix := 10
	if major >= 2 {
		prefix = 12
	}
	pad := 64 - (prefix+len(header)+1)%64
	h := header + strings.Repeat(" ", pad%64) + "\n"
	b := []byte("\x93NUMPY")
	b = append(b, major, 0)
	if major >= 2 {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	} else {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	}
	b = append(b, h...)
	return append(b, data...)
}

func f64s(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

func TestNPYHeader(t *testing.T) {
	t.Parallel()
	six := f64s(1, 2, 3, 4, 5, 6)
	for _, tc := range []struct {
		name   string
		file   []byte
		schema string // "" when an error is expected
		kind   error
		want   string // in the error message
	}{
		{name: "v1", file: npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", six), schema: "[embedding FLOAT_VECTOR(3)] rows=2"},
		{name: "python2_longs", file: npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L), }", six), schema: "[embedding FLOAT_VECTOR(3)] rows=2"},
		{name: "keys_reordered_double_quotes", file: npyFile(2, `{"shape": (6,), "fortran_order": False, "descr": "<f8"}`, six), schema: "[value DOUBLE] rows=6"},
		{name: "native_order", file: npyFile(3, "{'descr': '=f8', 'fortran_order': True, 'shape': (3, 2), }", six), schema: "[embedding FLOAT_VECTOR(2)] rows=3"},
		{name: "datetime_days", file: npyFile(1, "{'descr': '<M8[D]', 'fortran_order': False, 'shape': (1,), }", binary.LittleEndian.AppendUint64(nil, 20000)), schema: "[value TIMESTAMP] rows=1"},
		{name: "not_a_tuple", file: npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (6), }", six), kind: pickleload.ErrMalformed, want: "not a tuple"},
		{name: "negative_dim", file: npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (-6,), }", six), kind: pickleload.ErrMalformed, want: "bad dimension"},
		{name: "missing_key", file: npyFile(1, "{'descr': '<f8', 'shape': (6,), }", six), kind: pickleload.ErrMalformed, want: "fortran_order"},
		{name: "extra_key", file: npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (6,), 'x': 1}", six), kind: pickleload.ErrMalformed, want: "unexpected key"},
		{name: "duplicate_key", file: npyFile(1, "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (6,)}", six), kind: pickleload.ErrMalformed, want: "twice"},
		{name: "text_after", file: npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (6,)} x", six), kind: pickleload.ErrMalformed, want: "after the closing brace"},
		{name: "fortran_int", file: npyFile(1, "{'descr': '<f8', 'fortran_order': 0, 'shape': (6,)}", six), kind: pickleload.ErrMalformed, want: "fortran_order"},
		{name: "bad_item_size", file: npyFile(1, "{'descr': '<f3', 'fortran_order': False, 'shape': (6,)}", six), kind: pickleload.ErrMalformed, want: "bad dtype"},
		{name: "long_suffix_v3", file: npyFile(3, "{'descr': '<f8', 'fortran_order': False, 'shape': (6L,)}", six), kind: pickleload.ErrMalformed, want: ""},
		{name: "escaped_string", file: npyFile(1, `{'descr': '<f\x38', 'fortran_order': False, 'shape': (6,)}`, six), kind: pickleload.ErrMalformed, want: "escaped"},
		{name: "version_4", file: append([]byte("\x93NUMPY\x04\x00"), npyFile(1, "{}", nil)[8:]...), kind: pickleload.ErrUnsupported, want: "version 4.0"},
		{name: "huge_shape", file: npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 100000000000)}", six), kind: pickleload.ErrLimit, want: "too large"},
		{name: "structured", file: npyFile(1, "{'descr': [('a', '<i8')], 'fortran_order': False, 'shape': (1,)}", six[:8]), kind: pickleload.ErrUnsupported, want: "structured"},
		{name: "void", file: npyFile(1, "{'descr': '|V8', 'fortran_order': False, 'shape': (6,)}", six), kind: pickleload.ErrUnsupported, want: "void"},
		{name: "object", file: npyFile(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", []byte("\x80\x04N.")), kind: pickleload.ErrRefused, want: "allow_pickle"},
		{name: "header_cut", file: npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (6,)}", nil)[:40], kind: pickleload.ErrMalformed, want: "truncated"},
		{name: "no_magic", file: []byte("\x93NUMPZ\x01\x00\x00\x00"), kind: pickleload.ErrMalformed, want: "magic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tbl, err := pickleload.LoadNPY(tc.file, pickleload.Options{})
			if tc.schema != "" {
				if err != nil {
					t.Fatalf("LoadNPY: %v", err)
				}
				if got := schemaString(tbl); got != tc.schema {
					t.Errorf("schema %s, want %s", got, tc.schema)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadNPY succeeded: %s", schemaString(tbl))
			}
			if !errors.Is(err, pickleload.ErrInvalid) || !errors.Is(err, tc.kind) {
				t.Errorf("%v: not ErrInvalid and %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestNPYAliases: a little-endian float32 matrix's rows are slices of the
// file, as a pickled one's are of the pickle.
func TestNPYAliases(t *testing.T) {
	t.Parallel()
	var data []byte
	for i := range 6 {
		data = binary.LittleEndian.AppendUint32(data, math.Float32bits(float32(i)+0.5))
	}
	file := npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data)
	tbl, err := pickleload.LoadNPY(file, pickleload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	col := tbl.Column("embedding")
	if col == nil || col.Type != table.TypeFloatVector || len(col.RawVectors) != 2 {
		t.Fatalf("table %s, want 2 raw vectors", schemaString(tbl))
	}
	at := len(file) - len(data)
	if &col.RawVectors[0][0] != &file[at] || !bytes.Equal(col.RawVectors[1], data[12:]) {
		t.Error("the rows are not slices of the file")
	}
}

// npzFile builds an .npz archive of the given members (name -> .npy bytes).
func npzFile(t *testing.T, method uint16, names []string, files [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for i, name := range names {
		f, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(files[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestNPZRefusals(t *testing.T) {
	t.Parallel()
	ids := npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (6,), }", f64s(1, 2, 3, 4, 5, 6))
	big := npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (262144,), }", make([]byte, 8*262144))
	stored := npzFile(t, zip.Store, []string{"ids.npy"}, [][]byte{ids})
	badCRC := bytes.Clone(stored)
	badCRC[bytes.Index(badCRC, []byte("\x93NUMPY"))+70] ^= 1 // a header padding byte
	var many []string
	var files [][]byte
	for i := range 5 {
		many = append(many, string(rune('a'+i))+".npy")
		files = append(files, ids)
	}
	for _, tc := range []struct {
		name string
		file []byte
		opts pickleload.NPZOptions
		kind error
		want string
	}{
		{"bad_crc", badCRC, pickleload.NPZOptions{}, pickleload.ErrMalformed, "CRC-32"},
		{"too_many_members", npzFile(t, zip.Store, many, files), pickleload.NPZOptions{MaxMembers: 4}, pickleload.ErrLimit, "more than 4 arrays"},
		{"deflated_past_limit", npzFile(t, zip.Deflate, []string{"big.npy"}, [][]byte{big}), pickleload.NPZOptions{MaxBytes: 1 << 20}, pickleload.ErrLimit, "more than 1048576 bytes"},
		{"empty", npzFile(t, zip.Store, nil, nil), pickleload.NPZOptions{}, pickleload.ErrUnsupported, "no array"},
		{"not_zip", []byte("PK\x03\x04 not really"), pickleload.NPZOptions{}, pickleload.ErrMalformed, "corrupt"},
		{"empty_name", npzFile(t, zip.Store, []string{".npy"}, [][]byte{ids}), pickleload.NPZOptions{}, pickleload.ErrUnsupported, "empty name"},
		{"duplicate_name", npzFile(t, zip.Store, []string{"a.npy", "a.npy"}, [][]byte{ids, ids}), pickleload.NPZOptions{}, pickleload.ErrUnsupported, "duplicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tbl, err := pickleload.LoadNPZ(tc.file, tc.opts)
			if err == nil {
				t.Fatalf("LoadNPZ succeeded: %s", schemaString(tbl))
			}
			if !errors.Is(err, pickleload.ErrInvalid) || !errors.Is(err, tc.kind) {
				t.Errorf("%v: not ErrInvalid and %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q does not contain %q", err, tc.want)
			}
		})
	}
	tbl, err := pickleload.LoadNPZ(npzFile(t, zip.Deflate, []string{"big.npy", "ids2.npy"}, [][]byte{big, big}), pickleload.NPZOptions{})
	if err != nil || schemaString(tbl) != "[big DOUBLE, ids2 DOUBLE] rows=262144" {
		t.Errorf("two deflated members: %s, %v", schemaString(tbl), err)
	}
}
