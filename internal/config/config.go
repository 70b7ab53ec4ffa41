package config

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Setting describes one configuration knob.
type Setting struct {
	Env     string // environment variable, e.g. "NATS_URL"
	Flag    string // flag name without dashes, e.g. "nats-url"
	Default string // default as text ("" for none)
	Usage   string
}

// Binder registers settings on a flag set: each is a flag that falls back to
// an environment variable, then to its default. Bind every setting, then
// call [Binder.Parse].
type Binder struct {
	fs       *flag.FlagSet
	getenv   func(string) string
	settings []Setting
}

// NewBinder returns a Binder registering on fs and reading variables with
// getenv; a nil getenv reads none.
func NewBinder(fs *flag.FlagSet, getenv func(string) string) *Binder {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return &Binder{fs: fs, getenv: getenv}
}

func (b *Binder) add(p flag.Value, name, env, usage string) {
	def := p.String()
	b.settings = append(b.settings, Setting{Env: env, Flag: name, Default: def, Usage: usage})
	if env != "" {
		usage = fmt.Sprintf("%s (env %s)", usage, env)
	}
	b.fs.Var(p, name, usage)
}

// String binds a text setting to p: flag --name, variable env.
func (b *Binder) String(p *string, name, env, def, usage string) {
	*p = def
	b.add((*stringValue)(p), name, env, usage)
}

// Int binds an integer setting to p: flag --name, variable env.
func (b *Binder) Int(p *int, name, env string, def int, usage string) {
	*p = def
	b.add((*intValue)(p), name, env, usage)
}

// Int64 binds a byte-size setting (see [ParseBytes]) to p: flag --name, variable env.
func (b *Binder) Int64(p *int64, name, env string, def int64, usage string) {
	*p = def
	b.add((*int64Value)(p), name, env, usage)
}

// Float binds a number setting to p: flag --name, variable env.
func (b *Binder) Float(p *float64, name, env string, def float64, usage string) {
	*p = def
	b.add((*floatValue)(p), name, env, usage)
}

// Bool binds a boolean setting to p: flag --name, variable env.
func (b *Binder) Bool(p *bool, name, env string, def bool, usage string) {
	*p = def
	b.add((*boolValue)(p), name, env, usage)
}

// Duration binds a Go duration setting to p: flag --name, variable env.
func (b *Binder) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	*p = def
	b.add((*durationValue)(p), name, env, usage)
}

// Parse parses args, then applies environment variables to every flag that
// was not given on the command line. It returns flag.ErrHelp for -h and
// --help, as the flag set does; a bad value names its flag or variable.
func (b *Binder) Parse(args []string) error {
	if err := b.fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	b.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	for _, s := range b.settings {
		if s.Env == "" || given[s.Flag] {
			continue
		}
		v := b.getenv(s.Env)
		if v == "" {
			continue
		}
		if err := b.fs.Set(s.Flag, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", s.Env, v, err))
		}
	}
	return errors.Join(errs...)
}

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("not an integer: %q", s)
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string { return fmt.Sprint(int(*v)) }

type int64Value int64

func (v *int64Value) Set(s string) error {
	n, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*v = int64Value(n)
	return nil
}
func (v *int64Value) String() string { return fmt.Sprint(int64(*v)) }

type floatValue float64

func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return fmt.Errorf("not a number: %q", s)
	}
	*v = floatValue(f)
	return nil
}
func (v *floatValue) String() string { return fmt.Sprint(float64(*v)) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "yes", "on":
		*v = true
	case "0", "f", "false", "no", "off", "":
		*v = false
	default:
		return fmt.Errorf("not a boolean: %q", s)
	}
	return nil
}
func (v *boolValue) String() string   { return fmt.Sprint(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }

type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("not a Go duration (e.g. 30s, 2m): %q", s)
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return time.Duration(*v).String() }

// ParseBytes parses a byte size: a plain integer or one with a binary suffix
// (KiB, MiB, GiB; K, M, G and KB, MB, GB are read as the same powers of 1024).
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	up := strings.ToUpper(t)
	for _, suf := range []struct {
		s string
		m int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(up, suf.s) {
			mult = suf.m
			t = strings.TrimSpace(t[:len(t)-len(suf.s)])
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a byte size (e.g. 1048576, 16MiB): %q", s)
	}
	return n * mult, nil
}

// Settings returns the settings bound so far, sorted by variable name.
func (b *Binder) Settings() []Setting {
	s := slices.Clone(b.settings)
	sort.Slice(s, func(i, j int) bool { return s[i].Env < s[j].Env })
	return s
}

// FieldError returns a validation error naming a setting's flag and
// variable: "--flag (ENV): msg".
func FieldError(flagName, env, msg string) error {
	return fmt.Errorf("--%s (%s): %s", flagName, env, msg)
}
