package check

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yannh/kubeconform/pkg/resource"
	"github.com/yannh/kubeconform/pkg/validator"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kubernetesVersion is the version the schemas were generated from
// (cmd/schemagen).
const kubernetesVersion = "1.34.2"

// Label keys every object carries.
const (
	labelName      = "app.kubernetes.io/name"
	labelComponent = "app.kubernetes.io/component"
)

// componentBinary maps a Deployment's component label to the binary it runs.
var componentBinary = map[string]string{
	"worker":      "worker",
	"publisher":   "publisher",
	"batchserver": "batchserver",
}

// build is one kustomize build, decoded.
type build struct {
	dir          string
	yaml         [][]byte // one document per object
	meta         []object
	deployments  map[string]*deployment
	services     []*service
	configMaps   map[string]*configMap
	secrets      map[string]*secret
	pdbs         []*podDisruptionBudget
	hpas         []*horizontalPodAutoscaler
	scaledObject []*scaledObject
	namespace    string // the Namespace object's name, if the build has one
}

// kustomizeBuild builds dir with kustomize's Go API (what `kubectl apply -k`
// runs) and decodes the objects.
func kustomizeBuild(t *testing.T, dir string) *build {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	b := &build{
		dir:         dir,
		deployments: map[string]*deployment{},
		configMaps:  map[string]*configMap{},
		secrets:     map[string]*secret{},
	}
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		b.yaml = append(b.yaml, y)
		var m object
		decode(t, y, &m)
		b.meta = append(b.meta, m)
		switch m.Kind {
		case "Deployment":
			var d deployment
			decode(t, y, &d)
			b.deployments[d.Metadata.Name] = &d
		case "Service":
			var s service
			decode(t, y, &s)
			b.services = append(b.services, &s)
		case "ConfigMap":
			var c configMap
			decode(t, y, &c)
			b.configMaps[c.Metadata.Name] = &c
		case "Secret":
			var s secret
			decode(t, y, &s)
			b.secrets[s.Metadata.Name] = &s
		case "PodDisruptionBudget":
			var p podDisruptionBudget
			decode(t, y, &p)
			b.pdbs = append(b.pdbs, &p)
		case "HorizontalPodAutoscaler":
			var h horizontalPodAutoscaler
			decode(t, y, &h)
			b.hpas = append(b.hpas, &h)
		case "ScaledObject":
			var s scaledObject
			decode(t, y, &s)
			b.scaledObject = append(b.scaledObject, &s)
		case "Namespace":
			b.namespace = m.Metadata.Name
		}
	}
	return b
}

func decode(t *testing.T, y []byte, into any) {
	t.Helper()
	if err := yaml.Unmarshal(y, into); err != nil {
		t.Fatalf("decoding %T: %v\n%s", into, err, y)
	}
}

// schemaValidator validates objects offline against the committed schemas.
var schemaValidator = sync.OnceValues(func() (validator.Validator, error) {
	dir, err := filepath.Abs("schemas")
	if err != nil {
		return nil, err
	}
	return validator.New(
		[]string{filepath.Join(dir, "{{ .ResourceKind }}{{ .KindSuffix }}.json")},
		validator.Opts{Strict: true, KubernetesVersion: kubernetesVersion},
	)
})

// validateSchemas checks every object against its kind's strict schema; an
// object of a kind without a schema fails.
func validateSchemas(t *testing.T, b *build) {
	t.Helper()
	v, err := schemaValidator()
	if err != nil {
		t.Fatal(err)
	}
	for i, y := range b.yaml {
		res := v.ValidateResource(resource.Resource{Path: b.dir, Bytes: y})
		if res.Status == validator.Valid {
			continue
		}
		m := b.meta[i]
		var details []string
		for _, ve := range res.ValidationErrors {
			details = append(details, fmt.Sprintf("%s: %s", ve.Path, ve.Msg))
		}
		t.Errorf("%s %s/%s: status %d: %v %s", b.dir, m.Kind, m.Metadata.Name, res.Status, res.Err, strings.Join(details, "; "))
	}
}

func k8sDir(t *testing.T) string {
	return filepath.Join(repoRoot(t), "deploy", "k8s")
}

func overlays(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(k8sDir(t), "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) == 0 {
		t.Fatal("no overlays")
	}
	return dirs
}

