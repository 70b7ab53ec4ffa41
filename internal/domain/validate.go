package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
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
// It is [Domain.ValidateSource] of t: a table held whole is one window.
func (d *Domain) Validate(t *table.Table) error {
	if t == nil {
		return nil
	}
	return d.ValidateSource(t)
}

// ValidateSource is [Domain.Validate] for a dataset read a window of rows at
// a time (src.WindowRows() rows, only the columns the domain knows): the
// same checks, the same errors, in memory bounded by a window plus the id
// field's duplicate index. Errors reading src are returned as they are
// (they do not wrap [ErrValidation]).
func (d *Domain) ValidateSource(src table.Source) error {
	v := d.NewValidator(src.Schema(), src.Rows())
	if err := v.Feed(src); err != nil {
		return err
	}
	return v.Err()
}

// CheckSchema returns the errors of [Domain.Validate] that the schema
// decides, before any chunk is sent: a required field missing, a known
// field of a type the domain does not allow (its first non-null row is
// read to name it: an all-null column of another type is accepted), an
// embedding that is not a fixed-dimension vector or of the wrong
// dimension. The id field is not checked here for nulls and duplicates,
// nor JSON columns for their values: [Domain.ValidateSource] does that
// while the data streams. A nil error means none of these problems; a
// dataset of zero rows passes.
func (d *Domain) CheckSchema(src table.Source) error {
	v := d.NewValidator(src.Schema(), src.Rows())
	if v.rows == 0 {
		return nil
	}
	var errs []error
	for _, fc := range v.checks {
		if len(errs) >= maxErrors {
			break
		}
		if fc.col < 0 {
			if fc.f.Required {
				errs = append(errs, d.fieldErr(fc.f.Name, -1, "missing (required)"))
			}
			continue
		}
		c := fc.field
		mismatch := !slices.Contains(fc.f.Types, c.Type)
		embedding := !mismatch && fc.f.Name == d.Embedding
		if mismatch && c.Type == table.TypeJSON {
			continue // decided by its values
		}
		if !mismatch && !embedding {
			continue
		}
		if embedding && c.VectorDim <= 0 {
			errs = append(errs, d.fieldErr(fc.f.Name, -1, "not a fixed-dimension vector (dimension %d)", c.VectorDim))
			continue
		}
		if embedding && (d.EmbeddingDim == 0 || c.VectorDim == d.EmbeddingDim) {
			continue
		}
		first, err := firstNonNullIn(src, v.cols[fc.col], v.rows)
		if err != nil {
			return err
		}
		switch {
		case mismatch && first >= 0:
			errs = append(errs, d.fieldErr(fc.f.Name, first, "%s value, want %s", c.Type, typeList(fc.f.Types)))
		case embedding:
			errs = append(errs, d.fieldErr(fc.f.Name, max(first, 0), "vector of dimension %d, want %d", c.VectorDim, d.EmbeddingDim))
		}
	}
	return errors.Join(errs...)
}

// firstNonNullIn returns the first row of schema column col that is not
// null, or -1, reading one window at a time.
func firstNonNullIn(src table.Source, col, rows int) (int, error) {
	step := windowRows(src)
	for lo := 0; lo < rows; lo += step {
		hi := min(lo+step, rows)
		w, err := src.Window(lo, hi, []int{col})
		if err != nil {
			return -1, err
		}
		if i := firstNonNull(w.Columns[0], hi-lo); i >= 0 {
			return lo + i, nil
		}
	}
	return -1, nil
}

func windowRows(src table.Source) int {
	if n := src.WindowRows(); n > 0 {
		return n
	}
	return max(src.Rows(), 1)
}

// Validator checks a dataset against its domain a window of rows at a
// time, in row order: build it with [Domain.NewValidator], give it every
// row once with [Validator.Check] (or [Validator.Feed]), then read
// [Validator.Err]. It keeps what the checks need across windows (the first
// null and non-null rows, the id field's values seen) and nothing of the
// windows themselves. It is not safe for concurrent use.
type Validator struct {
	d      *Domain
	rows   int
	cols   []int         // schema indexes of the columns Check reads
	checks []*fieldCheck // one per domain field, in field order
	next   int           // the next row Check expects
}

// fieldCheck is the state of one domain field's checks.
type fieldCheck struct {
	f     Field
	col   int         // index into Validator.cols; -1: the column is missing
	field table.Field // the column's schema field

	mismatch bool // its type is not one the field allows
	unique   bool // the id field: no duplicates
	firstNN  int  // first non-null row (-1: none yet)
	nullRow  int  // first null row of a NonNull field (-1: none)
	err      error
	final    bool // err (or the lack of one) cannot change any more, nulls aside

	// JSON mismatch state: see checkMismatch's rules
	vectorLen, vectorRow int
	kindOf               table.Type
	kindRow              int
	mixed                error

	seenStr   map[uint64]int32 // id hash -> first row (STRING ids)
	collided  map[uint64][]int32
	seenInt   map[int64]int32
	dupRow    int // first duplicate row (-1: none)
	dupOf     int
	dupString string
	dupInt    int64
}

