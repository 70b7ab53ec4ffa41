package check

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads docker-compose.yml the way `docker compose` does, schema
// validation included, with an empty environment: every ${VAR:-default}
// takes its default.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root := repoRoot(t)
	details := types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: types.Mapping{},
	}
	p, err := loader.LoadWithContext(t.Context(), details, func(o *loader.Options) {
		o.SetProjectName("embedstream", true)
		o.ResolvePaths = true
	})
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

// composeEnv flattens a service's environment; a variable without a value
// (passed through from the host) maps to "".
func composeEnv(s types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range s.Environment {
		env[k] = ""
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

// appServices maps each service that runs one of our binaries to the binary.
var appServices = map[string]string{
	"batchserver": "batchserver",
	"publisher":   "publisher",
	"worker":      "worker",
}

func TestCompose(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	root := repoRoot(t)

	names := p.ServiceNames()
	slices.Sort(names)
	if want := []string{"batchserver", "nats", "publisher", "worker"}; !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	svc := func(name string) types.ServiceConfig {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	for name, binary := range appServices {
		t.Run(name, func(t *testing.T) {
			s := svc(name)
			env := composeEnv(s)

			// Every variable set is one the binary reads.
			known := settings(t, binary)
			for k := range env {
				if _, ok := known[k]; !ok {
					t.Errorf("environment sets %s, which %s does not read (its settings in internal/wiring)", k, binary)
				}
			}

			// The healthcheck runs the binary's own probe (the image has no shell).
			if s.HealthCheck == nil || s.HealthCheck.Disable {
				t.Error("no healthcheck")
			} else if want := []string{"CMD", "/" + binary, "healthcheck"}; !slices.Equal(s.HealthCheck.Test, want) {
				t.Errorf("healthcheck %q, want %q", s.HealthCheck.Test, want)
			}

			// The image is built from a Dockerfile target that exists.
			if s.Build == nil {
				t.Fatal("no build section")
			}
			dockerfile := s.Build.Dockerfile
			if !filepath.IsAbs(dockerfile) {
				dockerfile = filepath.Join(s.Build.Context, dockerfile)
			}
			if rel, err := filepath.Rel(root, dockerfile); err != nil || !strings.HasPrefix(rel, "deploy"+string(filepath.Separator)+"docker") {
				t.Errorf("dockerfile %s is not under deploy/docker", dockerfile)
			}
			if s.Build.Context != root {
				t.Errorf("build context %s, want the repository root %s", s.Build.Context, root)
			}
			stages := parseDockerfile(t, dockerfile)
			checkRuntimeStage(t, stages, s.Build.Target, binary)

			// Dependencies are waited for until healthy, and can be.
			for dep, d := range s.DependsOn {
				if d.Condition != types.ServiceConditionHealthy {
					t.Errorf("depends_on %s: condition %q, want %s", dep, d.Condition, types.ServiceConditionHealthy)
				}
				if ds := svc(dep); ds.HealthCheck == nil || ds.HealthCheck.Disable {
					t.Errorf("depends_on %s, which has no healthcheck", dep)
				}
			}
			if !s.ReadOnly {
				t.Error("read_only is not set: the binaries write nothing outside their volumes")
			}
		})
	}

	t.Run("nats", func(t *testing.T) {
		s := svc("nats")
		image, tag, _ := strings.Cut(s.Image, ":")
		if image != "nats" || !strings.HasSuffix(tag, "-alpine") {
			t.Errorf("image %q: want an official nats:*-alpine tag (the scratch image has no wget for the healthcheck)", s.Image)
		}
		cmd := []string(s.Command)
		for _, flag := range []string{"-js", "-sd", "-m"} {
			if !slices.Contains(cmd, flag) {
				t.Errorf("command %q lacks %s", cmd, flag)
			}
		}
		if i := slices.Index(cmd, "-sd"); i >= 0 && i+1 < len(cmd) {
			if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
				return v.Type == types.VolumeTypeVolume && v.Target == cmd[i+1]
			}) {
				t.Errorf("JetStream store %s is not on a named volume", cmd[i+1])
			}
		}
		if s.HealthCheck == nil || !slices.Contains(s.HealthCheck.Test, "wget") ||
			!slices.ContainsFunc(s.HealthCheck.Test, func(a string) bool { return strings.Contains(a, ":8222/healthz") }) {
			t.Errorf("healthcheck %v: want wget on the monitoring port's /healthz", s.HealthCheck)
		}
	})

	t.Run("wiring", func(t *testing.T) {
		pub, wrk, bs := svc("publisher"), svc("worker"), svc("batchserver")
		penv, wenv, benv := composeEnv(pub), composeEnv(wrk), composeEnv(bs)

		for _, s := range []types.ServiceConfig{pub, wrk} {
			if got := effective(t, s.Name, composeEnv(s), "NATS_URL"); got != "nats://nats:4222" {
				t.Errorf("%s: NATS_URL %q, want nats://nats:4222", s.Name, got)
			}
			// ./data is mounted read-only where DATA_DIR points.
			dataDir := composeEnv(s)["DATA_DIR"]
			if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
				return v.Type == types.VolumeTypeBind && v.Source == filepath.Join(repoRoot(t), "data") && v.Target == dataDir && v.ReadOnly
			}) {
				t.Errorf("%s: ./data is not mounted read-only at DATA_DIR %q (volumes %v)", s.Name, dataDir, s.Volumes)
			}
		}

		listen := effective(t, "batchserver", benv, "BATCH_LISTEN_ADDR")
		if !strings.HasPrefix(listen, "0.0.0.0:") && !strings.HasPrefix(listen, ":") {
			t.Errorf("batchserver listens on %q: other containers cannot reach it", listen)
		}
		if got, want := effective(t, "worker", wenv, "BATCH_SERVER_ADDR"), "batchserver:"; !strings.HasPrefix(got, want) || addrPort(t, got) != addrPort(t, listen) {
			t.Errorf("worker BATCH_SERVER_ADDR %q does not reach the batchserver listening on %q", got, listen)
		}

		httpPort := addrPort(t, effective(t, "publisher", penv, "HTTP_ADDR"))
		if !slices.ContainsFunc(pub.Ports, func(p types.ServicePortConfig) bool {
			return int(p.Target) == httpPort && p.Published == "8000"
		}) {
			t.Errorf("publisher: HTTP_ADDR port %d not published on 8000 (ports %v)", httpPort, pub.Ports)
		}
		// With API_TOKEN empty by default, the API is this host's only.
		for _, p := range pub.Ports {
			if p.HostIP != "127.0.0.1" {
				t.Errorf("publisher: port %d published on %q, want 127.0.0.1 only (the default has no API_TOKEN)", p.Target, p.HostIP)
			}
		}

		// Pull mode: the workers serve DatasetService on PULL_ADDR, on every
		// interface of their container, exposed to the compose network and
		// published on no host address but loopback.
		pullAddr := effective(t, "worker", wenv, "PULL_ADDR")
		if pullAddr == "" {
			t.Error("worker: PULL_ADDR is empty: pull mode is off")
		} else {
			if !strings.HasPrefix(pullAddr, "0.0.0.0:") && !strings.HasPrefix(pullAddr, ":") {
				t.Errorf("worker: PULL_ADDR %q: batch servers in other containers cannot reach it", pullAddr)
			}
			if port := strconv.Itoa(addrPort(t, pullAddr)); !slices.Contains([]string(wrk.Expose), port) {
				t.Errorf("worker: PULL_ADDR port %s is not in expose %v", port, wrk.Expose)
			}
		}
		for _, p := range wrk.Ports {
			if p.HostIP != "127.0.0.1" {
				t.Errorf("worker: port %d published on %q: publish to 127.0.0.1 only, if at all", p.Target, p.HostIP)
			}
		}

		if wrk.Deploy == nil || wrk.Deploy.Replicas == nil || *wrk.Deploy.Replicas != 3 {
			t.Error("worker: want deploy.replicas: 3")
		}
		shutdown := effectiveDuration(t, "worker", wenv, "SHUTDOWN_TIMEOUT")
		if wrk.StopGracePeriod == nil || time.Duration(*wrk.StopGracePeriod) <= shutdown {
			t.Errorf("worker: stop_grace_period %v must be longer than SHUTDOWN_TIMEOUT %v", wrk.StopGracePeriod, shutdown)
		}
		for _, dep := range []string{"nats", "batchserver"} {
			if _, ok := wrk.DependsOn[dep]; !ok {
				t.Errorf("worker does not depend on %s", dep)
			}
		}
	})
}