func TestKustomizeBase(t *testing.T) {
	t.Parallel()
	b := kustomizeBuild(t, filepath.Join(k8sDir(t), "base"))
	validateSchemas(t, b)
	for _, m := range b.meta {
		if m.Metadata.Namespace != "" {
			t.Errorf("%s/%s: the base must be namespace-agnostic, has namespace %q", m.Kind, m.Metadata.Name, m.Metadata.Namespace)
		}
	}
	checkWiring(t, b)

	// The base serves pulls, behind a Service, with a token from a Secret.
	if w := b.deployments["worker"]; w != nil {
		env := podEnv(t, b, w, w.Spec.Template.Spec.Containers[0])
		if env["PULL_ADDR"] == "" {
			t.Error("worker: PULL_ADDR is not set: pull mode is off in the base")
		}
		if _, ok := env["PULL_TOKEN"]; !ok {
			t.Error("worker: PULL_TOKEN is not set from the embedstream-pull Secret")
		}
	}
}

func TestKustomizeOverlays(t *testing.T) {
	t.Parallel()
	for _, name := range overlays(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := kustomizeBuild(t, filepath.Join(k8sDir(t), "overlays", name))
			validateSchemas(t, b)
			if b.namespace == "" {
				t.Error("overlay creates no Namespace")
			}
			for _, m := range b.meta {
				if m.Kind != "Namespace" && m.Metadata.Namespace != b.namespace {
					t.Errorf("%s/%s: namespace %q, want %q", m.Kind, m.Metadata.Name, m.Metadata.Namespace, b.namespace)
				}
			}
			checkWiring(t, b)
			checkAutoscaling(t, b)
			if strings.HasPrefix(name, "prod") {
				checkTokenRequired(t, b)
			}
		})
	}
}

// checkTokenRequired: a production publisher refuses to start without
// API_TOKEN (REQUIRE_API_TOKEN), so the base's empty placeholder can never
// leave it open.
func checkTokenRequired(t *testing.T, b *build) {
	t.Helper()
	d := b.deployments["publisher"]
	if d == nil {
		return
	}
	env := podEnv(t, b, d, d.Spec.Template.Spec.Containers[0])
	if env["REQUIRE_API_TOKEN"] != "true" {
		t.Errorf("publisher: REQUIRE_API_TOKEN=%q, want true in production (an empty API_TOKEN must not start an open API)", env["REQUIRE_API_TOKEN"])
	}
	if _, ok := env["API_TOKEN"]; !ok {
		t.Error("publisher: no API_TOKEN in its environment (Secret embedstream-api)")
	}
}

// checkWiring checks that the objects of a build fit together: labels,
// selectors, probe and service ports, environment variables, volumes and
// shutdown timing.
func checkWiring(t *testing.T, b *build) {
	t.Helper()
	for _, m := range b.meta {
		if m.Kind == "Namespace" {
			continue
		}
		if m.Metadata.Labels[labelName] != "embedstream" {
			t.Errorf("%s/%s: label %s=%q, want embedstream", m.Kind, m.Metadata.Name, labelName, m.Metadata.Labels[labelName])
		}
		switch m.Kind {
		case "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ScaledObject", "PersistentVolumeClaim":
			if m.Metadata.Labels[labelComponent] == "" {
				t.Errorf("%s/%s: no %s label", m.Kind, m.Metadata.Name, labelComponent)
			}
		}
	}
	for _, name := range []string{"worker", "publisher"} {
		if b.deployments[name] == nil {
			t.Errorf("no %s Deployment", name)
		}
	}
	for _, d := range b.deployments {
		checkDeployment(t, b, d)
	}
	for _, s := range b.services {
		checkService(t, b, s)
	}
	if len(b.pdbs) == 0 {
		t.Error("no PodDisruptionBudget")
	}
	for _, p := range b.pdbs {
		w := b.deployments["worker"]
		if w == nil {
			continue
		}
		ok, err := p.Spec.Selector.matches(w.Spec.Template.Metadata.Labels)
		if err != nil {
			t.Errorf("PodDisruptionBudget %s: %v", p.Metadata.Name, err)
		} else if !ok {
			t.Errorf("PodDisruptionBudget %s does not select the worker pods", p.Metadata.Name)
		}
	}
}

