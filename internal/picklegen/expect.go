package picklegen

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/table"
)

// Summary identifies a canonical JSONL stream without holding it.
type Summary struct {
	Records int    // lines
	Bytes   int64  // length in bytes
	SHA256  []byte // digest of the bytes
}

// String prints the summary as "N records, B bytes, sha256 H".
func (s Summary) String() string {
	return fmt.Sprintf("%d records, %d bytes, sha256 %s", s.Records, s.Bytes, hex.EncodeToString(s.SHA256))
}

// Equal reports whether two summaries are of the same bytes.
func (s Summary) Equal(o Summary) bool {
	return s.Records == o.Records && s.Bytes == o.Bytes && bytes.Equal(s.SHA256, o.SHA256)
}

// expectBatch is how many rows one table of expected records holds.
const expectBatch = 2048

// WriteJSONL writes the canonical JSONL (../shared/CANONICAL.md) of what a
// loader must make of src written in the given shape, with
// internal/canonical's writer on tables of a few thousand rows: the
// DataFrame and the records give the same lines (the columns in order,
// location null where missing, created_at a TIMESTAMP, the rest as typed),
// the matrix one "embedding" per line. The batches are made on every CPU
// when src can be cloned (the sources of [Spec.Source] and [FromTable]
// can), on one otherwise. Memory does not depend on the row count (a few
// batches in flight, about 9 MiB each at 384 dimensions). It returns the
// summary of what it wrote, and the first error of w or one wrapping
// [ErrShape].
func WriteJSONL(w io.Writer, src Source, shape Shape) (Summary, error) {
	if err := checkShape(src); err != nil {
		return Summary{}, err
	}
	if shape < Frame || shape > Matrix {
		return Summary{}, fmt.Errorf("%w: %v", ErrShape, shape)
	}
	sources := []Source{src}
	if c, ok := src.(cloner); ok {
		for range runtime.GOMAXPROCS(0) - 1 {
			sources = append(sources, c.clone())
		}
	}
	d := &digester{h: sha256.New()}
	out := io.MultiWriter(w, d)
	err := formatBatches(sources, shape, func(b []byte) error {
		_, err := out.Write(b)
		return err
	})
	if err != nil {
		return Summary{}, err
	}
	return Summary{Records: d.lines, Bytes: d.n, SHA256: d.h.Sum(nil)}, nil
}

// cloner is a Source that gives independent copies of itself, to be read
// by several goroutines at once.
type cloner interface{ clone() Source }

func (g *generator) clone() Source   { return g.spec.Source() }
func (s *tableSource) clone() Source { return s } // Fill only reads the table

// formatBatches formats the rows of sources[0] (all sources give the same
// rows) in batches of expectBatch rows, one goroutine per source, and
// hands the batches to emit in order; emit's first error stops it.
func formatBatches(sources []Source, shape Shape, emit func([]byte) error) error {
	type job struct {
		lo, hi int
		out    chan []byte
	}
	var (
		n       = sources[0].Rows()
		jobs    = make(chan job)
		order   = make(chan job, len(sources)) // batches in flight, in order
		free    = make(chan []byte, 2*len(sources)+1)
		done    = make(chan struct{})
		failure = make(chan error, len(sources))
		wg      sync.WaitGroup
	)
	for _, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var t expectTable
			t.init(shape, src.Dim())
			for j := range jobs {
				t.fill(src, j.lo, j.hi)
				var buf []byte
				select {
				case buf = <-free:
				default:
				}
				b := bytes.NewBuffer(buf[:0])
				if err := canonical.WriteRows(b, &t.t, 0, t.t.NumRows); err != nil {
					failure <- fmt.Errorf("picklegen: expected rows %d..%d: %w", j.lo, j.hi, err)
					close(j.out)
					continue
				}
				j.out <- b.Bytes()
			}
		}()
	}
	go func() {
		defer close(order)
		defer close(jobs)
		for lo := 0; lo < n; lo += expectBatch {
			j := job{lo: lo, hi: min(lo+expectBatch, n), out: make(chan []byte, 1)}
			select {
			case order <- j:
			case <-done:
				return
			}
			select {
			case jobs <- j:
			case <-done:
				return
			}
		}
	}()
	var err error
	for j := range order {
		b, ok := <-j.out
		if !ok {
			err = <-failure
			break
		}
		if err = emit(b); err != nil {
			err = fmt.Errorf("picklegen: write expected rows %d..%d: %w", j.lo, j.hi, err)
			break
		}
		select {
		case free <- b:
		default:
		}
	}
	close(done)
	for range order { // let the producer and the workers end
	}
	wg.Wait()
	return err
}

