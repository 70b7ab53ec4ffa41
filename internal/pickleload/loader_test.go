package pickleload

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/table"
)

func inline(t *testing.T, name string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(inlinePickles[name])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonl(t *testing.T, tb *table.Table) string {
	t.Helper()
	var buf bytes.Buffer
	if err := canonical.WriteTable(&buf, tb); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func schema(tb *table.Table) string {
	var s []string
	for _, c := range tb.Columns {
		s = append(s, c.Name+":"+c.Type.String())
	}
	return strings.Join(s, " ")
}

func TestLoadShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, schema, jsonl string
	}{
		{"nd5_p5", "embedding:FLOAT_VECTOR", `{"embedding":[0,1,2]}` + "\n" + `{"embedding":[3,4,5]}` + "\n"},
		{"be", "embedding:FLOAT_VECTOR", `{"embedding":[0,1,2]}` + "\n" + `{"embedding":[3,4,5]}` + "\n"},
		{"fort", "embedding:FLOAT_VECTOR", `{"embedding":[0,1,2]}` + "\n" + `{"embedding":[3,4,5]}` + "\n"},
		{"dc_p2", "a:INT64 b:STRING", `{"a":1,"b":"x"}` + "\n" + `{"a":2,"b":"y"}` + "\n"},
		{"ser_p0", "k:STRING x:DOUBLE", `{"k":"a","x":1.5}` + "\n" + `{"k":"b","x":2.5}` + "\n"},
		{"dictemb", "ids:INT64 embeddings:FLOAT_VECTOR t:STRING",
			`{"ids":1,"embeddings":[1,1,1],"t":"a"}` + "\n" + `{"ids":2,"embeddings":[1,1,1],"t":"b"}` + "\n"},
		{"misc_p2", "d:TIMESTAMP dz:TIMESTAMP day:TIMESTAMP dec:DOUBLE by:BYTES ba:BYTES st:FLOAT_VECTOR fs:FLOAT_VECTOR",
			`{"d":"2020-01-02T03:04:05.000006Z","dz":"2020-01-02T00:00:00.000000Z","day":"2020-01-02T00:00:00.000000Z","dec":1.5,"by":"YWI=","ba":"Y2Q=","st":[1,2],"fs":[3]}` + "\n"},
		{"ext_p5", "i:INT64 b:BOOL s:STRING c:STRING tz:TIMESTAMP emb:FLOAT_VECTOR",
			`{"i":1,"b":true,"s":"a","c":"x","tz":"2020-01-01T05:00:00.000000Z","emb":[1,2]}` + "\n" +
				`{"i":null,"b":null,"s":null,"c":"y","tz":null,"emb":[3,4]}` + "\n" +
				`{"i":3,"b":false,"s":"c","c":"x","tz":"2020-01-03T05:00:00.000000Z","emb":null}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb, err := Load(inline(t, tt.name), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := schema(tb); got != tt.schema {
				t.Errorf("schema = %s, want %s", got, tt.schema)
			}
			if got := jsonl(t, tb); got != tt.jsonl {
				t.Errorf("jsonl =\n%s\nwant\n%s", got, tt.jsonl)
			}
		})
	}
}

// p builds a pickle from opcode bytes and strings.
func p(parts ...any) []byte {
	var b []byte
	for _, x := range parts {
		switch v := x.(type) {
		case string:
			b = append(b, v...)
		case byte:
			b = append(b, v)
		case int:
			b = append(b, byte(v))
		case []byte:
			b = append(b, v...)
		}
	}
	return b
}

func u64(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }
func u32(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }

func shortStr(s string) []byte { return append([]byte{0x8c, byte(len(s))}, s...) }

func TestLoadRefusesHostileInput(t *testing.T) {
	t.Parallel()
	deep := p("\x80\x02]}X", u32(1), "a", strings.Repeat("]", 2000), strings.Repeat("a", 1999), "sa.")
	cycle := p("\x80\x02]}X", u32(1), "a", "]q\x01h\x01a", "sa.")
	tests := []struct {
		name    string
		data    []byte
		kind    error
		contain string
	}{
		{"empty", nil, ErrMalformed, "empty"},
		{"lone 0xff", []byte{0xff}, ErrMalformed, "unknown opcode"},
		{"protocol 6", []byte("\x80\x06N."), ErrMalformed, "protocol 6"},
		{"no stop", []byte("\x80\x02N"), ErrMalformed, "truncated"},
		{"truncated frame", []byte("\x80\x04\x95\x10\x00"), ErrMalformed, ""},
		{"2^40 BINBYTES8", p("\x80\x04", 0x8e, u64(1<<40), "xx."), ErrMalformed, "exceeds"},
		{"4GiB BINUNICODE", p("\x80\x03X", u32(0xffffffff), "x."), ErrMalformed, "exceeds"},
		{"2^40 BYTEARRAY8", p("\x80\x05", 0x96, u64(1<<40), "."), ErrMalformed, "exceeds"},
		{"2^40 FRAME", p("\x80\x04", 0x95, u64(1<<40), "N."), ErrMalformed, "exceeds"},
		{"MARK flood", p(strings.Repeat("(", 1<<20), "."), ErrLimit, "MARK"},
		{"odd DICT", []byte("(K\x01d."), ErrMalformed, "odd"},
		{"odd SETITEMS", []byte("}(K\x01u."), ErrMalformed, "odd"},
		{"undefined memo", []byte("\x80\x02h\x05."), ErrMalformed, "memo"},
		{"stack underflow", []byte("\x80\x02a."), ErrMalformed, "underflow"},
		{"os.system", []byte("cos\nsystem\n(S'echo hi'\ntR."), ErrRefused, "os.system"},
		{"posix.system", []byte("cposix\nsystem\n(S'id'\ntR."), ErrRefused, "posix.system"},
		{"builtins.eval", p("\x80\x04", shortStr("builtins"), shortStr("eval"), 0x93, shortStr("1"), 0x85, "R."), ErrRefused, "builtins.eval"},
		{"builtins.getattr", p("\x80\x04", shortStr("builtins"), shortStr("getattr"), 0x93, shortStr("builtins"), shortStr("object"), 0x93, shortStr("__subclasses__"), 0x86, "R)R."), ErrRefused, "builtins.getattr"},
		{"getattr of a dynamic name", p("\x80\x04", shortStr("builtins"), shortStr("getattr"), 0x93, shortStr("builtins"), shortStr("object"), 0x93, "N", 0x86, "R."), ErrRefused, "getattr"},
		{"subprocess.Popen", []byte("csubprocess\nPopen\n."), ErrRefused, "subprocess.Popen"},
		{"unknown class called", []byte("c__main__\nFoo\n)R."), ErrRefused, "__main__.Foo"},
		{"unknown class with INST args", []byte("(K\x01i__main__\nFoo\n."), ErrRefused, "__main__.Foo"},
		{"dynamic STACK_GLOBAL", p("\x80\x04N", shortStr("eval"), 0x93, "."), ErrRefused, "STACK_GLOBAL"},
		{"persistent id", []byte("\x80\x02K\x01Q."), ErrRefused, "persistent"},
		{"extension code", []byte("\x80\x02\x82\x01."), ErrRefused, "extension"},
		{"out-of-band buffer", []byte("\x80\x05\x97."), ErrUnsupported, "out-of-band"},
		{"invalid UTF-8", p("\x80\x03X", u32(2), "\xff\xfe."), ErrMalformed, "UTF-8"},
		{"self-reference", cycle, ErrUnsupported, "cycle"},
		{"deep nesting", deep, ErrLimit, "deeper"},
		{"top-level int", []byte("\x80\x02K\x01."), ErrUnsupported, "top-level"},
		{"list of ints", []byte("\x80\x02]K\x01a."), ErrUnsupported, "not a record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tt.data, Options{})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want ErrInvalid and %v", err, tt.kind)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T is not *Error", err)
			}
			if !strings.Contains(err.Error(), tt.contain) {
				t.Errorf("err = %q, want it to mention %q", err, tt.contain)
			}
		})
	}
}

func TestLoadLong1EmptyIsZero(t *testing.T) {
	t.Parallel()
	// {"a": [0]} with 0 written as LONG1 of length 0 (valid; gopickle panics on it)
	tb, err := Load(p("\x80\x02}X", u32(1), "a]\x8a\x00as."), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := jsonl(t, tb); got != "{\"a\":0}\n" {
		t.Errorf("got %q", got)
	}
}

func TestLoadSharedReferencesAreBounded(t *testing.T) {
	t.Parallel()
	// [{"a": L}, {"a": L}, ...] with L a 1000-item list shared 5000 times:
	// small on the wire, large as JSON.
	var b []byte
	b = append(b, "\x80\x02]q\x00("...)
	b = append(b, "}X"...)
	b = append(b, u32(1)...)
	b = append(b, "a]q\x01("...)
	for range 1000 {
		b = append(b, "K\x07"...)
	}
	b = append(b, "esq\x02"...)
	for range 5000 {
		b = append(b, "h\x02"...)
	}
	b = append(b, "e."...)
	_, err := Load(b, Options{MaxDecodedBytes: 1 << 20})
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("err = %v, want ErrLimit", err)
	}
}

func TestLoadVectorLengthMismatchNamesColumnAndRow(t *testing.T) {
	t.Parallel()
	// [{"v": [1.0, 2.0]}, {"v": [1.0]}]
	f := func(x float64) []byte { return binary.BigEndian.AppendUint64([]byte{'G'}, math.Float64bits(x)) }
	data := p("\x80\x02](}X", u32(1), "v](", f(1), f(2), "es}X", u32(1), "v]", f(1), "ase.")
	_, err := Load(data, Options{})
	var e *Error
	if !errors.As(err, &e) || e.Column != "v" || e.Row != 1 || !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %#v", err)
	}
}

func TestLoadRandomBytesNeverPanics(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	seeds := [][]byte{inline(t, "ext_p5"), inline(t, "misc_p2"), inline(t, "ser_p0")}
	for i := range 3000 {
		var data []byte
		if i%2 == 0 {
			data = make([]byte, r.IntN(64))
			for j := range data {
				data[j] = byte(r.UintN(256))
			}
		} else {
			s := seeds[i%len(seeds)]
			data = append([]byte(nil), s...)
			for range 1 + r.IntN(4) {
				data[r.IntN(len(data))] = byte(r.UintN(256))
			}
			data = data[:r.IntN(len(data)+1)]
		}
		tb, err := Load(data, Options{})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("input %x: error %v is not ErrInvalid", data, err)
			}
			if strings.Contains(err.Error(), "internal failure") {
				t.Errorf("input %x: recovered panic: %v", data, err)
			}
			continue
		}
		if err := tb.Validate(); err != nil {
			t.Fatalf("input %x: invalid table: %v", data, err)
		}
	}
}

func TestLoadFileIOErrorIsNotInvalid(t *testing.T) {
	t.Parallel()
	_, err := LoadFile(t.TempDir()+"/missing.pkl", Options{})
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want a non-ErrInvalid I/O error", err)
	}
}

// TestLoadKeepsVectorsInPlace: float32 vectors, from a 2-D ndarray or a
// DataFrame column of arrays, are RawVectors rows slicing the input, not
// copies, wherever in the input they sit (no alignment needed).
func TestLoadKeepsVectorsInPlace(t *testing.T) {
	t.Parallel()
	fixture, err := os.ReadFile(filepath.Join("testdata", "fixtures", "df_embedding.pkl"))
	if err != nil {
		t.Fatal(err)
	}
	for name, pkl := range map[string][]byte{"ndarray": genNdarray(64, 384), "DataFrame": fixture} {
		for shift := range 4 { // every alignment of the payloads
			data := append(make([]byte, shift), pkl...)[shift:]
			tb, err := Load(data, Options{})
			if err != nil {
				t.Fatalf("%s shifted %d: %v", name, shift, err)
			}
			var c *table.Column
			for _, col := range tb.Columns {
				if col.Type == table.TypeFloatVector {
					c = col
				}
			}
			if c == nil || c.RawVectors == nil || len(c.RawVectors) != tb.NumRows {
				t.Fatalf("%s: no vector column in RawVectors layout: %s", name, schema(tb))
			}
			start := uintptr(unsafe.Pointer(&data[0]))
			for r, v := range c.RawVectors {
				if v == nil {
					continue
				}
				if p := uintptr(unsafe.Pointer(&v[0])); p < start || p >= start+uintptr(len(data)) {
					t.Fatalf("%s row %d: the vector was copied; want it in place in the input", name, r)
				}
			}
			if name == "ndarray" {
				if got := c.Vector(1)[1]; got != float32(385%1000)/1000 {
					t.Fatalf("ndarray: row 1 element 1 = %v", got)
				}
			}
		}
	}
}

func TestLoadSparseSeriesIsDensified(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"1.5.3", "2.2.3"} {
		path := filepath.Join("..", "..", "..", "shared", "pickle-corpus", "pandas-generated", v, "split", "sp_series__float.pkl")
		if _, err := os.Stat(path); err != nil {
			t.Skip("shared pickle corpus not present")
		}
		tb, err := LoadFile(path, Options{})
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		c := tb.Column("bseries")
		if tb.NumRows != 15 || c == nil || c.Type != table.TypeDouble {
			t.Fatalf("%s: got %s rows=%d", v, schema(tb), tb.NumRows)
		}
		// pandas: {0: 0.0, ..., 6: 6.0, 7-11: nan, 12: 12.0, 13: 13.0, 14: nan}
		if c.Doubles[6] != 6 || c.Doubles[12] != 12 || !c.IsNull(7) || !c.IsNull(14) || c.IsNull(13) {
			t.Errorf("%s: values %v nulls %v", v, c.Doubles, c.Nulls)
		}
	}
}