// podEnv returns the container's environment as the kubelet builds it:
// envFrom sources, then env. Sources that are not in the build are errors
// unless optional.
func podEnv(t *testing.T, b *build, d *deployment, c container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm := b.configMaps[from.ConfigMapRef.Name]
			if cm == nil {
				if !from.ConfigMapRef.optional() {
					t.Errorf("Deployment %s: envFrom ConfigMap %s is not in the build", d.Metadata.Name, from.ConfigMapRef.Name)
				}
				continue
			}
			for k, v := range cm.Data {
				env[from.Prefix+k] = v
			}
		case from.SecretRef != nil:
			s := b.secrets[from.SecretRef.Name]
			if s == nil {
				if !from.SecretRef.optional() {
					t.Errorf("Deployment %s: envFrom Secret %s is not in the build", d.Metadata.Name, from.SecretRef.Name)
				}
				continue
			}
			values, err := s.values()
			if err != nil {
				t.Error(err)
			}
			for k, v := range values {
				env[from.Prefix+k] = v
			}
		}
	}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

func checkDeployment(t *testing.T, b *build, d *deployment) {
	t.Helper()
	name := d.Metadata.Name
	component := d.Metadata.Labels[labelComponent]
	binary, ok := componentBinary[component]
	if !ok {
		t.Errorf("Deployment %s: component %q runs none of %v", name, component, componentBinary)
		return
	}
	podLabels := d.Spec.Template.Metadata.Labels
	if ok, err := d.Spec.Selector.matches(podLabels); err != nil {
		t.Errorf("Deployment %s: %v", name, err)
	} else if !ok {
		t.Errorf("Deployment %s: selector %v does not match its pod labels %v", name, d.Spec.Selector.MatchLabels, podLabels)
	}
	if podLabels[labelComponent] != component {
		t.Errorf("Deployment %s: pods labelled component %q, Deployment %q", name, podLabels[labelComponent], component)
	}

	pod := d.Spec.Template.Spec
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("Deployment %s: pod securityContext.runAsNonRoot is not true", name)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("Deployment %s: %d containers, want 1", name, len(pod.Containers))
	}
	c := pod.Containers[0]
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("Deployment %s: container must have readOnlyRootFilesystem: true and allowPrivilegeEscalation: false", name)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("Deployment %s: needs cpu and memory requests and a memory limit", name)
	}

	// Environment: only variables the binary reads.
	env := podEnv(t, b, d, c)
	known := settings(t, binary)
	for k := range env {
		if _, ok := known[k]; !ok {
			t.Errorf("Deployment %s: sets %s, which %s does not read (its settings in internal/wiring)", name, k, binary)
		}
	}

	// Probes use named or numbered ports the container declares.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	probePort := func(kind string, p *probe) (int32, string) {
		switch {
		case p == nil:
			t.Errorf("Deployment %s: no %s probe", name, kind)
		case p.HTTPGet != nil:
			port := p.HTTPGet.Port
			if port.Str == "" {
				return port.Int, p.HTTPGet.Path
			}
			n, ok := ports[port.Str]
			if !ok {
				t.Errorf("Deployment %s: %s probe port %q is not a container port (%v)", name, kind, port.Str, ports)
			}
			return n, p.HTTPGet.Path
		case p.GRPC != nil:
			return p.GRPC.Port, ""
		default:
			t.Errorf("Deployment %s: %s probe is neither HTTP nor gRPC", name, kind)
		}
		return 0, ""
	}
	rport, rpath := probePort("readiness", c.ReadinessProbe)
	lport, lpath := probePort("liveness", c.LivenessProbe)

	switch binary {
	case "worker":
		metrics := int32(addrPort(t, effective(t, binary, env, "METRICS_ADDR")))
		if ports["metrics"] != metrics {
			t.Errorf("Deployment %s: container port \"metrics\" is %d, METRICS_ADDR listens on %d", name, ports["metrics"], metrics)
		}
		if p := c.ReadinessProbe; p != nil && (p.HTTPGet == nil || p.HTTPGet.Port.Str != "metrics") {
			t.Errorf("Deployment %s: readiness probe must use the port named metrics", name)
		}
		if rport != metrics || rpath != "/readyz" || lport != metrics || lpath != "/healthz" {
			t.Errorf("Deployment %s: probes readiness %d%s, liveness %d%s; want /readyz and /healthz on %d", name, rport, rpath, lport, lpath, metrics)
		}
		shutdown := effectiveDuration(t, binary, env, "SHUTDOWN_TIMEOUT")
		grace := time.Duration(defaultTerminationGracePeriodSeconds) * time.Second
		if pod.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
		}
		if grace <= shutdown {
			t.Errorf("Deployment %s: terminationGracePeriodSeconds %v must exceed SHUTDOWN_TIMEOUT %v", name, grace, shutdown)
		}
		checkDataMount(t, d, c, effective(t, binary, env, "DATA_DIR"))
		// Pull mode: PULL_ADDR reachable from other pods, on the port
		// named pull, which a Service routes to.
		if pullAddr := effective(t, binary, env, "PULL_ADDR"); pullAddr != "" {
			if host, _, _ := net.SplitHostPort(pullAddr); host != "" && host != "0.0.0.0" {
				t.Errorf("Deployment %s: PULL_ADDR %q is unreachable from other pods", name, pullAddr)
			}
			if p := int32(addrPort(t, pullAddr)); ports["pull"] != p {
				t.Errorf("Deployment %s: container port \"pull\" is %d, PULL_ADDR listens on %d", name, ports["pull"], p)
			}
			if !servicePort(b, d, "pull", ports["pull"]) {
				t.Errorf("Deployment %s: no Service routes to its pull port", name)
			}
		}
	case "publisher":
		httpPort := int32(addrPort(t, effective(t, binary, env, "HTTP_ADDR")))
		if ports["http"] != httpPort {
			t.Errorf("Deployment %s: container port \"http\" is %d, HTTP_ADDR listens on %d", name, ports["http"], httpPort)
		}
		if rport != httpPort || rpath != "/readyz" || lport != httpPort || lpath != "/healthz" {
			t.Errorf("Deployment %s: probes readiness %d%s, liveness %d%s; want /readyz and /healthz on %d", name, rport, rpath, lport, lpath, httpPort)
		}
		if dir := env["DATA_DIR"]; dir != "" {
			checkDataMount(t, d, c, dir)
		}
	case "batchserver":
		listen := effective(t, binary, env, "BATCH_LISTEN_ADDR")
		if host, _, _ := net.SplitHostPort(listen); host != "" && host != "0.0.0.0" {
			t.Errorf("Deployment %s: BATCH_LISTEN_ADDR %q is unreachable from other pods", name, listen)
		}
		if p := int32(addrPort(t, listen)); ports["grpc"] != p || rport != p || lport != p {
			t.Errorf("Deployment %s: grpc port %d and probes %d/%d, BATCH_LISTEN_ADDR port %d", name, ports["grpc"], rport, lport, p)
		}
	}

	// Volumes: every mount has a volume; Secrets and ConfigMaps exist.
	vols := map[string]bool{}
	for _, v := range pod.Volumes {
		vols[v.Name] = true
		if v.Secret != nil && b.secrets[v.Secret.SecretName] == nil && (v.Secret.Optional == nil || !*v.Secret.Optional) {
			t.Errorf("Deployment %s: volume %s: Secret %s is not in the build", name, v.Name, v.Secret.SecretName)
		}
		if v.ConfigMap != nil && b.configMaps[v.ConfigMap.Name] == nil && !v.ConfigMap.optional() {
			t.Errorf("Deployment %s: volume %s: ConfigMap %s is not in the build", name, v.Name, v.ConfigMap.Name)
		}
	}
	for _, m := range c.VolumeMounts {
		if !vols[m.Name] {
			t.Errorf("Deployment %s: mount %s has no volume", name, m.Name)
		}
	}
}

