// Package canonical writes and compares the canonical JSON form of records
// (one JSON object per record, JSONL), the one format shared by
// `publisher inspect --format jsonl`, the reference batch server's committed
// files and every fixture's expected output.
//
// # Rules
//
// Keys are column names in schema order; nulls are null; STRING is a JSON
// string; JSON is the value itself; INT64 is an exact integer; DOUBLE and
// FLOAT_VECTOR elements are the shortest text that reads back as the same
// float64 (float32 for vectors), written as encoding/json writes numbers;
// BOOL is true/false; TIMESTAMP is RFC 3339 UTC with six fractional digits and
// "Z"; BYTES is standard padded base64; STRING_LIST is an array of strings.
// Strings are written as UTF-8 without HTML escaping.
package canonical

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/embedstream/embedstream/internal/table"
)

// WriteTable writes every row of t to w as canonical JSONL.
func WriteTable(w io.Writer, t *table.Table) error {
	return WriteRows(w, t, 0, t.NumRows)
}

// WriteRows writes rows [lo, hi) of t to w as canonical JSONL.
func WriteRows(w io.Writer, t *table.Table, lo, hi int) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	// Per-column cursor into Nulls, so a row's null check is O(1).
	next := make([]int, len(t.Columns))
	for i, c := range t.Columns {
		next[i] = len(c.NullsIn(0, lo))
	}
	for r := lo; r < hi; r++ {
		buf = buf[:0]
		buf = append(buf, '{')
		for i, c := range t.Columns {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = AppendString(buf, c.Name)
			buf = append(buf, ':')
			if k := next[i]; k < len(c.Nulls) && c.Nulls[k] == r {
				next[i]++
				buf = append(buf, "null"...)
				continue
			}
			var err error
			buf, err = AppendValue(buf, c, r)
			if err != nil {
				return fmt.Errorf("canonical: column %q row %d: %w", c.Name, r, err)
			}
		}
		buf = append(buf, '}', '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// AppendValue appends the canonical JSON of row r of c (ignoring nulls: the
// caller checks them) to b.
func AppendValue(b []byte, c *table.Column, r int) ([]byte, error) {
	switch c.Type {
	case table.TypeString:
		return AppendString(b, c.Strings[r]), nil
	case table.TypeJSON:
		return append(b, c.Strings[r]...), nil
	case table.TypeInt64:
		return strconv.AppendInt(b, c.Int64s[r], 10), nil
	case table.TypeTimestamp:
		return AppendTimestamp(b, c.Int64s[r]), nil
	case table.TypeDouble:
		return AppendFloat(b, c.Doubles[r], 64), nil
	case table.TypeBool:
		return strconv.AppendBool(b, c.Bools[r]), nil
	case table.TypeBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, c.Bytes[r])
		return append(b, '"'), nil
	case table.TypeFloatVector:
		b = append(b, '[')
		for j := range c.VectorDim {
			if j > 0 {
				b = append(b, ',')
			}
			b = AppendFloat(b, float64(c.VectorElem(r, j)), 32)
		}
		return append(b, ']'), nil
	case table.TypeStringList:
		b = append(b, '[')
		for j, s := range c.StringLists[r] {
			if j > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, s)
		}
		return append(b, ']'), nil
	}
	return b, fmt.Errorf("unsupported type %s", c.Type)
}

// AppendTimestamp appends microseconds since the Unix epoch as a quoted RFC
// 3339 UTC time with exactly six fractional digits.
func AppendTimestamp(b []byte, us int64) []byte {
	t := time.UnixMicro(us).UTC()
	b = append(b, '"')
	b = t.AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	return append(b, '"')
}

// AppendFloat appends f as encoding/json would write a float of the given bit
// size: the shortest text that reads back as the same value, in plain
// notation for 1e-6 <= |f| < 1e21 and exponent notation otherwise. NaN and
// ±Inf, which the contract forbids, are written as null.
func AppendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string: UTF-8 kept as is (no HTML
// escaping), control characters, quote and backslash escaped, invalid UTF-8
// replaced by U+FFFD, and U+2028/U+2029 escaped as JavaScript needs.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
