package domain_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/table"
)

func strCol(name string, vals []string, nulls ...int) *table.Column {
	return &table.Column{Field: table.Field{Name: name, Type: table.TypeString, Nullable: len(nulls) > 0}, Strings: vals, Nulls: nulls}
}

func intCol(name string, vals []int64, nulls ...int) *table.Column {
	return &table.Column{Field: table.Field{Name: name, Type: table.TypeInt64, Nullable: len(nulls) > 0}, Int64s: vals, Nulls: nulls}
}

func jsonCol(name string, vals ...string) *table.Column {
	return &table.Column{Field: table.Field{Name: name, Type: table.TypeJSON}, Strings: vals}
}

func vecCol(name string, dim, rows int, nulls ...int) *table.Column {
	return &table.Column{Field: table.Field{Name: name, Type: table.TypeFloatVector, VectorDim: dim, Nullable: len(nulls) > 0}, Vectors: make([]float32, dim*rows), Nulls: nulls}
}

func tbl(cols ...*table.Column) *table.Table {
	t := &table.Table{Columns: cols}
	if len(cols) > 0 {
		t.NumRows = cols[0].Len()
	}
	return t
}

// recruitTable is a valid 4-row recruit table; mutate to break it.
func recruitTable() *table.Table {
	return tbl(
		strCol("recruit_id", []string{"R-0", "R-1", "R-2", "R-3"}),
		strCol("title", []string{"a", "b", "c", "d"}),
		strCol("company", []string{"x", "", "z", ""}, 1, 3),
		&table.Column{Field: table.Field{Name: "skills", Type: table.TypeStringList}, StringLists: [][]string{{"go"}, {}, {"py"}, {"go", "py"}}},
		&table.Column{Field: table.Field{Name: "min_career_years", Type: table.TypeDouble, Nullable: true}, Doubles: []float64{1.5, 0, 3, 4}, Nulls: []int{1}},
		&table.Column{Field: table.Field{Name: "created_at", Type: table.TypeTimestamp}, Int64s: []int64{1, 2, 3, 4}},
		vecCol("embedding", 8, 4, 2),
		jsonCol("extra", `{"a":1}`, `[1,"x"]`, `null`, `"s"`), // unknown column: passes through
	)
}