// servicePort reports whether a Service of the build selects d's pods and
// routes a port to the container port named name (number port).
func servicePort(b *build, d *deployment, name string, port int32) bool {
	for _, s := range b.services {
		if !selects(s.Spec.Selector, d.Spec.Template.Metadata.Labels) {
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort.Str == name || p.TargetPort.Str == "" && p.TargetPort.Int == port {
				return true
			}
		}
	}
	return false
}

// checkDataMount checks that DATA_DIR is a read-only mount.
func checkDataMount(t *testing.T, d *deployment, c container, dataDir string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath != dataDir {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("Deployment %s: DATA_DIR %s is mounted read-write", d.Metadata.Name, dataDir)
		}
		return
	}
	t.Errorf("Deployment %s: nothing mounted at DATA_DIR %s", d.Metadata.Name, dataDir)
}

func checkService(t *testing.T, b *build, s *service) {
	t.Helper()
	var target *deployment
	for _, d := range b.deployments {
		if selects(s.Spec.Selector, d.Spec.Template.Metadata.Labels) {
			if target != nil {
				t.Errorf("Service %s selects the pods of both %s and %s", s.Metadata.Name, target.Metadata.Name, d.Metadata.Name)
			}
			target = d
		}
	}
	if target == nil {
		t.Errorf("Service %s: selector %v matches no Deployment's pods", s.Metadata.Name, s.Spec.Selector)
		return
	}
	for _, p := range s.Spec.Ports {
		ok := slices.ContainsFunc(target.Spec.Template.Spec.Containers[0].Ports, func(cp containerPort) bool {
			if p.TargetPort.Str != "" {
				return cp.Name == p.TargetPort.Str
			}
			return cp.ContainerPort == p.TargetPort.Int
		})
		if !ok {
			t.Errorf("Service %s: targetPort %s is not a port of %s's container", s.Metadata.Name, p.TargetPort, target.Metadata.Name)
		}
	}
}

