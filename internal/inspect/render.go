package inspect

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/table"
)

const (
	// maxValueRunes is where the preview cuts a value's text.
	maxValueRunes = 72
	// vectorHead is how many leading elements of a vector the preview shows.
	vectorHead = 4
)

// schemaField is one line of --format schema.
type schemaField struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Nullable  bool   `json:"nullable"`
	VectorDim int    `json:"vector_dim,omitempty"`
}

// WriteSchema writes t's schema as a JSON array, one field object per line.
func WriteSchema(w io.Writer, t *table.Table) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	for i, f := range t.Schema() {
		b, err := json.Marshal(schemaField{Name: f.Name, Type: f.Type.String(), Nullable: f.Nullable, VectorDim: f.VectorDim})
		if err != nil {
			return fmt.Errorf("schema field %q: %w", f.Name, err)
		}
		if i > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n  ")
		bw.Write(b)
	}
	bw.WriteString("\n]\n")
	return bw.Flush()
}

// WritePreview writes the human-readable preview of t: a header (file,
// what the file is when format is not empty, e.g. "gzip-compressed
// pickle", row and column counts, the domain when one was checked), the
// schema, and the first limit rows with one field per line, long values
// cut and vectors abbreviated.
func WritePreview(w io.Writer, file, format, domain string, t *table.Table, limit int) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "file:    %s\n", printable(file))
	if format != "" {
		fmt.Fprintf(bw, "format:  %s\n", format)
	}
	fmt.Fprintf(bw, "rows:    %d\n", t.NumRows)
	fmt.Fprintf(bw, "columns: %d\n", len(t.Columns))
	if domain != "" {
		fmt.Fprintf(bw, "domain:  %s (checks passed)\n", domain)
	}

	bw.WriteString("\nschema:\n")
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tNAME\tTYPE\tNULLABLE\tDIM")
	for i, f := range t.Schema() {
		dim := ""
		if f.Type == table.TypeFloatVector {
			dim = strconv.Itoa(f.VectorDim)
		}
		nullable := "no"
		if f.Nullable {
			nullable = "yes"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", i+1, cut(f.Name, 40), f.Type, nullable, dim)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, line := range strings.SplitAfter(sb.String(), "\n") {
		if line != "" {
			bw.WriteString(strings.TrimRight(line, " \n"))
			bw.WriteByte('\n')
		}
	}

	n := min(limit, t.NumRows)
	switch {
	case t.NumRows == 0:
		bw.WriteString("\nno rows\n")
	case n == 0:
	case n < t.NumRows:
		fmt.Fprintf(bw, "\nrows (first %d of %d):\n", n, t.NumRows)
	default:
		fmt.Fprintf(bw, "\nrows (all %d):\n", t.NumRows)
	}
	width := 0
	for _, c := range t.Columns {
		width = max(width, utf8.RuneCountInString(cut(c.Name, 40)))
	}
	for r := range n {
		fmt.Fprintf(bw, "[%d]\n", r)
		for _, c := range t.Columns {
			name := cut(c.Name, 40)
			fmt.Fprintf(bw, "  %s%s  %s\n", name, strings.Repeat(" ", width-utf8.RuneCountInString(name)), previewValue(c, r))
		}
	}
	return bw.Flush()
}

// previewValue renders row r of c for the preview: canonical JSON cut to
// maxValueRunes, vectors as "[dim] first values …", nulls as null.
func previewValue(c *table.Column, r int) string {
	if c.IsNull(r) {
		return "null"
	}
	if c.Type == table.TypeFloatVector {
		v := c.Vector(r)
		var b []byte
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, "] "...)
		for i, f := range v[:min(vectorHead, len(v))] {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = canonical.AppendFloat(b, float64(f), 32)
		}
		if len(v) > vectorHead {
			b = append(b, ", …"...)
		}
		return string(b)
	}
	b, err := canonical.AppendValue(nil, c, r)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return cut(string(b), maxValueRunes)
}

// cut shortens s to at most n runes, ending in "…" when it was longer. A
// value stays on its line and cannot drive the terminal: line breaks and
// tabs become spaces, other non-printable runes (ESC, zero-width and
// bidi controls, ...) are shown as Go escapes (\x1b, \u200b).
func cut(s string, n int) string {
	s = printable(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, k := 0, 0
	for i = range s {
		if k == n-1 {
			break
		}
		k++
	}
	return s[:i] + "…"
}

// printable returns s safe to print on one terminal line: line breaks and
// tabs become spaces, other non-printable runes Go escapes.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}
