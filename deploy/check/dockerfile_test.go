package check

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// stage is one FROM ... AS name section of a Dockerfile.
type stage struct {
	Name  string
	Base  string
	Instr []*parser.Node // the stage's instructions after FROM
}

// parseDockerfile parses a Dockerfile with BuildKit's own parser and splits
// it into stages.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var stages []stage
	for _, n := range res.AST.Children {
		if is(n, "from") {
			args := nodeArgs(n)
			s := stage{Base: args[0]}
			if len(args) == 3 && strings.EqualFold(args[1], "as") {
				s.Name = args[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) > 0 {
			stages[len(stages)-1].Instr = append(stages[len(stages)-1].Instr, n)
		}
	}
	return stages
}

// is reports whether n is an instruction of a kind ("from", "user").
func is(n *parser.Node, kind string) bool { return strings.EqualFold(n.Value, kind) }

func nodeArgs(n *parser.Node) []string {
	var args []string
	for a := n.Next; a != nil; a = a.Next {
		args = append(args, a.Value)
	}
	return args
}

func findStage(stages []stage, name string) (stage, bool) {
	for _, s := range stages {
		if s.Name == name {
			return s, true
		}
	}
	return stage{}, false
}

// last returns the stage's last instruction of a kind ("user", "entrypoint").
func (s stage) last(kind string) *parser.Node {
	var found *parser.Node
	for _, n := range s.Instr {
		if is(n, kind) {
			found = n
		}
	}
	return found
}

// checkRuntimeStage checks a target that compose or Kubernetes runs: a
// distroless non-root image whose ENTRYPOINT is the binary, in JSON form, so
// that the Go process is PID 1 and receives SIGTERM itself.
func checkRuntimeStage(t *testing.T, stages []stage, target, binary string) {
	t.Helper()
	s, ok := findStage(stages, target)
	if !ok {
		t.Errorf("Dockerfile has no stage %q", target)
		return
	}
	if !strings.HasPrefix(s.Base, "gcr.io/distroless/") || !strings.HasSuffix(s.Base, ":nonroot") {
		t.Errorf("stage %s: base %q, want a gcr.io/distroless/...:nonroot image", target, s.Base)
	}
	if u := s.last("user"); u == nil {
		t.Errorf("stage %s: no USER", target)
	} else if user, _, _ := strings.Cut(nodeArgs(u)[0], ":"); user != "nonroot" && user != "65532" {
		t.Errorf("stage %s: USER %s, want nonroot", target, user)
	}
	ep := s.last("entrypoint")
	switch {
	case ep == nil:
		t.Errorf("stage %s: no ENTRYPOINT", target)
	case !ep.Attributes["json"]:
		t.Errorf("stage %s: ENTRYPOINT %q is in shell form; use the JSON form so the binary gets SIGTERM", target, ep.Original)
	case nodeArgs(ep)[0] != "/"+binary:
		t.Errorf("stage %s: ENTRYPOINT runs %q, want /%s", target, nodeArgs(ep)[0], binary)
	}
	copied := false
	for _, n := range s.Instr {
		if is(n, "copy") && slices.Contains(nodeArgs(n), "/"+binary) {
			copied = true
		}
	}
	if !copied {
		t.Errorf("stage %s: does not COPY the binary to /%s", target, binary)
	}
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	stages := parseDockerfile(t, filepath.Join(root, "deploy", "docker", "Dockerfile"))

	t.Run("runtime stages", func(t *testing.T) {
		for _, bin := range []string{"worker", "publisher", "batchserver"} {
			checkRuntimeStage(t, stages, bin, bin)
		}
	})

	t.Run("build stage", func(t *testing.T) {
		var build *parser.Node
		cgoOff := false
		for _, s := range stages {
			for _, n := range s.Instr {
				if is(n, "env") && slices.Contains(strings.Fields(n.Original), "CGO_ENABLED=0") {
					cgoOff = true
				}
				if is(n, "run") && strings.Contains(n.Original, "go build") {
					build = n
				}
			}
		}
		if build == nil {
			t.Fatal("no RUN go build")
		}
		if !strings.Contains(build.Original, "CGO_ENABLED=0") && !cgoOff {
			t.Error("go build runs without CGO_ENABLED=0: the distroless static image has no libc")
		}
		for _, want := range []string{"-trimpath", "-s -w", "-X github.com/embedstream/embedstream/internal/buildinfo.Version="} {
			if !strings.Contains(build.Original, want) {
				t.Errorf("go build lacks %q", want)
			}
		}
		for _, cache := range []string{"/go/pkg/mod", "/root/.cache/go-build"} {
			if !slices.ContainsFunc(build.Flags, func(f string) bool {
				return strings.HasPrefix(f, "--mount=") && strings.Contains(f, "type=cache") && strings.Contains(f, "target="+cache)
			}) {
				t.Errorf("go build has no cache mount for %s (flags %q)", cache, build.Flags)
			}
		}
		// Every package the build names must exist in the repository.
		for _, f := range strings.Fields(build.Original) {
			if !strings.HasPrefix(f, "./") {
				continue
			}
			if _, err := os.Stat(filepath.Join(root, f, "main.go")); err != nil {
				t.Errorf("go build names %s: %v", f, err)
			}
		}
	})
}
