package config

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func newFS() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// sample is a binary's settings, bound as a composition root binds them.
type sample struct {
	Log
	Name  string
	Count int
	Size  int64
	Rate  float64
	On    bool
	Wait  time.Duration
}

func (s *sample) bind(b *Binder) {
	s.Log.Bind(b)
	b.String(&s.Name, "name", "NAME", "n", "a name")
	b.Int(&s.Count, "count", "COUNT", 2, "a count")
	b.Int64(&s.Size, "size", "SIZE", 1<<20, "a size")
	b.Float(&s.Rate, "rate", "RATE", 0.5, "a rate")
	b.Bool(&s.On, "on", "ON", false, "a switch")
	b.Duration(&s.Wait, "wait", "WAIT", 30*time.Second, "a wait")
}

func load(args []string, getenv func(string) string) (sample, error) {
	var s sample
	b := NewBinder(newFS(), getenv)
	s.bind(b)
	if err := b.Parse(args); err != nil {
		return s, err
	}
	return s, s.Log.Validate()
}

func TestDefaults(t *testing.T) {
	s, err := load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s != (sample{Log: Log{Level: "info", Format: "json"}, Name: "n", Count: 2, Size: 1 << 20, Rate: 0.5, Wait: 30 * time.Second}) {
		t.Fatalf("unexpected defaults: %+v", s)
	}
}

func TestFlagsWinOverEnv(t *testing.T) {
	s, err := load([]string{"--wait=10s", "--count", "4", "--on"}, env(map[string]string{
		"WAIT": "1m", "COUNT": "8", "ON": "false", "SIZE": "2MiB", "RATE": "0.25", "LOG_FORMAT": "console",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Wait != 10*time.Second || s.Count != 4 || !s.On {
		t.Fatalf("flags did not win: %+v", s)
	}
	if s.Size != 2<<20 || s.Rate != 0.25 || s.Format != "console" {
		t.Fatalf("env not applied: %+v", s)
	}
}

func TestErrorsNameFlagOrVariable(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad duration", nil, map[string]string{"WAIT": "soon"}, "WAIT"},
		{"bad size", nil, map[string]string{"SIZE": "lots"}, "SIZE"},
		{"bad bool", nil, map[string]string{"ON": "maybe"}, "ON"},
		{"bad flag", []string{"--count", "x"}, nil, "-count"},
		{"log level", nil, map[string]string{"LOG_LEVEL": "loud"}, "--log-level (LOG_LEVEL)"},
		{"log format", nil, map[string]string{"LOG_FORMAT": "xml"}, "--log-format (LOG_FORMAT)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(tt.args, env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
	if _, err := load([]string{"--help"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: err = %v, want flag.ErrHelp", err)
	}
}

func TestBinderListsSettingsSorted(t *testing.T) {
	var s sample
	b := NewBinder(newFS(), nil)
	s.bind(b)
	list := b.Settings()
	if len(list) != 8 || !slices.IsSortedFunc(list, func(a, b Setting) int { return strings.Compare(a.Env, b.Env) }) {
		t.Fatalf("want 8 settings sorted by variable: %+v", list)
	}
	for _, x := range list {
		if x.Env == "" || x.Flag == "" || x.Usage == "" {
			t.Errorf("incomplete setting %+v", x)
		}
		if x.Env == "WAIT" && x.Default != "30s" {
			t.Errorf("WAIT default = %q", x.Default)
		}
	}
}

func TestFieldError(t *testing.T) {
	if got := FieldError("ack-wait", "ACK_WAIT", "must be at least 1s").Error(); got != "--ack-wait (ACK_WAIT): must be at least 1s" {
		t.Fatalf("FieldError = %q", got)
	}
}

func TestSplitList(t *testing.T) {
	if got := SplitList(" .pkl , .p ,"); strings.Join(got, "|") != ".pkl|.p" {
		t.Fatalf("SplitList = %q", got)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "16MiB": 16 << 20, "4k": 4 << 10, "2 GiB": 2 << 30, "10B": 10} {
		got, err := ParseBytes(in)
		if err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "ten", "1.5MiB"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
}