func lookup(t *testing.T, name string) *domain.Domain {
	t.Helper()
	r, err := domain.NewRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// validateCase is one table and what its domain says of it.
type validateCase struct {
	name    string
	d       *domain.Domain
	table   *table.Table
	wantErr string // substring of the error; "" for valid
}

// builtinCases are the built-in domains' verdicts on small tables.
func builtinCases(t *testing.T) []validateCase {
	recruit, candidate := lookup(t, "recruit"), lookup(t, "candidate")
	return []validateCase{
		{name: "valid recruit", d: recruit, table: recruitTable()},
		{name: "zero records", d: recruit, table: &table.Table{}},
		{name: "zero records with columns of any type", d: recruit, table: tbl(jsonCol("recruit_id"))},
		{name: "int ids", d: recruit, table: tbl(intCol("recruit_id", []int64{3, 1, 2}), strCol("title", []string{"a", "b", "c"}))},
		{name: "int min_career_years", d: recruit, table: tbl(strCol("recruit_id", []string{"a"}), strCol("title", []string{"t"}), intCol("min_career_years", []int64{2}))},
		{name: "all-null optional column of another type", d: recruit, table: tbl(strCol("recruit_id", []string{"a", "b"}), strCol("title", []string{"t", "u"}), &table.Column{Field: table.Field{Name: "company", Type: table.TypeDouble, Nullable: true}, Doubles: []float64{0, 0}, Nulls: []int{0, 1}})},
		{name: "null title", d: recruit, table: tbl(strCol("recruit_id", []string{"a", "b"}), strCol("title", []string{"t", ""}, 1))},
		{
			name: "duplicate string id", d: recruit,
			table:   tbl(strCol("recruit_id", []string{"R-0", "R-1", "R-2", "R-1"}), strCol("title", []string{"a", "b", "c", "d"})),
			wantErr: `recruit: field "recruit_id": row 3: duplicate value "R-1" (first at row 1)`,
		},
		{
			name: "duplicate int id", d: candidate,
			table:   tbl(intCol("candidate_id", []int64{7, 7})),
			wantErr: `candidate: field "candidate_id": row 1: duplicate value 7 (first at row 0)`,
		},
		{
			name: "null id", d: recruit,
			table:   tbl(strCol("recruit_id", []string{"a", ""}, 1), strCol("title", []string{"t", "u"})),
			wantErr: `recruit: field "recruit_id": row 1: null value`,
		},
		{
			name: "double id", d: candidate,
			table:   tbl(&table.Column{Field: table.Field{Name: "candidate_id", Type: table.TypeDouble}, Doubles: []float64{1, 2}}),
			wantErr: `candidate: field "candidate_id": row 0: DOUBLE value, want STRING or INT64`,
		},
		{
			name: "missing id", d: candidate,
			table:   tbl(strCol("name", []string{"n"})),
			wantErr: `candidate: field "candidate_id": missing (required)`,
		},
		{
			name: "missing title", d: recruit,
			table:   tbl(strCol("recruit_id", []string{"a"})),
			wantErr: `recruit: field "title": missing (required)`,
		},
		{
			name: "known field of another type", d: recruit,
			table:   tbl(strCol("recruit_id", []string{"a", "b"}), strCol("title", []string{"t", "u"}), intCol("company", []int64{0, 5}, 0)),
			wantErr: `recruit: field "company": row 1: INT64 value, want STRING`,
		},
		{
			name: "mixed JSON column, first misfit row", d: candidate,
			table:   tbl(strCol("candidate_id", []string{"a", "b", "c"}), jsonCol("career_years", `3`, `4.5`, `"ten"`)),
			wantErr: `candidate: field "career_years": row 2: STRING value, want INT64 or DOUBLE`,
		},
		{
			name: "ints and doubles mixed in a JSON column", d: candidate,
			table:   tbl(strCol("candidate_id", []string{"a", "b"}), jsonCol("career_years", `3`, `4.5`)),
			wantErr: `candidate: field "career_years": row 1: DOUBLE value, but row 0 holds INT64`,
		},
		{
			name: "mixed id kinds", d: candidate,
			table:   tbl(jsonCol("candidate_id", `"a"`, `1`)),
			wantErr: `candidate: field "candidate_id": row 1: INT64 value, but row 0 holds STRING`,
		},
		{
			name: "ragged embedding", d: candidate,
			table:   tbl(strCol("candidate_id", []string{"a", "b", "c"}), jsonCol("embedding", `[1,2,3]`, `[1,2,3]`, `[1,2]`)),
			wantErr: `candidate: field "embedding": row 2: not a fixed-dimension vector: 2 values, but row 0 has 3`,
		},
		{
			name: "embedding of strings", d: candidate,
			table:   tbl(strCol("candidate_id", []string{"a"}), &table.Column{Field: table.Field{Name: "embedding", Type: table.TypeStringList}, StringLists: [][]string{{"x"}}}),
			wantErr: `candidate: field "embedding": row 0: STRING_LIST value, want FLOAT_VECTOR`,
		},
		{
			name: "skills with a number list", d: candidate,
			table:   tbl(strCol("candidate_id", []string{"a", "b"}), jsonCol("skills", `["go"]`, `[1]`)),
			wantErr: `candidate: field "skills": row 1: FLOAT_VECTOR value, want STRING_LIST`,
		},
	}
}

func TestValidateBuiltins(t *testing.T) {
	t.Parallel()
	for _, tt := range builtinCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.d.Validate(tt.table)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, domain.ErrValidation) {
				t.Fatalf("err = %v, want ErrValidation", err)
			}
			var fe *domain.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FieldError", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateReportsSeveralFields(t *testing.T) {
	t.Parallel()
	tb := recruitTable()
	tb.Columns[0].Strings[2] = "R-0"                                                                               // duplicate id
	tb.Columns[1] = &table.Column{Field: table.Field{Name: "title", Type: table.TypeBool}, Bools: make([]bool, 4)} // wrong type
	err := lookup(t, "recruit").Validate(tb)
	if err == nil || !strings.Contains(err.Error(), `"recruit_id": row 2`) || !strings.Contains(err.Error(), `"title": row 0: BOOL value`) {
		t.Fatalf("err = %v, want both fields named", err)
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	r, err := domain.NewRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Names(), ","); got != "candidate,recruit" {
		t.Fatalf("Names = %s", got)
	}
	_, err = r.Lookup("jobs")
	if !errors.Is(err, domain.ErrUnknownDomain) || !strings.Contains(err.Error(), "candidate, recruit") {
		t.Fatalf("Lookup(jobs) = %v, want ErrUnknownDomain listing the known ones", err)
	}
}

