package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/embedstream/embedstream/internal/table"
)

// maxErrors bounds how many field errors one Validate call reports.
const maxErrors = 10

// FieldError is one reason a table fails its domain. It wraps
// [ErrValidation].
type FieldError struct {
	Domain string
	Field  string
	Row    int // 0-based row at fault, or -1 when the whole column is
	Msg    string
}

// Error reads like `recruit: field "recruit_id": row 17: duplicate value
// "R-17" (first at row 3)`.
func (e *FieldError) Error() string {
	if e.Row < 0 {
		return fmt.Sprintf("%s: field %q: %s", e.Domain, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: field %q: row %d: %s", e.Domain, e.Field, e.Row, e.Msg)
}

// Unwrap returns [ErrValidation].
func (e *FieldError) Unwrap() error { return ErrValidation }

// Validate checks t against d: every required field present; every known
// field of an allowed type; the id field without nulls or duplicates; the
// embedding field a FLOAT_VECTOR of fixed dimension (d.EmbeddingDim when
// set). Known optional fields may hold nulls, unknown columns pass through,
// and a table of zero rows is valid whatever its columns.
//
// The error joins up to ten [*FieldError]s, each wrapping [ErrValidation].
func (d *Domain) Validate(t *table.Table) error {
	if t == nil || t.NumRows == 0 {
		return nil
	}
	var errs []error
	for _, f := range d.Fields {
		if len(errs) >= maxErrors {
			break
		}
		c := t.Column(f.Name)
		if c == nil {
			if f.Required {
				errs = append(errs, d.fieldErr(f.Name, -1, "missing (required)"))
			}
			continue
		}
		if err := d.checkColumn(f, c, t.NumRows); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fieldErr returns a FieldError. The field name is copied: it may be a
// column name aliasing a file buffer the worker reuses after the job.
func (d *Domain) fieldErr(field string, row int, format string, args ...any) error {
	return &FieldError{Domain: d.Name, Field: strings.Clone(field), Row: row, Msg: fmt.Sprintf(format, args...)}
}

func typeList(ts []table.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, " or ")
}

// firstNonNull returns the first row of c that is not null, or -1.
func firstNonNull(c *table.Column, rows int) int {
	for i := range rows {
		if !c.IsNull(i) {
			return i
		}
	}
	return -1
}

func (d *Domain) checkColumn(f Field, c *table.Column, rows int) error {
	if f.NonNull && len(c.Nulls) > 0 {
		return d.fieldErr(f.Name, c.Nulls[0], "null value (the id must not be null)")
	}
	if !slices.Contains(f.Types, c.Type) {
		return d.checkMismatch(f, c, rows)
	}
	switch {
	case f.Name == d.IDField:
		return d.checkUnique(f, c, rows)
	case f.Name == d.Embedding:
		if c.VectorDim <= 0 {
			return d.fieldErr(f.Name, -1, "not a fixed-dimension vector (dimension %d)", c.VectorDim)
		}
		if d.EmbeddingDim > 0 && c.VectorDim != d.EmbeddingDim {
			return d.fieldErr(f.Name, max(firstNonNull(c, rows), 0), "vector of dimension %d, want %d", c.VectorDim, d.EmbeddingDim)
		}
	}
	return nil
}

// checkMismatch explains a column whose type the field does not allow. An
// all-null column of another type is accepted for a field that may be
// null: it carries no value of the wrong type.
func (d *Domain) checkMismatch(f Field, c *table.Column, rows int) error {
	first := firstNonNull(c, rows)
	if first < 0 {
		return nil
	}
	want := typeList(f.Types)
	if c.Type != table.TypeJSON {
		return d.fieldErr(f.Name, first, "%s value, want %s", c.Type, want)
	}
	// A JSON column holds values of mixed or nested kinds: name the first
	// row whose value does not fit the field; failing that, the first that
	// breaks the pattern (a vector of another length, another kind).
	var mixed error
	vectorLen, vectorRow := -1, -1
	kindOf, kindRow := table.TypeUnspecified, -1
	for i := range rows {
		if c.IsNull(i) {
			continue
		}
		k, n := jsonKind(c.Strings[i])
		if f.Name == d.Embedding && k == table.TypeFloatVector {
			if vectorLen < 0 {
				vectorLen, vectorRow = n, i
			} else if n != vectorLen && mixed == nil {
				mixed = d.fieldErr(f.Name, i, "not a fixed-dimension vector: %d values, but row %d has %d", n, vectorRow, vectorLen)
			}
			continue
		}
		if !slices.Contains(f.Types, k) {
			return d.fieldErr(f.Name, i, "%s value, want %s", kindName(k), want)
		}
		if kindRow < 0 {
			kindOf, kindRow = k, i
		} else if k != kindOf && mixed == nil {
			mixed = d.fieldErr(f.Name, i, "%s value, but row %d holds %s: a field must have one type", k, kindRow, kindOf)
		}
	}
	if mixed != nil {
		return mixed
	}
	return d.fieldErr(f.Name, first, "JSON values, want %s", want)
}

func kindName(k table.Type) string {
	if k == table.TypeJSON {
		return "object or mixed-list"
	}
	return k.String()
}

// jsonKind returns the column type a JSON value would have on its own and,
// for a list of numbers, its length.
func jsonKind(text string) (table.Type, int) {
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return table.TypeJSON, 0
	}
	switch v := v.(type) {
	case string:
		return table.TypeString, 0
	case bool:
		return table.TypeBool, 0
	case json.Number:
		if _, err := strconv.ParseInt(v.String(), 10, 64); err == nil {
			return table.TypeInt64, 0
		}
		return table.TypeDouble, 0
	case []any:
		strs, nums := 0, 0
		for _, e := range v {
			switch e.(type) {
			case string:
				strs++
			case json.Number:
				nums++
			}
		}
		switch {
		case len(v) > 0 && nums == len(v):
			return table.TypeFloatVector, len(v)
		case strs == len(v):
			return table.TypeStringList, 0
		}
	}
	return table.TypeJSON, 0
}

func (d *Domain) checkUnique(f Field, c *table.Column, rows int) error {
	switch c.Type {
	case table.TypeString:
		if i, j, dup := firstDuplicate(c.Strings[:rows]); dup {
			return d.fieldErr(f.Name, i, "duplicate value %q (first at row %d)", c.Strings[i], j)
		}
	case table.TypeInt64:
		if i, j, dup := firstDuplicate(c.Int64s[:rows]); dup {
			return d.fieldErr(f.Name, i, "duplicate value %d (first at row %d)", c.Int64s[i], j)
		}
	}
	return nil
}

// firstDuplicate returns the first row i whose value an earlier row j
// already holds.
func firstDuplicate[T comparable](vs []T) (i, j int, dup bool) {
	seen := make(map[T]int, len(vs))
	for i, v := range vs {
		if j, ok := seen[v]; ok {
			return i, j, true
		}
		seen[v] = i
	}
	return 0, 0, false
}
