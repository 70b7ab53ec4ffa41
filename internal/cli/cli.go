package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/embedstream/embedstream/internal/buildinfo"
)

// Exit codes of [Run].
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the command ran and failed (a failed job, NATS down, ...)
	ExitUsage   = 2 // bad arguments or configuration
)

// Env is the process environment a command runs in. Commands write only to
// Stdout and Stderr and read settings only through Getenv, so tests run them
// with buffers and a map.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	// Getenv looks up an environment variable; nil means none are set.
	Getenv func(string) string
	// Terminal reports that Stdout is a terminal: progress bars then redraw
	// in place instead of printing one line per change.
	Terminal bool
	// OnListen, when set, is called by serve with the address it listens
	// on (tests bind port 0 and learn the port here).
	OnListen func(net.Addr)
	// LoadSettings loads the publisher's settings for every command that
	// reads them (all but healthcheck and version); the publisher's
	// composition root provides it (internal/wiring/publisher.LoadCLI).
	LoadSettings LoadSettings
}

func (e *Env) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// command is one subcommand of the publisher binary.
type command struct {
	name    string
	args    string // synopsis of the arguments, for usage
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

// commands lists the subcommands in usage order. A new subcommand is one
// more entry here and a run function in a file of its own.
func commands() []command {
	return []command{
		{"serve", "", "run the HTTP API on HTTP_ADDR", runServe},
		{"enqueue", "DOMAIN FILE [--object] [--idempotency-key K] [--wait]", "enqueue an ingest job", runEnqueue},
		{"upload", "FILE [--name N]", "upload a file into the ingest_files object store", runUpload},
		{"status", "JOB_ID [--follow]", "show a job's status, or follow it to its end", runStatus},
		{"cancel", "JOB_ID [--wait]", "cancel a queued or running job (nothing of it is committed)", runCancel},
		{"jobs", "[--state S] [--domain D] [--id ID] [--file F] [--q TEXT] [--since T] [--until T] [--limit N] [--cursor C]", "list jobs, newest first, one page at a time", runJobs},
		{"queue", "", "show the queue: JetStream's counts, jobs by state and domain, recent figures", runQueue},
		{"workers", "", "show the running workers: who runs what, since when", runWorkers},
		{"dlq", "list [--domain D] | replay JOB_ID | purge JOB_ID | replay|purge --all [--domain D] [--class C] [--since T]", "list, replay or purge dead letters", runDLQ},
		{"inspect", "FILE [--format table|schema|jsonl] [--limit N] [--domain D]", "show what a worker would send for a pickle file", runInspect},
		{"healthcheck", "[--addr HOST:PORT]", "probe a running serve's /healthz (exit 0 when healthy)", runHealthcheck},
		{"version", "", "print the version", runVersion},
	}
}

// Run runs the publisher binary with args (os.Args without the program
// name) and returns its exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if len(args) == 0 {
		usage(env.Stderr)
		return ExitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		usage(env.Stdout)
		return ExitOK
	case "-version", "--version":
		name = "version"
	case "dev":
		fmt.Fprintln(env.Stderr, "publisher dev: the local stack is its own command now: go run ./publisher/dev (same flags and environment variables)")
		return ExitUsage
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, &env, rest)
		return exitCode(env.Stderr, c.name, err)
	}
	fmt.Fprintf(env.Stderr, "publisher: unknown command %q\n\n", name)
	usage(env.Stderr)
	return ExitUsage
}

// usageError marks bad arguments: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitError carries a chosen exit code for an error already reported.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func exitCode(stderr io.Writer, name string, err error) int {
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "publisher %s: %v (see 'publisher %s --help')\n", name, err, name)
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "publisher %s: %s\n", name, errorLine(err))
		return ExitFailure
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nUsage: publisher COMMAND [ARGS] [FLAGS]\n\nCommands:\n", buildinfo.String("publisher"))
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
		if c.args != "" {
			fmt.Fprintf(w, "  %-12s   publisher %s %s\n", "", c.name, c.args)
		}
	}
	fmt.Fprint(w, `
Every command takes the settings of the publisher as flags or environment
variables (NATS_URL, DATA_DIR, DOMAINS_FILE, ...): 'publisher COMMAND --help'
lists them. Add --json for machine-readable output. The CLI talks to NATS
directly; it does not need a running 'publisher serve'. With PUBLISHER_URL
set, 'jobs' and 'queue' ask that publisher's job index instead of reading
every job status record.

The local stack (embedded JetStream, batch server, workers and this API in
one process) is a command of its own: go run ./publisher/dev.
`)
}

func runVersion(_ context.Context, env *Env, args []string) error {
	if len(args) > 0 {
		return usagef("version takes no arguments")
	}
	fmt.Fprintln(env.Stdout, buildinfo.String("publisher"))
	return nil
}

// newFlagSet returns a flag set for a subcommand whose usage prints the
// synopsis before the flags.
func newFlagSet(env *Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("publisher "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		for _, c := range commands() {
			if c.name == name {
				fmt.Fprintf(fs.Output(), "Usage: publisher %s %s\n\n%s.\n\nFlags:\n", name, c.args, upperFirst(c.summary))
			}
		}
		fs.PrintDefaults()
	}
	return fs
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// permute moves flags ahead of positional arguments, so that
// `enqueue recruit x.pkl --wait` parses like `enqueue --wait recruit x.pkl`.
// isBool says whether a known flag takes no value; unknown flags are left
// for the flag set to report. "--" ends the flags.
func permute(args []string, isBool func(name string) (known, boolean bool)) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if known, boolean := isBool(name); known && !boolean && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return append(append(flags, "--"), pos...)
}

// flagKind reports whether name is a flag of one of the sets and whether it
// is a boolean flag.
func flagKind(sets ...*flag.FlagSet) func(string) (bool, bool) {
	return func(name string) (bool, bool) {
		for _, fs := range sets {
			if f := fs.Lookup(name); f != nil {
				b, ok := f.Value.(interface{ IsBoolFlag() bool })
				return true, ok && b.IsBoolFlag()
			}
		}
		return false, false
	}
}
