package check

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
)

// The parts of Kubernetes objects the checks read. They are declared here
// rather than imported from k8s.io/api, whose generated code takes a minute
// to compile on a cold cache; the strict schema validation has already
// checked every field, these only read them.

// defaultTerminationGracePeriodSeconds is the pod spec's default.
const defaultTerminationGracePeriodSeconds = 30

type objectMeta struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

type object struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   objectMeta `json:"metadata"`
}

type labelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels"`
	MatchExpressions []json.RawMessage `json:"matchExpressions"`
}

// matches reports whether the selector selects objects with these labels.
// The checks support matchLabels only, and fail on matchExpressions.
func (s labelSelector) matches(labels map[string]string) (bool, error) {
	if len(s.MatchExpressions) > 0 {
		return false, fmt.Errorf("matchExpressions are not supported by the checks")
	}
	return selects(s.MatchLabels, labels), nil
}

// selects reports whether a non-empty equality selector selects labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// intOrString is a port given by number or by name.
type intOrString struct {
	Int int32
	Str string
}

func (v *intOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &v.Str)
	}
	return json.Unmarshal(b, &v.Int)
}

func (v intOrString) String() string {
	if v.Str != "" {
		return v.Str
	}
	return strconv.Itoa(int(v.Int))
}

// quantity is a resource quantity as written ("512Mi", "1", 2).
type quantity string

func (q *quantity) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, (*string)(q))
	}
	*q = quantity(b)
	return nil
}

type deployment struct {
	object
	Spec struct {
		Replicas *int32        `json:"replicas"`
		Selector labelSelector `json:"selector"`
		Template struct {
			Metadata objectMeta `json:"metadata"`
			Spec     podSpec    `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds"`
	SecurityContext               *struct {
		RunAsNonRoot *bool `json:"runAsNonRoot"`
	} `json:"securityContext"`
	Containers []container `json:"containers"`
	Volumes    []volume    `json:"volumes"`
}

type localRef struct {
	Name     string `json:"name"`
	Optional *bool  `json:"optional"`
}

func (r *localRef) optional() bool { return r.Optional != nil && *r.Optional }

type container struct {
	Name string `json:"name"`
	Env  []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"env"`
	EnvFrom []struct {
		Prefix       string    `json:"prefix"`
		ConfigMapRef *localRef `json:"configMapRef"`
		SecretRef    *localRef `json:"secretRef"`
	} `json:"envFrom"`
	Ports          []containerPort `json:"ports"`
	ReadinessProbe *probe          `json:"readinessProbe"`
	LivenessProbe  *probe          `json:"livenessProbe"`
	Resources      struct {
		Requests map[string]quantity `json:"requests"`
		Limits   map[string]quantity `json:"limits"`
	} `json:"resources"`
	SecurityContext *struct {
		ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
	} `json:"securityContext"`
	VolumeMounts []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
		ReadOnly  bool   `json:"readOnly"`
	} `json:"volumeMounts"`
}

type containerPort struct {
	Name          string `json:"name"`
	ContainerPort int32  `json:"containerPort"`
}

type probe struct {
	HTTPGet *struct {
		Path string      `json:"path"`
		Port intOrString `json:"port"`
	} `json:"httpGet"`
	GRPC *struct {
		Port int32 `json:"port"`
	} `json:"grpc"`
}

type volume struct {
	Name   string `json:"name"`
	Secret *struct {
		SecretName string `json:"secretName"`
		Optional   *bool  `json:"optional"`
	} `json:"secret"`
	ConfigMap *localRef `json:"configMap"`
}

type service struct {
	object
	Spec struct {
		Selector map[string]string `json:"selector"`
		Ports    []struct {
			Name       string      `json:"name"`
			Port       int32       `json:"port"`
			TargetPort intOrString `json:"targetPort"`
		} `json:"ports"`
	} `json:"spec"`
}

type configMap struct {
	object
	Data map[string]string `json:"data"`
}

type secret struct {
	object
	Data       map[string]string `json:"data"` // base64
	StringData map[string]string `json:"stringData"`
}

// values returns the Secret's decoded key-value pairs.
func (s *secret) values() (map[string]string, error) {
	out := map[string]string{}
	for k, v := range s.Data {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("Secret %s: key %s: %w", s.Metadata.Name, k, err)
		}
		out[k] = string(b)
	}
	for k, v := range s.StringData {
		out[k] = v
	}
	return out, nil
}

type podDisruptionBudget struct {
	object
	Spec struct {
		Selector labelSelector `json:"selector"`
	} `json:"spec"`
}

type horizontalPodAutoscaler struct {
	object
	Spec struct {
		ScaleTargetRef struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
	} `json:"spec"`
}

// scaledObject is the part of KEDA's ScaledObject the checks read.
type scaledObject struct {
	object
	Spec struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}
