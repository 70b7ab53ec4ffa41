package inspect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/inspect"
	"github.com/embedstream/embedstream/internal/table"
)

// The pickle corpus of package pickleload (written by its generate.py).
var (
	fixtures = filepath.Join("..", "pickleload", "testdata", "fixtures")
	hostile  = filepath.Join("..", "pickleload", "testdata", "hostile")
)

// result is the outcome of one Run.
type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, opts inspect.Options, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := inspect.Run(context.Background(), &out, &errOut, args, opts)
	return result{code, out.String(), errOut.String()}
}

// pickles returns the stems of the .pkl files in dir that have a file with
// the given suffix beside them.
func pickles(t *testing.T, dir, suffix string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no *%s in %s (err %v)", suffix, dir, err)
	}
	stems := make([]string, len(paths))
	for i, p := range paths {
		stems[i] = strings.TrimSuffix(p, suffix)
	}
	return stems
}

// wantOneLineError checks a failed run: the status, nothing on stdout, and
// exactly one line "inspect: FILE: ..." on stderr.
func wantOneLineError(t *testing.T, r result, code int, file string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout %.200q, want nothing", r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "inspect: "+file+": ") || !strings.HasSuffix(r.stderr, "\n") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one line \"inspect: %s: <error>\"", r.stderr, file)
	}
}

// TestJSONLEqualsExpected: --format jsonl prints exactly the expected
// canonical JSONL of every loadable fixture.
func TestJSONLEqualsExpected(t *testing.T) {
	t.Parallel()
	for _, stem := range pickles(t, fixtures, ".jsonl") {
		t.Run(filepath.Base(stem), func(t *testing.T) {
			t.Parallel()
			r := run(t, inspect.Options{}, "--format", "jsonl", stem+".pkl")
			if r.code != inspect.ExitOK {
				t.Fatalf("exit status %d, stderr %q", r.code, r.stderr)
			}
			want, err := os.ReadFile(stem + ".jsonl")
			if err != nil {
				t.Fatal(err)
			}
			if err := canonical.Compare(strings.NewReader(r.stdout), bytes.NewReader(want)); err != nil {
				t.Errorf("jsonl differs from %s.jsonl: %v", stem, err)
			}
		})
	}
}

// TestEveryFormatOnEveryFixture runs every format over every fixture and
// hostile file: a loadable file renders with status 0 and output, a bad
// one fails with one line on stderr.
func TestEveryFormatOnEveryFixture(t *testing.T) {
	t.Parallel()
	stems := append(pickles(t, fixtures, ".pkl"), pickles(t, hostile, ".pkl")...)
	for _, stem := range stems {
		t.Run(filepath.Base(filepath.Dir(stem))+"/"+filepath.Base(stem), func(t *testing.T) {
			t.Parallel()
			_, statErr := os.Stat(stem + ".error.txt")
			bad := statErr == nil
			for _, format := range []string{"table", "schema", "jsonl"} {
				r := run(t, inspect.Options{}, "--format", format, "--limit", "3", stem+".pkl")
				if bad {
					wantOneLineError(t, r, inspect.ExitFailure, stem+".pkl")
					continue
				}
				if r.code != inspect.ExitOK || r.stderr != "" {
					t.Errorf("--format %s: exit status %d, stderr %q", format, r.code, r.stderr)
				}
				if format != "jsonl" && r.stdout == "" {
					t.Errorf("--format %s: no output", format)
				}
			}
		})
	}
}

