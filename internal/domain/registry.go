package domain

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/embedstream/embedstream/internal/table"
)

// Registry is the set of known domains: the built-ins plus those of
// DOMAINS_FILE. It is read-only after construction and safe for concurrent
// use.
type Registry struct {
	domains map[string]*Domain
	names   []string
}

// NewRegistry returns the built-in domains plus those defined in
// domainsFile (YAML or JSON; none when domainsFile is empty).
// Errors: the file's read error, or errors wrapping [ErrDefinition].
func NewRegistry(domainsFile string) (*Registry, error) {
	ds := Builtin()
	if domainsFile != "" {
		data, err := os.ReadFile(domainsFile)
		if err != nil {
			return nil, fmt.Errorf("domain: read DOMAINS_FILE: %w", err)
		}
		more, err := Parse(data)
		if err != nil {
			return nil, fmt.Errorf("domain: %s: %w", domainsFile, err)
		}
		ds = append(ds, more...)
	}
	return NewRegistryOf(ds...)
}

// NewRegistryOf returns a registry of exactly the given domains.
// Errors wrap [ErrDefinition] (two domains with one name).
func NewRegistryOf(domains ...*Domain) (*Registry, error) {
	r := &Registry{domains: make(map[string]*Domain, len(domains))}
	for _, d := range domains {
		if _, dup := r.domains[d.Name]; dup {
			return nil, fmt.Errorf("%w: domain %q is defined twice (a file may not redefine a built-in domain)", ErrDefinition, d.Name)
		}
		r.domains[d.Name] = d
		r.names = append(r.names, d.Name)
	}
	slices.Sort(r.names)
	return r, nil
}

// Names returns the known domain names, sorted.
func (r *Registry) Names() []string { return slices.Clone(r.names) }

// Lookup returns the domain called name. Errors wrap [ErrUnknownDomain]
// and list the known domains.
func (r *Registry) Lookup(name string) (*Domain, error) {
	if d, ok := r.domains[name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownDomain, name, strings.Join(r.names, ", "))
}

// fileDoc is DOMAINS_FILE's layout; see the package documentation.
type fileDoc struct {
	Domains []fileDomain `yaml:"domains"`
}

type fileDomain struct {
	Name      string         `yaml:"name"`
	IDField   string         `yaml:"id_field"`
	Required  []string       `yaml:"required"`
	Fields    yaml.Node      `yaml:"fields"`
	Embedding *fileEmbedding `yaml:"embedding"`
}

type fileEmbedding struct {
	Field string `yaml:"field"`
	Dim   int    `yaml:"dim"`
}

// Parse reads domain definitions in DOMAINS_FILE's format, YAML or JSON.
// Unknown keys are errors. Errors wrap [ErrDefinition].
func Parse(data []byte) ([]*Domain, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc fileDoc
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrDefinition, err)
	}
	out := make([]*Domain, 0, len(doc.Domains))
	for i, fd := range doc.Domains {
		spec := Spec{Name: fd.Name, IDField: fd.IDField, Required: fd.Required}
		if fd.Embedding != nil {
			spec.Embedding, spec.EmbeddingDim = fd.Embedding.Field, fd.Embedding.Dim
			if spec.Embedding == "" {
				return nil, fmt.Errorf("%w: domain %d (%q): embedding.field is required", ErrDefinition, i, fd.Name)
			}
		}
		fields, err := parseFields(&fd.Fields)
		if err != nil {
			return nil, fmt.Errorf("%w: domain %d (%q): fields: %w", ErrDefinition, i, fd.Name, err)
		}
		spec.Fields = fields
		d, err := New(spec)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// parseFields reads the fields mapping in order: name -> type or list of
// types.
func parseFields(n *yaml.Node) ([]FieldSpec, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of field name to type(s)", n.Line)
	}
	var out []FieldSpec
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var names []string
		switch v.Kind {
		case yaml.ScalarNode:
			names = []string{v.Value}
		case yaml.SequenceNode:
			if err := v.Decode(&names); err != nil {
				return nil, fmt.Errorf("line %d: field %q: %w", v.Line, k.Value, err)
			}
		default:
			return nil, fmt.Errorf("line %d: field %q: want a type name or a list of them", v.Line, k.Value)
		}
		types := make([]table.Type, len(names))
		for j, s := range names {
			t, err := table.ParseType(strings.ToUpper(strings.TrimSpace(s)))
			if err != nil {
				return nil, fmt.Errorf("line %d: field %q: %w", v.Line, k.Value, err)
			}
			types[j] = t
		}
		out = append(out, FieldSpec{Name: k.Value, Types: types})
	}
	return out, nil
}