// NewValidator returns a Validator for a dataset of rows rows with schema
// schema.
func (d *Domain) NewValidator(schema []table.Field, rows int) *Validator {
	v := &Validator{d: d, rows: rows}
	index := make(map[string]int, len(schema))
	for i, f := range schema {
		if _, dup := index[f.Name]; !dup {
			index[f.Name] = i
		}
	}
	for _, f := range d.Fields {
		fc := &fieldCheck{f: f, col: -1, firstNN: -1, nullRow: -1, dupRow: -1, vectorLen: -1, vectorRow: -1, kindRow: -1}
		if k, ok := index[f.Name]; ok {
			fc.col = len(v.cols)
			fc.field = schema[k]
			v.cols = append(v.cols, k)
			fc.mismatch = !slices.Contains(f.Types, fc.field.Type)
			fc.unique = !fc.mismatch && f.Name == d.IDField
		}
		v.checks = append(v.checks, fc)
	}
	return v
}

// Columns returns the schema indexes of the columns [Validator.Check]
// reads, in the order its windows must hold them.
func (v *Validator) Columns() []int { return v.cols }

// Feed checks every row of src, one window of the columns it needs at a
// time. Errors are src's.
func (v *Validator) Feed(src table.Source) error {
	step := windowRows(src)
	for lo := v.next; lo < v.rows; lo += step {
		hi := min(lo+step, v.rows)
		w, err := src.Window(lo, hi, v.cols)
		if err != nil {
			return err
		}
		v.checkWindow(lo, w, src)
	}
	return nil
}

// Check checks rows [lo, lo+w.Rows()) whose columns are [Validator.Columns],
// in that order. Windows must come in row order, each row once: lo is the
// row after the previous window's last. A STRING id that collides by hash
// with an earlier one is compared with the earlier value by reading it
// back: Check keeps only hashes, so give it the dataset (src) to read from.
func (v *Validator) Check(lo int, w *table.Table, src table.Source) {
	v.checkWindow(lo, w, src)
}

func (v *Validator) checkWindow(lo int, w *table.Table, src table.Source) {
	if lo != v.next {
		panic(fmt.Sprintf("domain: validator window at row %d, want row %d", lo, v.next))
	}
	n := w.Rows()
	v.next = lo + n
	for _, fc := range v.checks {
		if fc.col < 0 {
			continue
		}
		v.d.checkRows(fc, lo, w.Columns[fc.col], n, v.cols[fc.col], src)
	}
}

// checkRows runs fc's checks over rows [lo, lo+n) held by c.
func (d *Domain) checkRows(fc *fieldCheck, lo int, c *table.Column, n, col int, src table.Source) {
	if fc.f.NonNull && fc.nullRow < 0 && len(c.Nulls) > 0 {
		fc.nullRow = lo + c.Nulls[0]
	}
	if fc.firstNN < 0 {
		if i := firstNonNull(c, n); i >= 0 {
			fc.firstNN = lo + i
		}
	}
	if fc.final {
		return
	}
	switch {
	case fc.mismatch && fc.field.Type != table.TypeJSON:
		if fc.firstNN >= 0 {
			fc.err = d.fieldErr(fc.f.Name, fc.firstNN, "%s value, want %s", fc.field.Type, typeList(fc.f.Types))
			fc.final = true
		}
	case fc.mismatch:
		d.jsonRows(fc, lo, c, n)
	case fc.unique:
		d.uniqueRows(fc, lo, c, n, col, src)
	}
}

// jsonRows applies checkMismatch's rules for a JSON column to rows [lo,
// lo+n): the first row whose value does not fit the field is the error;
// failing that, the first that breaks the pattern (a vector of another
// length, another kind), decided in [Validator.Err].
func (d *Domain) jsonRows(fc *fieldCheck, lo int, c *table.Column, n int) {
	want := typeList(fc.f.Types)
	for i := range n {
		if c.IsNull(i) {
			continue
		}
		row := lo + i
		k, l := jsonKind(c.Strings[i])
		if fc.f.Name == d.Embedding && k == table.TypeFloatVector {
			if fc.vectorLen < 0 {
				fc.vectorLen, fc.vectorRow = l, row
			} else if l != fc.vectorLen && fc.mixed == nil {
				fc.mixed = d.fieldErr(fc.f.Name, row, "not a fixed-dimension vector: %d values, but row %d has %d", l, fc.vectorRow, fc.vectorLen)
			}
			continue
		}
		if !slices.Contains(fc.f.Types, k) {
			fc.err = d.fieldErr(fc.f.Name, row, "%s value, want %s", kindName(k), want)
			fc.final = true
			return
		}
		if fc.kindRow < 0 {
			fc.kindOf, fc.kindRow = k, row
		} else if k != fc.kindOf && fc.mixed == nil {
			fc.mixed = d.fieldErr(fc.f.Name, row, "%s value, but row %d holds %s: a field must have one type", k, fc.kindRow, fc.kindOf)
		}
	}
}

