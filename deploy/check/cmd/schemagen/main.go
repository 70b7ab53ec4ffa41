// Command schemagen writes the JSON schemas that the deploy checks validate
// Kubernetes objects against, so that the checks run offline.
//
// It reads the Kubernetes OpenAPI v3 documents shipped in the
// k8s.io/kubernetes module (api/openapi-spec/v3) and KEDA's CRDs shipped in
// the github.com/kedacore/keda/v2 module (config/crd/bases), both fetched
// through the Go module proxy, and writes one self-contained, strict (unknown
// fields rejected) draft-04 schema per kind, named as kubeconform's schema
// location template "{{ .ResourceKind }}{{ .KindSuffix }}.json" expects, e.g.
// deployment-apps-v1.json or scaledobject-keda-v1alpha1.json.
//
// Usage (from deploy/check, see the go:generate line in doc.go):
//
//	go run ./cmd/schemagen -out schemas
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Versions of the modules the schemas come from. Bump them together with the
// Kubernetes and KEDA versions the manifests target.
const (
	kubernetesModule = "k8s.io/kubernetes@v1.34.2"
	kedaModule       = "github.com/kedacore/keda/v2@v2.21.0"
)

// kind names one generated schema: a kind in a group/version.
type kind struct {
	APIVersion string // "v1", "apps/v1", "keda.sh/v1alpha1"
	Kind       string
}

// builtin lists the Kubernetes kinds the manifests may use. A kind not listed
// here has no schema, and the checks reject objects of that kind.
var builtin = []kind{
	{"v1", "ConfigMap"},
	{"v1", "Namespace"},
	{"v1", "PersistentVolumeClaim"},
	{"v1", "Secret"},
	{"v1", "Service"},
	{"v1", "ServiceAccount"},
	{"apps/v1", "Deployment"},
	{"autoscaling/v2", "HorizontalPodAutoscaler"},
	{"policy/v1", "PodDisruptionBudget"},
}

// crds lists the KEDA CRD files (under config/crd/bases) to convert.
var crds = []string{
	"keda.sh_scaledobjects.yaml",
	"keda.sh_triggerauthentications.yaml",
}

