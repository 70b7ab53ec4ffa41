// Package check validates embedstream's deployment files offline: the
// top-level docker-compose.yml, the Dockerfiles under deploy/docker, the
// kustomize overlays under deploy/k8s, and the Prometheus alert rules and
// Grafana dashboard under deploy/monitoring. It holds only tests; run them
// with
//
//	cd deploy/check && go test ./...
//
// It is a module of its own so that compose-go, kustomize and kubeconform stay
// out of the product's go.mod. Being nested under the product's module path,
// it imports the binaries' composition roots (internal/wiring/worker,
// .../publisher, .../batchserver, .../dev), so "every variable the
// manifests set is one a binary reads" is checked against their Settings,
// the source of truth.
//
// # Monitoring
//
// deploy/monitoring/alerts.yml is checked as `promtool check rules` checks
// it, with Prometheus's own packages (model/rulefmt, promql/parser):
// structure, PromQL, templates, no alert twice; each alert has a severity,
// a summary and a description. deploy/monitoring/grafana-dashboard.json is
// validated against schemas/grafana-dashboard.json (the subset of Grafana's
// dashboard model it uses), its panels must not overlap, and every query
// must parse. Every metric an alert or a panel names must be one a binary
// exposes: the names are read from the binaries' collectors
// (ingest.Metrics, the API's metrics, queuemetrics, buildinfo, the Go and
// process collectors).
//
// # Schemas
//
// Kubernetes objects are validated with kubeconform against strict JSON
// schemas committed under schemas/, generated from the Kubernetes OpenAPI v3
// spec (module k8s.io/kubernetes) and KEDA's CRDs (module
// github.com/kedacore/keda/v2), both fetched through the Go module proxy.
// Regenerate them after changing a version in cmd/schemagen:
//
//	go generate .
package check

//go:generate go run ./cmd/schemagen -out schemas