// checkAutoscaling checks that exactly one autoscaler owns the worker count,
// and that KEDA's trigger watches the consumer the workers pull from.
func checkAutoscaling(t *testing.T, b *build) {
	t.Helper()
	worker := b.deployments["worker"]
	if worker == nil {
		t.Fatal("no worker Deployment")
	}
	env := podEnv(t, b, worker, worker.Spec.Template.Spec.Containers[0])

	targets := 0
	for _, h := range b.hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind == "Deployment" && ref.Name == worker.Metadata.Name {
			targets++
		}
		if b.deployments[ref.Name] == nil {
			t.Errorf("HorizontalPodAutoscaler %s targets missing Deployment %s", h.Metadata.Name, ref.Name)
		}
	}
	for _, so := range b.scaledObject {
		ref := so.Spec.ScaleTargetRef
		if (ref.Kind == "" || ref.Kind == "Deployment") && ref.Name == worker.Metadata.Name {
			targets++
		}
		if b.deployments[ref.Name] == nil {
			t.Errorf("ScaledObject %s targets missing Deployment %s", so.Metadata.Name, ref.Name)
		}
		checkScaledObject(t, so, env)
	}
	if targets != 1 {
		t.Errorf("%d autoscalers target the worker Deployment, want exactly 1 (KEDA or HPA)", targets)
	}
	if targets > 0 && worker.Spec.Replicas != nil {
		t.Errorf("worker Deployment sets replicas: %d, but an autoscaler owns the count (every apply would reset it)", *worker.Spec.Replicas)
	}
}

func checkScaledObject(t *testing.T, so *scaledObject, workerEnv map[string]string) {
	t.Helper()
	name := so.Metadata.Name
	if so.Spec.MinReplicaCount == nil || so.Spec.MaxReplicaCount == nil || *so.Spec.MaxReplicaCount < *so.Spec.MinReplicaCount {
		t.Errorf("ScaledObject %s: needs minReplicaCount <= maxReplicaCount", name)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "nats-jetstream" {
		t.Fatalf("ScaledObject %s: want one nats-jetstream trigger", name)
	}
	md := so.Spec.Triggers[0].Metadata
	if want := effective(t, "worker", workerEnv, "NATS_STREAM"); md["stream"] != want {
		t.Errorf("ScaledObject %s: stream %q, the workers use NATS_STREAM %q", name, md["stream"], want)
	}
	if want := consumerName(t); md["consumer"] != want {
		t.Errorf("ScaledObject %s: consumer %q, the workers pull from %q", name, md["consumer"], want)
	}
	if md["account"] != "$G" {
		t.Errorf("ScaledObject %s: account %q, want $G (no NATS accounts configured)", name, md["account"])
	}
	lag, err := strconv.Atoi(md["lagThreshold"])
	if err != nil {
		t.Errorf("ScaledObject %s: lagThreshold %q: %v", name, md["lagThreshold"], err)
	}
	if conc := effectiveInt(t, "worker", workerEnv, "WORKER_CONCURRENCY"); lag < conc {
		t.Errorf("ScaledObject %s: lagThreshold %d is below WORKER_CONCURRENCY %d: workers would be added for jobs the running ones can start", name, lag, conc)
	}

	// The monitoring endpoint is the headless service of the NATS that
	// NATS_URL points at, on the monitoring port of nats-values.yaml.
	endpoint := md["natsServerMonitoringEndpoint"]
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		t.Fatalf("ScaledObject %s: natsServerMonitoringEndpoint %q: %v", name, endpoint, err)
	}
	natsURL := effective(t, "worker", workerEnv, "NATS_URL")
	svc, rest, _ := strings.Cut(strings.TrimPrefix(strings.Split(natsURL, ",")[0], "nats://"), ".")
	if want := svc + "-headless." + strings.Split(rest, ":")[0]; host != want {
		t.Errorf("ScaledObject %s: monitoring endpoint host %q, want the headless service %q of NATS_URL %q", name, host, want, natsURL)
	}
	if want := strconv.Itoa(natsMonitorPort(t)); port != want {
		t.Errorf("ScaledObject %s: monitoring port %s, nats-values.yaml has %s", name, port, want)
	}
}

