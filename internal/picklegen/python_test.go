package picklegen_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/embedstream/embedstream/internal/picklegen"
)

// python is Debian's interpreter with pandas 1.5.3 and numpy 1.24, the
// oracle generate.py uses.
const python = "/usr/bin/python3"

// crossCases are the shapes the Python cross-check covers: a single row
// (APPEND, not APPENDS), the object block's 7n items around multiples of
// the 1000-item batch, the 2500 x 384 of the files, columns of 64
// KiB and more written outside frames (9000 rows of datetimes and ints),
// and rows of 64 KiB and more (a 16384-float embedding, and a records
// list of 16384 floats in 17 batches).
var crossCases = []picklegen.Spec{
	{Rows: 1, Dim: 4, Seed: 1},
	{Rows: 999, Dim: 4, Seed: 2},
	{Rows: 1000, Dim: 4, Seed: 3},
	{Rows: 1001, Dim: 4, Seed: 4},
	{Rows: 2500, Dim: 384, Seed: 5},
	{Rows: 9000, Dim: 4, Seed: 6},
	{Rows: 3, Dim: 16384, Seed: 7},
}

// TestPythonCrossCheck has CPython, pandas and numpy read every shape of
// crossCases (the values must be picklegen's expected canonical JSONL, by
// generate.py's own expectation functions) and write the same objects
// again, rebuilt from those values as generate.py builds them: the bytes
// must be picklegen's. Skipped without /usr/bin/python3 and pandas.
func TestPythonCrossCheck(t *testing.T) {
	t.Parallel()
	if err := exec.Command(python, "-c", "import pandas, numpy").Run(); err != nil {
		t.Skipf("skipped: %s with pandas and numpy is not available (%v); Debian: apt-get install python3-pandas", python, err)
	}
	dir := t.TempDir()
	var cases []string
	for _, spec := range crossCases {
		name := fmt.Sprintf("n%d_d%d", spec.Rows, spec.Dim)
		cases = append(cases, name)
		for _, shape := range []picklegen.Shape{picklegen.Frame, picklegen.Records, picklegen.Matrix} {
			writeFile(t, filepath.Join(dir, name+"."+shape.String()+".pkl"), func(b *bytes.Buffer) error {
				_, err := picklegen.Write(b, spec.Source(), shape)
				return err
			})
		}
	}
	testdata, err := filepath.Abs("../pickleload/testdata")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, append([]string{"testdata/crosscheck.py", dir}, cases...)...)
	cmd.Env = append(os.Environ(), "PYTHONHASHSEED=0", "PYTHONPATH="+testdata)
	out, err := cmd.CombinedOutput()
	t.Logf("crosscheck.py:\n%s", out)
	if err != nil {
		t.Fatalf("crosscheck.py: %v", err)
	}
	for i, spec := range crossCases {
		for _, shape := range []picklegen.Shape{picklegen.Frame, picklegen.Records, picklegen.Matrix} {
			py, err := os.Open(filepath.Join(dir, cases[i]+"."+shape.String()+".py.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if err := picklegen.Compare(py, spec.Source(), shape); err != nil {
				t.Errorf("%s %v: Python's values differ from the expected JSONL: %v", cases[i], shape, err)
			}
			py.Close()
		}
	}
}

func writeFile(t *testing.T, path string, write func(*bytes.Buffer) error) {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
