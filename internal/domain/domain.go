package domain

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
)

var (
	// ErrValidation marks a table that does not satisfy its domain: a
	// permanent failure of the job.
	ErrValidation = errors.New("domain validation failed")
	// ErrUnknownDomain marks a domain name the registry does not know.
	ErrUnknownDomain = errors.New("unknown domain")
	// ErrDefinition marks an invalid domain definition (DOMAINS_FILE).
	ErrDefinition = errors.New("invalid domain definition")
)

// Field is one known field of a domain.
type Field struct {
	Name     string
	Types    []table.Type // allowed column types, in preference order
	Required bool         // the column must be present
	NonNull  bool         // no row may be null (the id field)
}

// Domain is a validated domain schema. Build one with [New]; do not change
// it afterwards.
type Domain struct {
	Name      string
	IDField   string
	Fields    []Field // the id field first, then in definition order
	Embedding string  // embedding field name, or "" for none
	// EmbeddingDim is the embedding's required dimension; 0 accepts any
	// fixed dimension.
	EmbeddingDim int

	byName map[string]int
}

// Spec is a domain definition as written in DOMAINS_FILE.
type Spec struct {
	Name     string
	IDField  string
	Required []string
	// Fields maps each known field to its allowed types, in order. The id
	// field defaults to [STRING, INT64], the embedding field to
	// [FLOAT_VECTOR].
	Fields       []FieldSpec
	Embedding    string
	EmbeddingDim int
}

// FieldSpec is one known field of a [Spec].
type FieldSpec struct {
	Name  string
	Types []table.Type
}

// New checks spec and builds its [Domain]. Errors wrap [ErrDefinition].
func New(spec Spec) (*Domain, error) {
	fail := func(format string, args ...any) (*Domain, error) {
		return nil, fmt.Errorf("%w: domain %q: %s", ErrDefinition, spec.Name, fmt.Sprintf(format, args...))
	}
	if err := wire.ValidateID("domain", spec.Name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDefinition, err)
	}
	if strings.Contains(spec.Name, ".") {
		return fail("a domain name must not contain '.' (it is one subject token)")
	}
	if spec.IDField == "" {
		return fail("id_field is required")
	}
	d := &Domain{Name: spec.Name, IDField: spec.IDField, Embedding: spec.Embedding, EmbeddingDim: spec.EmbeddingDim, byName: map[string]int{}}
	add := func(name string, types []table.Type) error {
		if name == "" {
			return errors.New("a field has an empty name")
		}
		if _, dup := d.byName[name]; dup {
			return fmt.Errorf("field %q is defined twice", name)
		}
		if len(types) == 0 {
			return fmt.Errorf("field %q lists no types", name)
		}
		for _, t := range types {
			if t <= table.TypeUnspecified || t > table.TypeJSON {
				return fmt.Errorf("field %q: invalid type %s", name, t)
			}
		}
		d.byName[name] = len(d.Fields)
		d.Fields = append(d.Fields, Field{Name: name, Types: slices.Clone(types)})
		return nil
	}
	idTypes := []table.Type{table.TypeString, table.TypeInt64}
	for _, f := range spec.Fields {
		if f.Name != spec.IDField {
			continue
		}
		for _, t := range f.Types {
			if t != table.TypeString && t != table.TypeInt64 {
				return fail("id field %q may only be STRING or INT64, not %s", f.Name, t)
			}
		}
		if len(f.Types) > 0 {
			idTypes = f.Types
		}
	}
	if err := add(spec.IDField, idTypes); err != nil {
		return fail("%v", err)
	}
	for _, f := range spec.Fields {
		if f.Name == spec.IDField {
			continue
		}
		if f.Name == spec.Embedding && !slices.Equal(f.Types, []table.Type{table.TypeFloatVector}) {
			return fail("embedding field %q must be FLOAT_VECTOR", f.Name)
		}
		if err := add(f.Name, f.Types); err != nil {
			return fail("%v", err)
		}
	}
	if spec.Embedding != "" {
		if spec.Embedding == spec.IDField {
			return fail("the embedding field cannot be the id field")
		}
		if _, ok := d.byName[spec.Embedding]; !ok {
			if err := add(spec.Embedding, []table.Type{table.TypeFloatVector}); err != nil {
				return fail("%v", err)
			}
		}
	}
	if spec.EmbeddingDim < 0 || spec.EmbeddingDim > 0 && spec.Embedding == "" {
		return fail("embedding dim %d needs an embedding field and must not be negative", spec.EmbeddingDim)
	}
	id := &d.Fields[d.byName[spec.IDField]]
	id.Required, id.NonNull = true, true
	for _, r := range spec.Required {
		i, ok := d.byName[r]
		if !ok {
			return fail("required field %q is not among the known fields", r)
		}
		d.Fields[i].Required = true
	}
	return d, nil
}

// Field returns the known field called name.
func (d *Domain) Field(name string) (Field, bool) {
	i, ok := d.byName[name]
	if !ok {
		return Field{}, false
	}
	return d.Fields[i], true
}

// Builtin returns the built-in domains, recruit and candidate, as issue 4
// defines them.
func Builtin() []*Domain {
	var (
		str    = []table.Type{table.TypeString}
		num    = []table.Type{table.TypeInt64, table.TypeDouble}
		list   = []table.Type{table.TypeStringList}
		ts     = []table.Type{table.TypeTimestamp}
		vector = []table.Type{table.TypeFloatVector}
	)
	recruit := mustNew(Spec{
		Name:     "recruit",
		IDField:  "recruit_id",
		Required: []string{"title"},
		Fields: []FieldSpec{
			{"title", str}, {"company", str}, {"description", str}, {"location", str},
			{"skills", list}, {"min_career_years", num}, {"created_at", ts}, {"embedding", vector},
		},
		Embedding: "embedding",
	})
	candidate := mustNew(Spec{
		Name:    "candidate",
		IDField: "candidate_id",
		Fields: []FieldSpec{
			{"name", str}, {"summary", str}, {"skills", list}, {"career_years", num},
			{"updated_at", ts}, {"embedding", vector},
		},
		Embedding: "embedding",
	})
	return []*Domain{recruit, candidate}
}

func mustNew(s Spec) *Domain {
	d, err := New(s)
	if err != nil {
		panic(err)
	}
	return d
}