// consumerName returns queue.ConsumerName, the workers' durable consumer,
// read from the product's source instead of imported: internal/queue depends
// on the NATS client and more, and this module would then have to track the
// product's whole dependency graph.
func consumerName(t *testing.T) string {
	t.Helper()
	path := filepath.Join(repoRoot(t), "internal", "queue", "types.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if name.Name != "ConsumerName" || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					return v
				}
			}
		}
	}
	t.Fatalf("%s: no string constant ConsumerName", path)
	return ""
}

// natsValues is the part of nats-values.yaml the checks read.
type natsValues struct {
	Config struct {
		Cluster struct {
			Enabled  bool `json:"enabled"`
			Replicas int  `json:"replicas"`
		} `json:"cluster"`
		JetStream struct {
			Enabled   bool `json:"enabled"`
			FileStore struct {
				Enabled bool `json:"enabled"`
				PVC     struct {
					Enabled bool   `json:"enabled"`
					Size    string `json:"size"`
				} `json:"pvc"`
			} `json:"fileStore"`
		} `json:"jetstream"`
		Monitor struct {
			Enabled bool `json:"enabled"`
			Port    int  `json:"port"`
		} `json:"monitor"`
	} `json:"config"`
}

func loadNATSValues(t *testing.T) natsValues {
	t.Helper()
	y, err := os.ReadFile(filepath.Join(k8sDir(t), "nats-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v natsValues
	decode(t, y, &v)
	return v
}

func natsMonitorPort(t *testing.T) int {
	t.Helper()
	if p := loadNATSValues(t).Config.Monitor.Port; p != 0 {
		return p
	}
	return 8222 // the chart's default
}

func TestNATSValues(t *testing.T) {
	t.Parallel()
	v := loadNATSValues(t)
	c := v.Config
	if !c.Cluster.Enabled || c.Cluster.Replicas != 3 {
		t.Errorf("cluster enabled=%v replicas=%d, want a 3-server cluster", c.Cluster.Enabled, c.Cluster.Replicas)
	}
	if !c.JetStream.Enabled || !c.JetStream.FileStore.Enabled || !c.JetStream.FileStore.PVC.Enabled || c.JetStream.FileStore.PVC.Size == "" {
		t.Error("want JetStream with file storage on a sized PVC")
	}
	if !c.Monitor.Enabled {
		t.Error("monitoring port disabled: KEDA reads /jsz from it")
	}

	// No overlay asks for more stream replicas than there are servers.
	for _, name := range overlays(t) {
		b := kustomizeBuild(t, filepath.Join(k8sDir(t), "overlays", name))
		w := b.deployments["worker"]
		if w == nil {
			continue
		}
		env := podEnv(t, b, w, w.Spec.Template.Spec.Containers[0])
		if r := effectiveInt(t, "worker", env, "NATS_REPLICAS"); r > c.Cluster.Replicas {
			t.Errorf("overlay %s: NATS_REPLICAS=%d, but nats-values.yaml runs %d servers", name, r, c.Cluster.Replicas)
		}
		if name == "prod" {
			if r := effectiveInt(t, "worker", env, "NATS_REPLICAS"); r != c.Cluster.Replicas {
				t.Errorf("overlay prod: NATS_REPLICAS=%d, want %d (one copy per server)", r, c.Cluster.Replicas)
			}
		}
	}
}
