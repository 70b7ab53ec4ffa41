package main

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestFileName(t *testing.T) {
	t.Parallel()
	// kubeconform's "{{ .ResourceKind }}{{ .KindSuffix }}.json": the kind in
	// lower case, the first label of the group, the version.
	for _, tc := range []struct {
		k    kind
		want string
	}{
		{kind{"v1", "ConfigMap"}, "configmap-v1.json"},
		{kind{"apps/v1", "Deployment"}, "deployment-apps-v1.json"},
		{kind{"autoscaling/v2", "HorizontalPodAutoscaler"}, "horizontalpodautoscaler-autoscaling-v2.json"},
		{kind{"keda.sh/v1alpha1", "ScaledObject"}, "scaledobject-keda-v1alpha1.json"},
	} {
		if got := fileName(tc.k); got != tc.want {
			t.Errorf("fileName(%v) = %q, want %q", tc.k, got, tc.want)
		}
	}
}

func TestConvert(t *testing.T) {
	t.Parallel()
	in := decodeJSON(t, `{
		"type": "object",
		"properties": {
			"spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.Spec"}], "default": {}},
			"port": {"x-kubernetes-int-or-string": true, "type": "string"},
			"free": {"type": "object", "properties": {"a": {"type": "string"}}, "x-kubernetes-preserve-unknown-fields": true},
			"opt": {"type": "string", "nullable": true},
			"labels": {"type": "object", "additionalProperties": {"type": "string"}}
		},
		"x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "X"}]
	}`)
	want := decodeJSON(t, `{
		"type": "object",
		"additionalProperties": false,
		"properties": {
			"spec": {"allOf": [{"$ref": "#/definitions/io.k8s.Spec"}], "default": {}},
			"port": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
			"free": {"type": "object", "properties": {"a": {"type": "string"}}},
			"opt": {"type": ["string", "null"]},
			"labels": {"type": "object", "additionalProperties": {"type": "string"}}
		}
	}`)
	var refs []string
	got := convert(in, &refs)
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("convert:\n%s", g)
	}
	if !reflect.DeepEqual(refs, []string{"io.k8s.Spec"}) {
		t.Errorf("refs %q, want [io.k8s.Spec]", refs)
	}
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}
