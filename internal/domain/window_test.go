package domain_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/table"
)

// windowed serves a table a few rows at a time, as a loader of files
// larger than memory does.
type windowed struct {
	*table.Table
	rows    int
	windows *int // windows served
}

func (w windowed) WindowRows() int { return w.rows }

func (w windowed) Window(lo, hi int, cols []int) (*table.Table, error) {
	if w.rows > 0 && hi-lo > w.rows {
		return nil, fmt.Errorf("window [%d, %d) wider than %d rows", lo, hi, w.rows)
	}
	*w.windows++
	return w.Table.Window(lo, hi, cols)
}

// TestValidateSourceEqualsValidate checks that validating a window at a
// time gives exactly what validating the whole table gives, for every
// window size, and that CheckSchema reports only errors of the full verdict.
func TestValidateSourceEqualsValidate(t *testing.T) {
	t.Parallel()
	cases := builtinCases(t)
	tb := recruitTable()
	tb.Columns[0].Strings[3] = "R-1"
	cases = append(cases, validateCase{name: "duplicate across windows", d: lookup(t, "recruit"), table: tb})
	for _, tt := range cases {
		want := errText(tt.d.Validate(tt.table))
		for _, rows := range []int{1, 2, 3, 7} {
			n := 0
			got := errText(tt.d.ValidateSource(windowed{tt.table, rows, &n}))
			if got != want {
				t.Errorf("%s, windows of %d rows: %q, want %q", tt.name, rows, got, want)
			}
			early := tt.d.CheckSchema(windowed{tt.table, rows, &n})
			if early != nil && !errors.Is(early, domain.ErrValidation) {
				t.Errorf("%s: CheckSchema: %v, want ErrValidation", tt.name, early)
			}
			for _, line := range strings.Split(errText(early), "\n") {
				if line != "" && !strings.Contains(want, line) {
					t.Errorf("%s, windows of %d rows: CheckSchema says %q, which the full verdict %q does not", tt.name, rows, line, want)
				}
			}
		}
	}
}

// TestCheckSchemaFailsFast checks the errors known from the schema (and
// the first non-null row) before any row streams.
func TestCheckSchemaFailsFast(t *testing.T) {
	t.Parallel()
	recruit := lookup(t, "recruit")
	n := 0
	missing := windowed{tbl(strCol("recruit_id", []string{"a", "b"})), 1, &n}
	if err := recruit.CheckSchema(missing); err == nil || !strings.Contains(err.Error(), `"title": missing (required)`) {
		t.Errorf("missing title: %v", err)
	}
	wrong := windowed{tbl(strCol("recruit_id", []string{"a", "b", "c"}), strCol("title", []string{"t", "u", "v"}), intCol("company", []int64{0, 0, 5}, 0, 1)), 1, &n}
	if err := recruit.CheckSchema(wrong); err == nil || !strings.Contains(err.Error(), `"company": row 2: INT64 value, want STRING`) {
		t.Errorf("wrong type: %v", err)
	}
	// duplicates are left to the streaming validation
	dup := windowed{tbl(strCol("recruit_id", []string{"a", "a"}), strCol("title", []string{"t", "u"})), 1, &n}
	if err := recruit.CheckSchema(dup); err != nil {
		t.Errorf("duplicate ids: CheckSchema = %v, want nil", err)
	}
}

// TestValidatorReadsOnlyItsColumns checks that a validator asks a source
// for the domain's columns only.
func TestValidatorReadsOnlyItsColumns(t *testing.T) {
	t.Parallel()
	recruit := lookup(t, "recruit")
	tb := recruitTable()
	v := recruit.NewValidator(tb.Schema(), tb.Rows())
	for _, k := range v.Columns() {
		if tb.Columns[k].Name == "extra" {
			t.Errorf("the validator reads the unknown column %q", tb.Columns[k].Name)
		}
	}
	if got, want := len(v.Columns()), len(tb.Columns)-1; got != want {
		t.Errorf("columns read = %d, want %d", got, want)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
