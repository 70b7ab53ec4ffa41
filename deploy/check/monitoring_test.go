package check

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/rs/zerolog"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/queuemetrics"
)

// exposed returns the name of every metric the binaries expose: the
// worker's (ingest.Metrics), the publisher's (the API's own, the queue's
// figures), embedstream_build_info and the Go and process collectors each
// registry adds, read from the collectors' descriptions.
func exposed(t *testing.T) map[string]bool {
	t.Helper()
	api := httpapi.New(httpapi.Config{}, nil, nil, zerolog.Nop())
	cs := []prometheus.Collector{
		ingest.NewMetrics(), api.Metrics(), queuemetrics.New(nil, nil), buildinfo.Collector("check"),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for _, c := range cs {
		ch := make(chan *prometheus.Desc, 256)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			names[m[1]] = true
		}
	}
	for _, want := range []string{"embedstream_worker_jobs_total", "embedstream_queue_pending_jobs", "embedstream_build_info", "process_resident_memory_bytes"} {
		if !names[want] {
			t.Fatalf("the metric list lacks %s: %v", want, names)
		}
	}
	return names
}

// exists reports whether a series name is one the binaries expose: a
// metric's own name or a histogram's _bucket, _sum or _count.
func exists(names map[string]bool, name string) bool {
	if names[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && names[base] {
			return true
		}
	}
	return false
}

// metricNames returns the metric names an expression selects.
func metricNames(t *testing.T, p parser.Parser, expr string) []string {
	t.Helper()
	e, err := p.ParseExpr(expr)
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	var out []string
	for _, ms := range parser.ExtractSelectors(e) {
		for _, m := range ms {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				out = append(out, m.Value)
			}
		}
	}
	return out
}

// TestAlertRules checks deploy/monitoring/alerts.yml as `promtool check
// rules` does (the rule file's structure, every expression's PromQL, every
// template, no alert defined twice), and that every metric it names is
// one the binaries expose and every alert says how bad and what to do.
func TestAlertRules(t *testing.T) {
	path := filepath.Join(repoRoot(t), "deploy", "monitoring", "alerts.yml")
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("%v", err)
	}
	if t.Failed() {
		return
	}
	names := exposed(t)
	seen := map[string]bool{}
	n := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" {
				t.Errorf("group %s: a recording rule %q; this file holds alerts only", g.Name, r.Record)
				continue
			}
			if seen[r.Alert] {
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			seen[r.Alert] = true
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("alert %s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: needs a summary and a description saying what to do", r.Alert)
			}
			used := metricNames(t, p, r.Expr)
			if len(used) == 0 {
				t.Errorf("alert %s names no metric", r.Alert)
			}
			for _, m := range used {
				if !exists(names, m) {
					t.Errorf("alert %s: metric %s is not exposed by any binary", r.Alert, m)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("%d alerts; the file should cover the queue, the workers and the publisher", n)
	}
}

// TestGrafanaDashboard checks deploy/monitoring/grafana-dashboard.json
// against its JSON schema (schemas/grafana-dashboard.json), that panels do
// not overlap and have unique ids, that every query parses as PromQL and
// names only metrics the binaries expose, and that every datasource is the
// dashboard's Prometheus variable.
func TestGrafanaDashboard(t *testing.T) {
	root := repoRoot(t)
	path := filepath.Join(root, "deploy", "monitoring", "grafana-dashboard.json")
	c := jsonschema.NewCompiler()
	schema, err := c.Compile(filepath.Join(root, "deploy", "check", "schemas", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inst, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(inst); err != nil {
		t.Fatalf("%s: %v", path, err)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Templating struct {
			List []struct{ Name, Type string } `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			GridPos    struct{ X, Y, W, H int }
			Datasource struct{ UID string }
			Targets    []struct {
				Expr       string
				Datasource struct{ UID string }
			}
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	dsVar := ""
	for _, v := range dash.Templating.List {
		if v.Type == "datasource" {
			dsVar = "${" + v.Name + "}"
		}
	}
	if dsVar == "" {
		t.Fatal("no datasource variable: the dashboard must not hard-code a Prometheus")
	}
	names := exposed(t)
	p := parser.NewParser(parser.Options{})
	ids := map[int]bool{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	queries := 0
	for _, pn := range dash.Panels {
		if ids[pn.ID] {
			t.Errorf("panel id %d used twice", pn.ID)
		}
		ids[pn.ID] = true
		if pn.GridPos.X+pn.GridPos.W > 24 {
			t.Errorf("panel %q is wider than the grid", pn.Title)
		}
		for x := pn.GridPos.X; x < pn.GridPos.X+pn.GridPos.W; x++ {
			for y := pn.GridPos.Y; y < pn.GridPos.Y+pn.GridPos.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Fatalf("panels %q and %q overlap at %d,%d", other, pn.Title, x, y)
				}
				taken[cell{x, y}] = pn.Title
			}
		}
		if pn.Type == "row" {
			continue
		}
		if pn.Datasource.UID != dsVar {
			t.Errorf("panel %q: datasource %q, want %s", pn.Title, pn.Datasource.UID, dsVar)
		}
		for _, tg := range pn.Targets {
			queries++
			if tg.Datasource.UID != dsVar {
				t.Errorf("panel %q: a query's datasource %q, want %s", pn.Title, tg.Datasource.UID, dsVar)
			}
			used := metricNames(t, p, tg.Expr)
			if len(used) == 0 {
				t.Errorf("panel %q: query %q names no metric", pn.Title, tg.Expr)
			}
			for _, m := range used {
				if !exists(names, m) {
					t.Errorf("panel %q: metric %s is not exposed by any binary", pn.Title, m)
				}
			}
		}
	}
	if queries < 20 {
		t.Errorf("%d queries; the dashboard should show the queue, throughput, latency and health", queries)
	}
}