// uniqueRows finds the id field's first duplicate: the first row whose
// value an earlier row holds. STRING ids are indexed by a 64-bit hash (a
// hit is confirmed by comparing the values, reading the earlier one back
// from src), INT64 ids by value.
func (d *Domain) uniqueRows(fc *fieldCheck, lo int, c *table.Column, n, col int, src table.Source) {
	switch c.Type {
	case table.TypeString:
		if fc.seenStr == nil {
			fc.seenStr = make(map[uint64]int32)
		}
		for i := range n {
			s := c.Strings[i]
			h := idHash(s)
			row := int32(lo + i)
			j, ok := fc.seenStr[h]
			if !ok {
				fc.seenStr[h] = row
				continue
			}
			if first, dup := d.sameString(fc, h, j, s, col, src); dup {
				fc.dupRow, fc.dupOf, fc.dupString = int(row), first, strings.Clone(s)
				fc.final = true
				return
			}
			if fc.collided == nil {
				fc.collided = map[uint64][]int32{}
			}
			fc.collided[h] = append(fc.collided[h], row)
		}
	case table.TypeInt64:
		if fc.seenInt == nil {
			fc.seenInt = make(map[int64]int32)
		}
		for i := range n {
			x := c.Int64s[i]
			if j, ok := fc.seenInt[x]; ok {
				fc.dupRow, fc.dupOf, fc.dupInt = lo+i, int(j), x
				fc.final = true
				return
			}
			fc.seenInt[x] = int32(lo + i)
		}
	}
}

// sameString reports whether an earlier row with hash h (first at row
// first, then the collided rows) holds s, and which.
func (d *Domain) sameString(fc *fieldCheck, h uint64, first int32, s string, col int, src table.Source) (int, bool) {
	for _, j := range append([]int32{first}, fc.collided[h]...) {
		w, err := src.Window(int(j), int(j)+1, []int{col})
		if err != nil || len(w.Columns) == 0 || len(w.Columns[0].Strings) == 0 {
			continue // cannot read it back: not a confirmed duplicate
		}
		if w.Columns[0].Strings[0] == s {
			return int(j), true
		}
	}
	return 0, false
}

// idSeed seeds the id hashes of every Validator (the hashes never leave
// the process).
var idSeed = maphash.MakeSeed()

// idHash hashes a STRING id; tests replace it to force collisions.
var idHash = func(s string) uint64 { return maphash.String(idSeed, s) }

// Err returns the verdict once every row has been checked: the errors of
// up to ten fields, in field order, joined; nil when the dataset passes.
func (v *Validator) Err() error {
	if v.rows == 0 {
		return nil
	}
	var errs []error
	for _, fc := range v.checks {
		if len(errs) >= maxErrors {
			break
		}
		if err := v.d.verdict(fc, v.rows); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// verdict is fc's error once every row has been seen, in the precedence of
// the checks: a missing field; a null id; a disallowed type; a duplicate
// id; the embedding's dimension.
func (d *Domain) verdict(fc *fieldCheck, rows int) error {
	if fc.col < 0 {
		if fc.f.Required {
			return d.fieldErr(fc.f.Name, -1, "missing (required)")
		}
		return nil
	}
	if fc.nullRow >= 0 {
		return d.fieldErr(fc.f.Name, fc.nullRow, "null value (the id must not be null)")
	}
	switch {
	case fc.mismatch && fc.err != nil:
		return fc.err
	case fc.mismatch && fc.firstNN < 0:
		return nil // all null: no value of the wrong type
	case fc.mismatch && fc.mixed != nil:
		return fc.mixed
	case fc.mismatch:
		return d.fieldErr(fc.f.Name, fc.firstNN, "JSON values, want %s", typeList(fc.f.Types))
	case fc.unique && fc.dupRow >= 0 && fc.field.Type == table.TypeString:
		return d.fieldErr(fc.f.Name, fc.dupRow, "duplicate value %q (first at row %d)", fc.dupString, fc.dupOf)
	case fc.unique && fc.dupRow >= 0:
		return d.fieldErr(fc.f.Name, fc.dupRow, "duplicate value %d (first at row %d)", fc.dupInt, fc.dupOf)
	case fc.f.Name == d.Embedding && !fc.unique:
		if fc.field.VectorDim <= 0 {
			return d.fieldErr(fc.f.Name, -1, "not a fixed-dimension vector (dimension %d)", fc.field.VectorDim)
		}
		if d.EmbeddingDim > 0 && fc.field.VectorDim != d.EmbeddingDim {
			return d.fieldErr(fc.f.Name, max(fc.firstNN, 0), "vector of dimension %d, want %d", fc.field.VectorDim, d.EmbeddingDim)
		}
	}
	return nil
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
