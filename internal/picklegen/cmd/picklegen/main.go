// Command picklegen writes a generated recruit pickle (internal/picklegen)
// and, optionally, the canonical JSONL a loader must make of it, in memory
// independent of the size, and prints one JSON line of figures.
//
//	picklegen --shape frame|records|matrix (--rows N | --size BYTES) [--dim D] [--seed S]
//	          --out FILE [--expect FILE]
//
// --size takes a number with an optional k, M or G suffix (powers of 1000):
// the rows are chosen so the file is at least that long. The file (and the
// JSONL) are written to a temporary name beside it and renamed when
// complete. The figures: rows, dim, bytes, seconds, MB/s, the expected
// JSONL's summary (with --expect) and the process's peak RSS (VmHWM, KiB).
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/embedstream/embedstream/internal/picklegen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "picklegen:", err)
		os.Exit(1)
	}
}

type report struct {
	Shape      string  `json:"shape"`
	Rows       int     `json:"rows"`
	Dim        int     `json:"dim"`
	Seed       uint64  `json:"seed"`
	File       string  `json:"file"`
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	MBps       float64 `json:"mb_per_s"`
	Expect     string  `json:"expect,omitempty"`
	Records    int     `json:"expect_records,omitempty"`
	JSONLBytes int64   `json:"expect_bytes,omitempty"`
	SHA256     string  `json:"expect_sha256,omitempty"`
	ExpectSecs float64 `json:"expect_seconds,omitempty"`
	PeakRSSKiB int64   `json:"peak_rss_kib"`
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("picklegen", flag.ContinueOnError)
	shapeName := fs.String("shape", "frame", "frame (pandas DataFrame, protocol 5), records (list of dicts, protocol 4) or matrix (float32 ndarray, protocol 5)")
	rows := fs.Int("rows", 0, "rows to write")
	size := fs.String("size", "", "write at least this many bytes instead of --rows (suffix k, M, G: powers of 1000)")
	dim := fs.Int("dim", 384, "embedding dimension")
	seed := fs.Uint64("seed", 1, "seed of the rows")
	out := fs.String("out", "", "the pickle to write")
	expect := fs.String("expect", "", "also write the expected canonical JSONL here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	shape, err := picklegen.ParseShape(*shapeName)
	if err != nil {
		return err
	}
	if *out == "" || (*rows > 0) == (*size != "") {
		return errors.New("want --out and exactly one of --rows and --size")
	}
	if *size != "" {
		target, err := parseSize(*size)
		if err != nil {
			return err
		}
		if *rows, err = picklegen.RowsFor(target, *dim, *seed, shape); err != nil {
			return err
		}
	}
	spec := picklegen.Spec{Rows: *rows, Dim: *dim, Seed: *seed}
	rep := report{Shape: shape.String(), Rows: spec.Rows, Dim: spec.Dim, Seed: spec.Seed, File: *out}

	start := time.Now()
	err = writeFile(ctx, *out, func(w io.Writer) error {
		n, err := picklegen.Write(w, spec.Source(), shape)
		rep.Bytes = n
		return err
	})
	if err != nil {
		return err
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.MBps = float64(rep.Bytes) / 1e6 / rep.Seconds

	if *expect != "" {
		start = time.Now()
		err = writeFile(ctx, *expect, func(w io.Writer) error {
			s, err := picklegen.WriteJSONL(w, spec.Source(), shape)
			rep.Records, rep.JSONLBytes, rep.SHA256 = s.Records, s.Bytes, hex.EncodeToString(s.SHA256)
			return err
		})
		if err != nil {
			return err
		}
		rep.Expect, rep.ExpectSecs = *expect, time.Since(start).Seconds()
	}
	rep.PeakRSSKiB = peakRSS()
	return json.NewEncoder(stdout).Encode(rep)
}

// writeFile writes path through write, under a temporary name renamed when
// complete; a cancelled ctx stops the writes.
func writeFile(ctx context.Context, path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = write(ctxWriter{ctx, f})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", path, err), os.Remove(tmp))
	}
	return nil
}

// ctxWriter fails its writes once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(b)
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1e9, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("bad --size %q", s)
	}
	return int64(f * float64(mult)), nil
}

// peakRSS is the process's VmHWM in KiB, or 0 where /proc is missing.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