const yamlDomains = `
domains:
  - name: job_posting
    id_field: posting_id
    required: [title]
    fields:
      posting_id: INT64
      title: STRING
      salary: [INT64, DOUBLE]
      tags: string_list
    embedding:
      field: vec
      dim: 4
  - name: note
    id_field: note_id
`

const jsonDomains = `{
	"domains": [
		{"name": "job_posting", "id_field": "posting_id", "required": ["title"],
		 "fields": {"posting_id": "INT64", "title": "STRING", "salary": ["INT64", "DOUBLE"], "tags": "STRING_LIST"},
		 "embedding": {"field": "vec", "dim": 4}},
		{"name": "note", "id_field": "note_id"}
	]
}`

func TestDomainsFile(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{"domains.yaml": yamlDomains, "domains.json": jsonDomains} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := domain.NewRegistry(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(r.Names(), ","); got != "candidate,job_posting,note,recruit" {
				t.Fatalf("Names = %s", got)
			}
			d, err := r.Lookup("job_posting")
			if err != nil {
				t.Fatal(err)
			}
			if d.IDField != "posting_id" || d.Embedding != "vec" || d.EmbeddingDim != 4 {
				t.Fatalf("domain = %+v", d)
			}
			ok := tbl(intCol("posting_id", []int64{1, 2}), strCol("title", []string{"a", "b"}), vecCol("vec", 4, 2), strCol("other", []string{"x", "y"}))
			if err := d.Validate(ok); err != nil {
				t.Fatalf("valid table: %v", err)
			}
			for _, bad := range []struct {
				table *table.Table
				want  string
			}{
				{tbl(strCol("posting_id", []string{"a"}), strCol("title", []string{"a"})), `job_posting: field "posting_id": row 0: STRING value, want INT64`},
				{tbl(intCol("posting_id", []int64{1}), strCol("title", []string{"a"}), vecCol("vec", 3, 1)), `job_posting: field "vec": row 0: vector of dimension 3, want 4`},
				{tbl(intCol("posting_id", []int64{1})), `job_posting: field "title": missing (required)`},
			} {
				if err := d.Validate(bad.table); !errors.Is(err, domain.ErrValidation) || !strings.Contains(err.Error(), bad.want) {
					t.Errorf("Validate = %v, want %q", err, bad.want)
				}
			}
			note, err := r.Lookup("note")
			if err != nil {
				t.Fatal(err)
			}
			if err := note.Validate(tbl(intCol("note_id", []int64{1}))); err != nil {
				t.Fatalf("note: %v", err)
			}
		})
	}
}

func TestDomainsFileErrors(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"domains:\n  - name: x\n",                                                                       // no id_field
		"domains:\n  - name: a.b\n    id_field: id\n",                                                   // '.' in name
		"domains:\n  - name: recruit\n    id_field: id\n",                                               // redefines a built-in
		"domains:\n  - name: x\n    id_field: id\n    colour: red\n",                                    // unknown key
		"domains:\n  - name: x\n    id_field: id\n    fields: {a: NUMBER}\n",                            // unknown type
		"domains:\n  - name: x\n    id_field: id\n    fields: {id: DOUBLE}\n",                           // id type
		"domains:\n  - name: x\n    id_field: id\n    required: [title]\n",                              // required not known
		"domains:\n  - name: x\n    id_field: id\n    embedding: {dim: 3}\n",                            // embedding without field
		"domains:\n  - name: x\n    id_field: id\n    fields: {v: STRING}\n    embedding: {field: v}\n", // embedding not a vector
		"domains: [",
		"domains:\n  - name: x\n    id_field: id\n  - name: x\n    id_field: id\n", // twice
	} {
		path := filepath.Join(t.TempDir(), "d.yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := domain.NewRegistry(path); !errors.Is(err, domain.ErrDefinition) {
			t.Errorf("NewRegistry(%q) = %v, want ErrDefinition", text, err)
		}
	}
	if _, err := domain.NewRegistry(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
