package inspect

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/table"
)

// Exit statuses of [Run].
const (
	ExitOK      = 0 // the file was rendered
	ExitFailure = 1 // unreadable, refused or failing the domain checks
	ExitUsage   = 2 // bad arguments
)

// DefaultTableLimit is how many rows --format table shows without --limit.
const DefaultTableLimit = 10

// Options are the dependencies of [Run]; the zero value works (no domain
// checks, no file size limit, the pickle loader's default limits).
type Options struct {
	// ValidateDomain runs the named domain's checks on the loaded table
	// (--domain). Nil means domain checks are unavailable, and --domain is
	// then an error.
	ValidateDomain func(domain string, t *table.Table) error
	// IDField returns the named domain's id field (--domain), which the
	// keys of a dict keyed by id become, as in the worker. Nil, or "":
	// "index".
	IDField func(domain string) string
	// Limits bound the load, as the worker's settings bound its loads.
	Limits dataset.Limits
}

// Format is an output format of [Run].
type Format string

// The formats --format accepts.
const (
	FormatTable  Format = "table"
	FormatSchema Format = "schema"
	FormatJSONL  Format = "jsonl"
)

// request is a parsed command line.
type request struct {
	file   string
	format Format
	limit  int // < 0: the format's default
	domain string
}

// Run executes `inspect [--format table|schema|jsonl] [--limit N] [--domain D]
// FILE` (flags may also follow FILE), writing the rendering to stdout and
// errors to stderr, and returns the exit status ([ExitOK], [ExitFailure] or
// [ExitUsage]). A load or domain failure is reported as one line,
// "inspect: FILE: <error>".
func Run(ctx context.Context, stdout, stderr io.Writer, args []string, opts Options) int {
	req, err := parseArgs(stderr, args)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "inspect: %s\n", oneLine(err.Error()))
		return ExitUsage
	}
	if err := run(ctx, stdout, req, opts); err != nil {
		var de *dataset.Error
		if errors.As(err, &de) && de.Name == req.file {
			err = de.Err // the path is already in front
		}
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == req.file {
			msg = pe.Op + ": " + pe.Err.Error() // the path is already in front
		}
		fmt.Fprintf(stderr, "inspect: %s: %s\n", printable(req.file), printable(oneLine(msg)))
		return ExitFailure
	}
	return ExitOK
}

func parseArgs(stderr io.Writer, args []string) (request, error) {
	req := request{format: FormatTable, limit: -1}
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", string(FormatTable), "output format: table, schema or jsonl")
	fs.IntVar(&req.limit, "limit", -1, fmt.Sprintf("rows to show (default: %d for table, all for jsonl)", DefaultTableLimit))
	fs.StringVar(&req.domain, "domain", "", "also run this domain's checks (e.g. recruit, candidate)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: inspect [--format table|schema|jsonl] [--limit N] [--domain D] FILE")
		fs.PrintDefaults()
	}
	// Flags may come before or after FILE: parse, take one positional
	// argument, parse the rest.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return req, err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(files) == 0:
		return req, errors.New("missing FILE (usage: inspect [--format table|schema|jsonl] [--limit N] [--domain D] FILE)")
	case len(files) > 1:
		return req, fmt.Errorf("one FILE expected, got %d: %s", len(files), strings.Join(files, " "))
	}
	req.file = files[0]
	switch f := Format(*format); f {
	case FormatTable, FormatSchema, FormatJSONL:
		req.format = f
	default:
		return req, fmt.Errorf("--format %q: want table, schema or jsonl", *format)
	}
	if req.limit < -1 {
		return req, fmt.Errorf("--limit %d: want a count >= 0", req.limit)
	}
	return req, nil
}

func run(ctx context.Context, stdout io.Writer, req request, opts Options) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// The dataset stage the worker loads with, on a path as given.
	loader := dataset.NewLoader(dataset.Config{Limits: opts.Limits})
	defer loader.FreeBuffers()
	ref := dataset.Ref{Origin: dataset.AtPath, Name: req.file}
	if req.domain != "" && opts.IDField != nil {
		ref.KeyColumn = opts.IDField(req.domain)
	}
	ds, st, err := loader.Load(ctx, ref)
	if err != nil {
		return err
	}
	defer ds.Release() // after rendering: the table aliases the file's buffer or mapping
	// Rendering reads the mapping: a file truncated meanwhile is an
	// error (dataset.ErrFault), not a crash.
	return dataset.Guard(func() error { return render(ctx, stdout, req, opts, ds, st.Format) })
}

// render writes what req asks for of ds, a file of the given format
// (dataset.Stats.Format).
func render(ctx context.Context, stdout io.Writer, req request, opts Options, ds *dataset.Dataset, format string) error {
	t, err := ds.Table()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if req.domain != "" {
		if opts.ValidateDomain == nil {
			return fmt.Errorf("domain %s: domain checks are not available", req.domain)
		}
		if err := opts.ValidateDomain(req.domain, t); err != nil {
			return fmt.Errorf("domain %s: %w", req.domain, err)
		}
	}
	switch req.format {
	case FormatSchema:
		return WriteSchema(stdout, t)
	case FormatJSONL:
		n := t.NumRows
		if req.limit >= 0 && req.limit < n {
			n = req.limit
		}
		if err := canonical.WriteRows(stdout, t, 0, n); err != nil {
			return fmt.Errorf("write jsonl: %w", err)
		}
		return nil
	default:
		limit := req.limit
		if limit < 0 {
			limit = DefaultTableLimit
		}
		return WritePreview(stdout, req.file, format, req.domain, t, limit)
	}
}

// oneLine folds a message onto a single line: the lines of a joined error
// (several domain problems) are separated by "; ", a line ending in ':'
// continues with a space.
func oneLine(s string) string {
	var b strings.Builder
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if b.Len() > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteByte(' ')
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(line)
	}
	return b.String()
}
