package canonical

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/table"
)

func TestWriteTable(t *testing.T) {
	tb := &table.Table{NumRows: 2, Columns: []*table.Column{
		{Field: table.Field{Name: "id", Type: table.TypeInt64}, Int64s: []int64{9007199254740993, -1}},
		{Field: table.Field{Name: "s", Type: table.TypeString, Nullable: true}, Strings: []string{"한국어 <b>\"x\"\n", ""}, Nulls: []int{1}},
		{Field: table.Field{Name: "d", Type: table.TypeDouble}, Doubles: []float64{0.1, 1e21}},
		{Field: table.Field{Name: "b", Type: table.TypeBool}, Bools: []bool{true, false}},
		{Field: table.Field{Name: "t", Type: table.TypeTimestamp}, Int64s: []int64{1765531800000000, 1}},
		{Field: table.Field{Name: "by", Type: table.TypeBytes}, Bytes: [][]byte{{0, 1, 2}, nil}},
		{Field: table.Field{Name: "v", Type: table.TypeFloatVector, VectorDim: 2}, Vectors: []float32{0.1, 1, float32(math.SmallestNonzeroFloat32), -2.5}},
		{Field: table.Field{Name: "l", Type: table.TypeStringList}, StringLists: [][]string{{"a", "b"}, {}}},
		{Field: table.Field{Name: "j", Type: table.TypeJSON}, Strings: []string{`{"a":[1,2]}`, `null`}},
	}}
	if err := tb.Validate(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, tb); err != nil {
		t.Fatal(err)
	}
	want := `{"id":9007199254740993,"s":"한국어 <b>\"x\"\n","d":0.1,"b":true,"t":"2025-12-12T09:30:00.000000Z","by":"AAEC","v":[0.1,1],"l":["a","b"],"j":{"a":[1,2]}}
{"id":-1,"s":null,"d":1e+21,"b":false,"t":"1970-01-01T00:00:00.000001Z","by":"","v":[1e-45,-2.5],"l":[],"j":null}
`
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
	if err := Compare(strings.NewReader(buf.String()), strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name, got, want string
		ok              bool
	}{
		{"equal", `{"a":1,"b":[0.1]}`, `{"a":1,"b":[0.1]}`, true},
		{"float tolerance", `{"v":[0.30000001]}`, `{"v":[0.3]}`, true},
		{"float same value other text", `{"v":1e+21}`, `{"v":1000000000000000000000.0}`, true},
		{"int exact", `{"a":9007199254740993}`, `{"a":9007199254740992}`, false},
		{"key order", `{"b":1,"a":2}`, `{"a":2,"b":1}`, false},
		{"string", `{"a":"x"}`, `{"a":"y"}`, false},
		{"null vs value", `{"a":null}`, `{"a":0}`, false},
		{"line count", "{\"a\":1}\n{\"a\":1}", `{"a":1}`, false},
		{"blank lines ignored", "{\"a\":1}\n\n", `{"a":1}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Compare(strings.NewReader(tt.got), strings.NewReader(tt.want))
			if (err == nil) != tt.ok {
				t.Fatalf("Compare = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
