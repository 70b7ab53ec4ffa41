package inspect

import (
	"bytes"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/table"
)

func TestCut(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven ch…"},
		{"한국어 텍스트입니다", 5, "한국어 …"},
		{"a\nb\tc", 10, "a b c"},
		{"😀😀😀", 2, "😀…"},
		{"red\x1b[31mtext", 40, `red\x1b[31mtext`},
		{"zero\u200bwidth\u202eltr\u00a0", 40, `zero\u200bwidth\u202eltr\u00a0`},
		{"bell\a", 5, `bell…`},
	} {
		if got := cut(c.in, c.n); got != c.want {
			t.Errorf("cut(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// previewTable is a small table built by hand, so the rendering is tested
// independently of the loader.
func previewTable() *table.Table {
	return &table.Table{NumRows: 2, Columns: []*table.Column{
		{Field: table.Field{Name: "id", Type: table.TypeInt64}, Int64s: []int64{1, 2}},
		{Field: table.Field{Name: "title", Type: table.TypeString, Nullable: true}, Strings: []string{strings.Repeat("가", 100), ""}, Nulls: []int{1}},
		{Field: table.Field{Name: "embedding", Type: table.TypeFloatVector, VectorDim: 6}, Vectors: []float32{0.5, -1, 0.25, 3, 4, 5, 1, 2, 3, 4, 5, 6}},
		{Field: table.Field{Name: "tiny", Type: table.TypeFloatVector, VectorDim: 2}, Vectors: []float32{0.1, 0.2, 0.3, 0.4}},
		{Field: table.Field{Name: "skills", Type: table.TypeStringList}, StringLists: [][]string{{"go", "nats"}, {}}},
		{Field: table.Field{Name: "at", Type: table.TypeTimestamp}, Int64s: []int64{0, 1_700_000_000_123_456}},
	}}
}

func TestWritePreview(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WritePreview(&b, "f.pkl", "pickle", "", previewTable(), 1); err != nil {
		t.Fatal(err)
	}
	want := `file:    f.pkl
format:  pickle
rows:    2
columns: 6

schema:
  #  NAME       TYPE          NULLABLE  DIM
  1  id         INT64         no
  2  title      STRING        yes
  3  embedding  FLOAT_VECTOR  no        6
  4  tiny       FLOAT_VECTOR  no        2
  5  skills     STRING_LIST   no
  6  at         TIMESTAMP     no

rows (first 1 of 2):
[0]
  id         1
  title      "` + strings.Repeat("가", 70) + `…
  embedding  [6] 0.5, -1, 0.25, 3, …
  tiny       [2] 0.1, 0.2
  skills     ["go","nats"]
  at         "1970-01-01T00:00:00.000000Z"
`
	if got := b.String(); got != want {
		t.Errorf("preview:\n%s\nwant:\n%s", got, want)
	}

	b.Reset()
	if err := WritePreview(&b, "f.pkl", "", "recruit", previewTable(), 5); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"domain:  recruit (checks passed)\n", "rows (all 2):\n", "[1]\n  id         2\n  title      null\n", `  skills     []`} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("preview lacks %q:\n%s", s, b.String())
		}
	}
}

func TestWritePreviewEmpty(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WritePreview(&b, "e.pkl", "", "", &table.Table{}, 10); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(b.String(), "\nno rows\n") {
		t.Errorf("preview of an empty table:\n%s", b.String())
	}
}

func TestWriteSchema(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WriteSchema(&b, previewTable()); err != nil {
		t.Fatal(err)
	}
	want := `[
  {"name":"id","type":"INT64","nullable":false},
  {"name":"title","type":"STRING","nullable":true},
  {"name":"embedding","type":"FLOAT_VECTOR","nullable":false,"vector_dim":6},
  {"name":"tiny","type":"FLOAT_VECTOR","nullable":false,"vector_dim":2},
  {"name":"skills","type":"STRING_LIST","nullable":false},
  {"name":"at","type":"TIMESTAMP","nullable":false}
]
`
	if got := b.String(); got != want {
		t.Errorf("schema:\n%s\nwant:\n%s", got, want)
	}
}

func TestPreviewEscapesControlRunes(t *testing.T) {
	t.Parallel()
	tb := &table.Table{NumRows: 1, Columns: []*table.Column{
		{Field: table.Field{Name: "evil\x1b]0;title\x07", Type: table.TypeString}, Strings: []string{"v\x1b[2J"}},
	}}
	var out bytes.Buffer
	if err := WritePreview(&out, "dir/\x1b[31mfile.pkl", "", "", tb, 5); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out.String(), "\x1b\x07") {
		t.Errorf("preview carries raw control characters:\n%q", out.String())
	}
	for _, want := range []string{`evil\x1b]0;title\a`, `dir/\x1b[31mfile.pkl`, `v\u001b[2J`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("preview lacks %s:\n%s", want, out.String())
		}
	}
}