// Expect returns the summary of [WriteJSONL]'s output without keeping it.
func Expect(src Source, shape Shape) (Summary, error) {
	return WriteJSONL(io.Discard, src, shape)
}

// Summarize reads r to the end and returns its summary, for comparing a
// JSONL file with [Expect].
func Summarize(r io.Reader) (Summary, error) {
	d := &digester{h: sha256.New()}
	if _, err := io.Copy(d, r); err != nil {
		return Summary{}, fmt.Errorf("picklegen: summarize: %w", err)
	}
	if d.n > 0 && !d.endsLine {
		d.lines++ // a last line without its newline still counts
	}
	return Summary{Records: d.lines, Bytes: d.n, SHA256: d.h.Sum(nil)}, nil
}

// Compare compares the canonical JSONL got with the expected lines of src
// in the given shape by the canonical rules ([canonical.Compare]: numbers
// within a relative 1e-6, everything else exactly), streaming both: it
// returns nil when they agree, or an error naming the first line that
// differs.
func Compare(got io.Reader, src Source, shape Shape) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(pw, 1<<20)
		_, err := WriteJSONL(bw, src, shape)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	err := canonical.Compare(got, pr)
	// Unblock the writer if the comparison stopped early.
	pr.CloseWithError(io.ErrClosedPipe)
	if werr := <-done; werr != nil && err == nil && !errors.Is(werr, io.ErrClosedPipe) {
		return fmt.Errorf("picklegen: expected lines: %w", werr)
	}
	if err != nil {
		return fmt.Errorf("picklegen: %v rows of %d: %w", shape, src.Rows(), err)
	}
	return nil
}

// digester counts and hashes what passes through it.
type digester struct {
	h        hash.Hash
	n        int64
	lines    int
	endsLine bool
}

func (d *digester) Write(b []byte) (int, error) {
	d.h.Write(b)
	d.n += int64(len(b))
	d.lines += bytes.Count(b, []byte{'\n'})
	if len(b) > 0 {
		d.endsLine = b[len(b)-1] == '\n'
	}
	return len(b), nil
}

// expectTable is one batch of expected records as a table, its slices
// reused from batch to batch.
type expectTable struct {
	t    table.Table
	cols []*table.Column
	row  Recruit
}

func (b *expectTable) init(shape Shape, dim int) {
	types := [...]table.Type{table.TypeString, table.TypeString, table.TypeString, table.TypeString, table.TypeString,
		table.TypeStringList, table.TypeInt64, table.TypeTimestamp, table.TypeFloatVector}
	for k, name := range Columns {
		if shape == Matrix && name != "embedding" {
			continue
		}
		c := &table.Column{Field: table.Field{Name: name, Type: types[k], Nullable: name == "location"}}
		if types[k] == table.TypeFloatVector {
			c.VectorDim = dim
		}
		b.cols = append(b.cols, c)
	}
	b.t.Columns = b.cols
}

func (b *expectTable) fill(src Source, lo, hi int) {
	for _, c := range b.cols {
		c.Strings, c.StringLists, c.Int64s, c.Vectors, c.Nulls = c.Strings[:0], c.StringLists[:0], c.Int64s[:0], c.Vectors[:0], c.Nulls[:0]
	}
	fields := AllFields
	if len(b.cols) == 1 {
		fields = FieldEmbedding
	}
	r := &b.row
	for i := lo; i < hi; i++ {
		src.Fill(i, fields, r)
		for _, c := range b.cols {
			switch c.Name {
			case "recruit_id":
				c.Strings = append(c.Strings, string(r.ID))
			case "title":
				c.Strings = append(c.Strings, r.Title)
			case "company":
				c.Strings = append(c.Strings, r.Company)
			case "description":
				c.Strings = append(c.Strings, string(r.Description))
			case "location":
				c.Strings = append(c.Strings, r.Location)
				if r.NoLocation {
					c.Nulls = append(c.Nulls, i-lo)
				}
			case "skills":
				c.StringLists = append(c.StringLists, append([]string(nil), r.Skills...))
			case "min_career_years":
				c.Int64s = append(c.Int64s, r.MinCareerYears)
			case "created_at":
				c.Int64s = append(c.Int64s, r.CreatedAt)
			case "embedding":
				c.Vectors = append(c.Vectors, r.Embedding...)
			}
		}
	}
	b.t.NumRows = hi - lo
}