func TestTablePreview(t *testing.T) {
	t.Parallel()
	file := filepath.Join(fixtures, "recruit_small_df.pkl")
	r := run(t, inspect.Options{}, file, "--limit", "2")
	if r.code != inspect.ExitOK {
		t.Fatalf("exit status %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{
		"file:    " + file + "\n",
		"rows:    50\n",
		"columns: 9\n",
		"schema:\n",
		"rows (first 2 of 50):\n",
		"[0]\n", "[1]\n",
		`  recruit_id        "R0000001"`,
		"embedding         [384] ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("preview lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "[2]\n") {
		t.Errorf("preview shows a third row despite --limit 2:\n%s", r.stdout)
	}
	for i, line := range strings.Split(r.stdout, "\n") {
		if n := len([]rune(line)); n > 120 {
			t.Errorf("line %d is %d runes long: %q", i+1, n, line)
		}
	}
	if !strings.Contains(r.stdout, "…") {
		t.Errorf("no value was cut in the preview (descriptions are 200+ chars):\n%s", r.stdout)
	}
}

func TestSchemaFormat(t *testing.T) {
	t.Parallel()
	stem := filepath.Join(fixtures, "df_object")
	r := run(t, inspect.Options{}, "--format=schema", stem+".pkl")
	if r.code != inspect.ExitOK {
		t.Fatalf("exit status %d, stderr %q", r.code, r.stderr)
	}
	type field struct {
		Name      string `json:"name"`
		Type      string `json:"type"`
		Nullable  *bool  `json:"nullable"`
		VectorDim int    `json:"vector_dim"`
	}
	var got, want []field
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("schema output is not JSON: %v\n%s", err, r.stdout)
	}
	b, err := os.ReadFile(stem + ".schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d fields, want %d:\n%s", len(got), len(want), r.stdout)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Type != want[i].Type || got[i].VectorDim != want[i].VectorDim || got[i].Nullable == nil {
			t.Errorf("field %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := strings.Count(r.stdout, "\n"); n != len(want)+2 {
		t.Errorf("schema has %d lines, want one per field plus brackets:\n%s", n, r.stdout)
	}
}

func TestJSONLLimit(t *testing.T) {
	t.Parallel()
	r := run(t, inspect.Options{}, "--format", "jsonl", "--limit", "7", filepath.Join(fixtures, "candidate_small_records.pkl"))
	if r.code != inspect.ExitOK {
		t.Fatalf("exit status %d, stderr %q", r.code, r.stderr)
	}
	if n := strings.Count(r.stdout, "\n"); n != 7 {
		t.Errorf("got %d lines, want 7", n)
	}
}

func TestDomain(t *testing.T) {
	t.Parallel()
	file := filepath.Join(fixtures, "recruit_small_records.pkl")

	t.Run("passes", func(t *testing.T) {
		t.Parallel()
		var gotDomain string
		var gotRows int
		opts := inspect.Options{ValidateDomain: func(d string, tb *table.Table) error {
			gotDomain, gotRows = d, tb.NumRows
			return nil
		}}
		r := run(t, opts, "--domain", "recruit", file)
		if r.code != inspect.ExitOK {
			t.Fatalf("exit status %d, stderr %q", r.code, r.stderr)
		}
		if gotDomain != "recruit" || gotRows != 50 {
			t.Errorf("ValidateDomain got (%q, %d rows), want (recruit, 50)", gotDomain, gotRows)
		}
		if !strings.Contains(r.stdout, "domain:  recruit (checks passed)\n") {
			t.Errorf("preview does not name the checked domain:\n%s", r.stdout)
		}
	})
	t.Run("fails", func(t *testing.T) {
		t.Parallel()
		bad := errors.New("field \"recruit_id\" row 3:\nduplicate id")
		opts := inspect.Options{ValidateDomain: func(string, *table.Table) error { return bad }}
		r := run(t, opts, "--format", "jsonl", "--domain", "recruit", file)
		wantOneLineError(t, r, inspect.ExitFailure, file)
		if !strings.Contains(r.stderr, `domain recruit: field "recruit_id" row 3: duplicate id`) {
			t.Errorf("stderr %q does not carry the domain error", r.stderr)
		}
	})
	t.Run("unavailable", func(t *testing.T) {
		t.Parallel()
		r := run(t, inspect.Options{}, "--domain", "recruit", file)
		wantOneLineError(t, r, inspect.ExitFailure, file)
	})
}

func TestFileErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.pkl")
	r0 := run(t, inspect.Options{}, missing)
	wantOneLineError(t, r0, inspect.ExitFailure, missing)
	if strings.Count(r0.stderr, missing) != 1 || !strings.Contains(r0.stderr, "no such file") {
		t.Errorf("stderr %q: want the path once and the cause", r0.stderr)
	}
	dir := t.TempDir()
	wantOneLineError(t, run(t, inspect.Options{}, dir), inspect.ExitFailure, dir)
	refused := filepath.Join(hostile, "global_os_system.pkl")
	r := run(t, inspect.Options{}, refused)
	wantOneLineError(t, r, inspect.ExitFailure, refused)
	if !strings.Contains(strings.TrimPrefix(r.stderr, "inspect: "+refused+": "), "os.system") {
		t.Errorf("stderr %q does not name the refused global", r.stderr)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	file := filepath.Join(fixtures, "records_basic.pkl")
	for _, args := range [][]string{
		{},
		{"--format", "xml", file},
		{file, file},
		{"--limit", "-5", file},
		{"--limit", "many", file},
		{"--nope", file},
	} {
		r := run(t, inspect.Options{}, args...)
		if r.code != inspect.ExitUsage {
			t.Errorf("%q: exit status %d, want %d", args, r.code, inspect.ExitUsage)
		}
		if r.stdout != "" || r.stderr == "" {
			t.Errorf("%q: stdout %q, stderr %q: want only a message on stderr", args, r.stdout, r.stderr)
		}
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	file := filepath.Join(fixtures, "records_basic.pkl")
	code := inspect.Run(ctx, &out, &errOut, []string{file}, inspect.Options{})
	wantOneLineError(t, result{code, out.String(), errOut.String()}, inspect.ExitFailure, file)
}

// realWorld holds issue 13's real-world files (compressed, archived,
// joblib, appended, dicts keyed by id, .npy/.npz) with CPython's reading
// of each (<file>.jsonl) or the refusal expected (<file>.error.txt).
const realWorld = "../pickleload/testdata/formats"

// TestRealWorldFiles: inspect reads every real-world file CPython reads as
// CPython does, names what the file is in its preview, and refuses the
// others with one line naming what they are.
func TestRealWorldFiles(t *testing.T) {
	t.Parallel()
	read := 0
	for _, exp := range pickles(t, realWorld, ".jsonl") {
		file := exp // the expectation is named <file>.jsonl
		t.Run(filepath.Base(file), func(t *testing.T) {
			r := run(t, inspect.Options{}, "--format", "jsonl", file)
			if r.code != inspect.ExitOK {
				t.Fatalf("exit status %d, stderr %q", r.code, r.stderr)
			}
			want, err := os.ReadFile(file + ".jsonl")
			if err != nil {
				t.Fatal(err)
			}
			if err := canonical.Compare(strings.NewReader(r.stdout), bytes.NewReader(want)); err != nil {
				t.Errorf("jsonl differs from CPython's reading: %v", err)
			}
			r = run(t, inspect.Options{}, file)
			if r.code != inspect.ExitOK || !strings.Contains(r.stdout, "\nformat:  ") {
				t.Errorf("preview (status %d) does not say what the file is:\n%.400s", r.code, r.stdout)
			}
			read++
		})
	}
	for _, file := range pickles(t, realWorld, ".error.txt") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			spec, err := os.ReadFile(file + ".error.txt")
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitN(string(spec), "\n", 3)
			r := run(t, inspect.Options{Limits: dataset.Limits{MaxFileBytes: 4 << 20}}, file)
			wantOneLineError(t, r, inspect.ExitFailure, file)
			if len(lines) > 1 && !strings.Contains(r.stderr, strings.TrimSpace(lines[1])) {
				t.Errorf("stderr %q does not say %q", r.stderr, strings.TrimSpace(lines[1]))
			}
		})
	}
	t.Logf("%d real-world files read as CPython reads them", read)
}

// TestKeyedDictTakesTheDomainsIDField: with --domain, a dict keyed by id
// puts its keys in the domain's id field, as the worker does; without, in
// "index".
func TestKeyedDictTakesTheDomainsIDField(t *testing.T) {
	t.Parallel()
	file := filepath.Join(realWorld, "dict_index.pkl")
	opts := inspect.Options{
		ValidateDomain: func(string, *table.Table) error { return nil },
		IDField:        func(string) string { return "item_id" },
	}
	r := run(t, opts, "--format", "jsonl", "--domain", "items", file)
	if r.code != inspect.ExitOK || !strings.HasPrefix(r.stdout, `{"item_id":1,`) {
		t.Errorf("with a domain: status %d, %.120q", r.code, r.stdout)
	}
	r = run(t, opts, "--format", "jsonl", file)
	if r.code != inspect.ExitOK || !strings.HasPrefix(r.stdout, `{"index":1,`) {
		t.Errorf("without a domain: status %d, %.120q", r.code, r.stdout)
	}
}