func main() {
	out := flag.String("out", "schemas", "output directory")
	k8sDir := flag.String("kubernetes-dir", "", "root of the "+kubernetesModule+" module (default: go mod download)")
	kedaDir := flag.String("keda-dir", "", "root of the "+kedaModule+" module (default: go mod download)")
	flag.Parse()
	if err := run(*out, *k8sDir, *kedaDir); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

func run(out, k8sDir, kedaDir string) error {
	var err error
	if k8sDir == "" {
		if k8sDir, err = moduleDir(kubernetesModule); err != nil {
			return err
		}
	}
	if kedaDir == "" {
		if kedaDir, err = moduleDir(kedaModule); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, k := range builtin {
		s, err := builtinSchema(filepath.Join(k8sDir, "api", "openapi-spec", "v3"), k)
		if err != nil {
			return fmt.Errorf("%s %s: %w", k.APIVersion, k.Kind, err)
		}
		if err := write(out, k, s); err != nil {
			return err
		}
	}
	for _, f := range crds {
		ks, err := crdSchemas(filepath.Join(kedaDir, "config", "crd", "bases", f))
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for k, s := range ks {
			if err := write(out, k, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// moduleDir downloads a module through the module proxy (or finds it in the
// module cache) and returns its directory.
func moduleDir(modVersion string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", modVersion)
	cmd.Dir = os.TempDir() // outside any module: leave go.mod and go.sum alone
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", modVersion, err, stderr.String())
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(b, &m); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", modVersion, err)
	}
	if m.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", modVersion, m.Error)
	}
	return m.Dir, nil
}

// fileName is kubeconform's name for a kind's schema:
// "{{ .ResourceKind }}{{ .KindSuffix }}.json".
func fileName(k kind) string {
	group, version, ok := strings.Cut(k.APIVersion, "/")
	if !ok {
		return fmt.Sprintf("%s-%s.json", strings.ToLower(k.Kind), group)
	}
	first, _, _ := strings.Cut(group, ".")
	return fmt.Sprintf("%s-%s-%s.json", strings.ToLower(k.Kind), strings.ToLower(first), strings.ToLower(version))
}

func write(dir string, k kind, schema map[string]any) error {
	b, err := json.MarshalIndent(schema, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, fileName(k)), append(b, '\n'), 0o644)
}

// builtinSchema builds kind k's schema from the OpenAPI v3 document of its
// group/version: the kind's component with every component it references
// copied under "definitions".
func builtinSchema(specDir string, k kind) (map[string]any, error) {
	group, version, ok := strings.Cut(k.APIVersion, "/")
	doc := "api__v1_openapi.json"
	if ok {
		doc = fmt.Sprintf("apis__%s__%s_openapi.json", group, version)
	} else {
		group, version = "", group
	}
	b, err := os.ReadFile(filepath.Join(specDir, doc))
	if err != nil {
		return nil, err
	}
	var spec struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("%s: %w", doc, err)
	}
	components := spec.Components.Schemas
	root := ""
	for name, s := range components {
		if gvkMatches(s, group, version, k.Kind) {
			root = name
			break
		}
	}
	if root == "" {
		return nil, fmt.Errorf("%s: no component for the kind", doc)
	}
	defs := map[string]any{}
	var visit func(name string) error
	visit = func(name string) error {
		if _, done := defs[name]; done {
			return nil
		}
		s, ok := components[name]
		if !ok {
			return fmt.Errorf("%s: unresolved reference %q", doc, name)
		}
		defs[name] = nil // mark before recursing: schemas may be recursive
		var refs []string
		conv := convert(s, &refs)
		defs[name] = conv
		for _, r := range refs {
			if err := visit(r); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(root); err != nil {
		return nil, err
	}
	top := defs[root].(map[string]any)
	delete(defs, root)
	out := map[string]any{"$schema": "http://json-schema.org/draft-04/schema#"}
	for key, v := range top {
		out[key] = v
	}
	pinKind(out, k)
	if len(defs) > 0 {
		out["definitions"] = defs
	}
	return out, nil
}

func gvkMatches(s map[string]any, group, version, kindName string) bool {
	gvks, _ := s["x-kubernetes-group-version-kind"].([]any)
	for _, g := range gvks {
		m, _ := g.(map[string]any)
		if m["group"] == group && m["version"] == version && m["kind"] == kindName {
			return true
		}
	}
	return false
}

const refPrefix = "#/components/schemas/"

// convert returns a copy of an OpenAPI v3 schema as draft-04 JSON Schema:
// references point into "definitions" (their names are appended to refs),
// objects with declared properties reject unknown ones, and OpenAPI-only
// keywords are dropped.
func convert(v any, refs *[]string) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for key, val := range t {
			switch {
			case key == "$ref":
				name := strings.TrimPrefix(val.(string), refPrefix)
				*refs = append(*refs, name)
				out[key] = "#/definitions/" + name
			case key == "properties" || key == "patternProperties" || key == "definitions":
				props := map[string]any{}
				for p, ps := range val.(map[string]any) {
					props[p] = convert(ps, refs)
				}
				out[key] = props
			case strings.HasPrefix(key, "x-"), key == "nullable", key == "readOnly", key == "writeOnly", key == "example", key == "deprecated":
				// OpenAPI or Kubernetes extensions: not JSON Schema.
			default:
				out[key] = convert(val, refs)
			}
		}
		if ext, ok := t["x-kubernetes-int-or-string"].(bool); ok && ext {
			delete(out, "type")
			out["anyOf"] = []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}}
		}
		if nullable, ok := t["nullable"].(bool); ok && nullable {
			if typ, ok := out["type"].(string); ok {
				out["type"] = []any{typ, "null"}
			}
		}
		preserve, _ := t["x-kubernetes-preserve-unknown-fields"].(bool)
		if _, hasProps := t["properties"]; hasProps && !preserve {
			if _, set := t["additionalProperties"]; !set {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = convert(e, refs)
		}
		return out
	default:
		return v
	}
}

// pinKind requires apiVersion and kind and pins them to k, so that a schema
// never validates an object of another kind.
func pinKind(s map[string]any, k kind) {
	props, _ := s["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		s["properties"] = props
	}
	props["apiVersion"] = map[string]any{"type": "string", "enum": []any{k.APIVersion}}
	props["kind"] = map[string]any{"type": "string", "enum": []any{k.Kind}}
	req, _ := s["required"].([]any)
	seen := map[any]bool{}
	for _, r := range req {
		seen[r] = true
	}
	for _, r := range []string{"apiVersion", "kind"} {
		if !seen[r] {
			req = append(req, r)
		}
	}
	s["required"] = req
}

// crdSchemas converts every served version of a CRD to a schema.
func crdSchemas(path string) (map[kind]map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var crd struct {
		Spec struct {
			Group string `json:"group"`
			Names struct {
				Kind string `json:"kind"`
			} `json:"names"`
			Versions []struct {
				Name   string `json:"name"`
				Served bool   `json:"served"`
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		return nil, err
	}
	out := map[kind]map[string]any{}
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		if v.Schema.OpenAPIV3Schema == nil {
			return nil, fmt.Errorf("version %s has no schema", v.Name)
		}
		k := kind{APIVersion: crd.Spec.Group + "/" + v.Name, Kind: crd.Spec.Names.Kind}
		var refs []string
		s := convert(v.Schema.OpenAPIV3Schema, &refs).(map[string]any)
		if len(refs) > 0 {
			return nil, errors.New("CRD schemas must not hold references")
		}
		s["$schema"] = "http://json-schema.org/draft-04/schema#"
		pinKind(s, k)
		out[k] = s
	}
	if len(out) == 0 {
		return nil, errors.New("no served version")
	}
	return out, nil
}
