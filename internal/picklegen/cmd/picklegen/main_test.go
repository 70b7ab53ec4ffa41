package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/embedstream/embedstream/internal/picklegen"
	"github.com/embedstream/embedstream/internal/pickleload"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	out, expect := filepath.Join(dir, "f.pkl"), filepath.Join(dir, "f.jsonl")
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"--shape", "records", "--size", "2M", "--dim", "8", "--seed", "3",
		"--out", out, "--expect", expect}, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout.Bytes())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Bytes != int64(len(data)) || rep.Bytes < 2_000_000 || rep.Records != rep.Rows || rep.Rows == 0 {
		t.Fatalf("report %+v for a file of %d bytes", rep, len(data))
	}
	tbl, err := pickleload.Load(data, pickleload.Options{})
	if err != nil || tbl.NumRows != rep.Rows {
		t.Fatalf("Load: %v (rows %v, want %d)", err, tbl, rep.Rows)
	}
	f, err := os.Open(expect)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := picklegen.Compare(f, picklegen.Spec{Rows: rep.Rows, Dim: 8, Seed: 3}.Source(), picklegen.Records); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"--out", out}, // neither --rows nor --size
		{"--out", out, "--rows", "3", "--size", "1M"}, // both
		{"--rows", "3"}, // no --out
		{"--out", out, "--rows", "3", "--shape", "csv"}, // unknown shape
		{"--out", filepath.Join(dir, "no", "such", "dir", "f.pkl"), "--rows", "3"},
	} {
		if err := run(context.Background(), args, &stdout); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := run(ctx, []string{"--out", out + "2", "--rows", "100000"}, &stdout); err == nil {
		t.Error("run with a cancelled context: no error")
	}
	if _, err := os.Stat(out + "2.tmp"); !os.IsNotExist(err) {
		t.Errorf("the temporary file is left: %v", err)
	}
}
