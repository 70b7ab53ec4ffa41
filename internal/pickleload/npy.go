package pickleload

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/embedstream/embedstream/internal/table"
)

// npyMagic starts every NumPy .npy file.
const npyMagic = "\x93NUMPY"

// maxNPYHeader bounds a .npy header, as numpy.load's max_header_size does
// by default (larger headers only describe structured dtypes, refused
// anyway).
const maxNPYHeader = 10000

// LoadNPY decodes a NumPy .npy file (np.save) in data into a table,
// natively: the header (format versions 1.0, 2.0 and 3.0) is parsed
// strictly, and the array becomes a table exactly as the same array
// pickled does in [Load]: a 2-D numeric array is one FLOAT_VECTOR column
// "embedding" (float32 values keep their bits; little-endian C-ordered
// float32 rows alias data, as RawVectors), a 1-D array one column "value"
// typed by its dtype. The table aliases data: do not modify it while the
// table is in use.
//
// Refused: an object array (its data is a pickle, written with
// allow_pickle=True: ErrRefused), a structured or void dtype and an array
// of more than two dimensions (ErrUnsupported), bytes after the array
// (several arrays saved to one file, of which numpy.load reads only the
// first: ErrUnsupported), a header that is not numpy's dict literal or
// data shorter than the header's shape says (ErrMalformed). Errors are
// *[Error]s satisfying [ErrInvalid], as [Load]'s.
func LoadNPY(data []byte, opts Options) (t *table.Table, err error) {
	opts = opts.withDefaults(len(data))
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, recoveredErr(r)
		}
	}()
	a, err := parseNPY(data, "NumPy .npy file")
	if err != nil {
		return nil, err
	}
	c := newConv(opts)
	t, err = c.arrayTable(a)
	if err != nil {
		return nil, err
	}
	return finishTable(t)
}

// finishTable applies Load's final checks to a table built from arrays.
func finishTable(t *table.Table) (*table.Table, error) {
	if err := checkNames(t); err != nil {
		return nil, err
	}
	if err := finiteVectors(t); err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, &Error{Kind: ErrUnsupported, Offset: -1, Row: -1, Msg: "the data does not form a valid table", Err: err}
	}
	// Strings come from decoded runes (invalid ones replaced) and names
	// from checked UTF-8: the encoder need not check again.
	for _, col := range t.Columns {
		col.ValidUTF8 = true
	}
	return t, nil
}

// npyHeader is a parsed .npy header.
type npyHeader struct {
	descr   string
	fortran bool
	shape   []int
	dataAt  int // offset of the array data
}

// parseNPY parses the .npy file in data (what names it in messages) and
// returns its array, whose raw bytes alias data.
func parseNPY(data []byte, what string) (*ndarray, error) {
	h, err := parseNPYHeader(data, what)
	if err != nil {
		return nil, err
	}
	dt, err := npyDtype(h.descr, what)
	if err != nil {
		return nil, err
	}
	a := &ndarray{dtype: dt, shape: h.shape, fortran: h.fortran}
	n := int64(1)
	for _, d := range h.shape {
		if d != 0 && n > math.MaxInt64/16/int64(d) {
			return nil, newErr(ErrLimit, -1, "", "%s: an array of shape %v is too large", what, h.shape)
		}
		n *= int64(d)
	}
	want := n * int64(dt.size)
	if dt.size != 0 && want/int64(dt.size) != n {
		return nil, newErr(ErrLimit, -1, "", "%s: an array of shape %v is too large", what, h.shape)
	}
	have := int64(len(data) - h.dataAt)
	switch {
	case have < want:
		return nil, newErr(ErrMalformed, int64(h.dataAt), "", "truncated %s: %d bytes of array data, its header (shape %v, dtype %s) needs %d; write the file again",
			what, have, h.shape, h.descr, want)
	case have > want:
		return nil, newErr(ErrUnsupported, int64(h.dataAt+int(want)), "", "%s: %d bytes follow its array (several arrays saved to one file with repeated np.save calls? "+
			"numpy.load reads only the first): save one array per file, or all of them with np.savez", what, have-want)
	}
	a.raw = data[h.dataAt : h.dataAt+int(want) : h.dataAt+int(want)]
	if err := a.check(); err != nil {
		return nil, err
	}
	return a, nil
}

// parseNPYHeader reads the magic, version and header dict of a .npy file:
// {'descr': <str>, 'fortran_order': <bool>, 'shape': <tuple of ints>}, the
// three keys exactly, as numpy.lib.format writes and requires them.
func parseNPYHeader(data []byte, what string) (npyHeader, error) {
	if len(data) < 10 || string(data[:6]) != npyMagic {
		return npyHeader{}, newErr(ErrMalformed, 0, "", "%s: no .npy magic (\\x93NUMPY) at its start", what)
	}
	major, minor := data[6], data[7]
	var hlen, at int
	switch {
	case major == 1 && minor == 0:
		hlen, at = int(binary.LittleEndian.Uint16(data[8:])), 10
	case (major == 2 || major == 3) && minor == 0:
		if len(data) < 12 {
			return npyHeader{}, newErr(ErrMalformed, 8, "", "truncated %s: the header length is cut short", what)
		}
		n := binary.LittleEndian.Uint32(data[8:])
		if n > maxNPYHeader {
			return npyHeader{}, newErr(ErrLimit, 8, "", "%s: a header of %d bytes (numpy.load's own limit is %d)", what, n, maxNPYHeader)
		}
		hlen, at = int(n), 12
	default:
		return npyHeader{}, newErr(ErrUnsupported, 6, "", "%s: format version %d.%d (1.0, 2.0 and 3.0 are read)", what, major, minor)
	}
	if hlen > maxNPYHeader {
		return npyHeader{}, newErr(ErrLimit, 8, "", "%s: a header of %d bytes (numpy.load's own limit is %d)", what, hlen, maxNPYHeader)
	}
	if len(data)-at < hlen {
		return npyHeader{}, newErr(ErrMalformed, int64(at), "", "truncated %s: its header of %d bytes is cut short", what, hlen)
	}
	p := &npyParser{s: data[at : at+hlen], base: at, what: what, legacy: major < 3}
	h, err := p.header()
	if err != nil {
		return npyHeader{}, err
	}
	h.dataAt = at + hlen
	return h, nil
}

// npyParser parses the Python dict literal of a .npy header.
type npyParser struct {
	s      []byte
	i      int
	base   int // offset of s in the file
	what   string
	legacy bool // versions 1 and 2: ints may carry Python 2's L suffix
}

func (p *npyParser) fail(format string, args ...any) error {
	return newErr(ErrMalformed, int64(p.base+p.i), "", "%s: header is not numpy's dict literal: %s", p.what, fmt.Sprintf(format, args...))
}

func (p *npyParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *npyParser) eat(c byte) bool {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *npyParser) header() (npyHeader, error) {
	var h npyHeader
	if !p.eat('{') {
		return h, p.fail("no opening brace")
	}
	seen := map[string]bool{}
	for {
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if seen[key] {
			return h, p.fail("the key %q twice", key)
		}
		seen[key] = true
		if !p.eat(':') {
			return h, p.fail("no colon after %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if p.i < len(p.s) && p.s[p.i] == '[' {
				return h, newErr(ErrUnsupported, int64(p.base+p.i), "", "%s: a structured dtype (record array, one field per column); "+
					"save each field as its own array with np.savez, or the table with df.to_pickle", p.what)
			}
			if h.descr, err = p.str(); err != nil {
				return h, err
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				h.fortran = true
			case p.word("False"):
			default:
				return h, p.fail("fortran_order is not True or False")
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return h, err
			}
		default:
			return h, p.fail("an unexpected key %q", key)
		}
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			break
		}
		return h, p.fail("no comma or closing brace after %q", key)
	}
	p.space()
	if p.i != len(p.s) {
		return h, p.fail("text after the closing brace")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, p.fail("no %q key", k)
		}
	}
	return h, nil
}

// word consumes the identifier w.
func (p *npyParser) word(w string) bool {
	if strings.HasPrefix(string(p.s[p.i:]), w) {
		end := p.i + len(w)
		if end == len(p.s) || !isIdentByte(p.s[end]) {
			p.i = end
			return true
		}
	}
	return false
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// str parses a quoted string of printable ASCII without escapes (all a
// header's keys and simple descrs are).
func (p *npyParser) str() (string, error) {
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '\'' && p.s[p.i] != '"' {
		return "", p.fail("a string expected")
	}
	q := p.s[p.i]
	start := p.i + 1
	for j := start; j < len(p.s); j++ {
		c := p.s[j]
		switch {
		case c == q:
			p.i = j + 1
			return string(p.s[start:j]), nil
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return "", p.fail("an escaped or non-ASCII string")
		}
	}
	return "", p.fail("an unterminated string")
}

// tuple parses a shape: "()", "(3,)", "(3, 4)".
func (p *npyParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, p.fail("shape is not a tuple")
	}
	shape := []int{}
	for {
		if p.eat(')') {
			return shape, nil // () or a trailing comma
		}
		p.space()
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		n, err := strconv.ParseInt(string(p.s[start:p.i]), 10, 64)
		if err != nil || n > math.MaxInt32*64 || p.i-start > 1 && p.s[start] == '0' {
			return nil, p.fail("a bad dimension %.20q in shape", p.s[start:p.i])
		}
		if p.legacy && p.i < len(p.s) && p.s[p.i] == 'L' {
			p.i++ // Python 2's long
		}
		shape = append(shape, int(n))
		if len(shape) > 32 {
			return nil, p.fail("shape of more than 32 dimensions")
		}
		if p.eat(',') {
			continue
		}
		if p.eat(')') {
			if len(shape) == 1 {
				return nil, p.fail("shape (n) is not a tuple (want (n,))")
			}
			return shape, nil
		}
		return nil, p.fail("no comma or closing parenthesis in shape")
	}
}

// npyDtype decodes a simple dtype descr ("<f4", "|b1", "<U5", "<M8[ns]")
// into the loader's dtype; what names the file in messages.
func npyDtype(descr, what string) (*dtype, error) {
	bad := func() error {
		return newErr(ErrMalformed, -1, "", "%s: a bad dtype %.40q in its header", what, descr)
	}
	if descr == "" {
		return nil, bad()
	}
	d := &dtype{}
	s := descr
	switch s[0] {
	case '<', '|':
		s = s[1:]
	case '>':
		d.big = true
		s = s[1:]
	case '=':
		d.big = !hostLittleEndian
		s = s[1:]
	}
	if s == "" {
		return nil, bad()
	}
	d.kind = s[0]
	if d.kind == 'a' {
		d.kind = 'S' // numpy's old alias
	}
	rest := s[1:]
	if d.kind == 'M' || d.kind == 'm' {
		if i := strings.IndexByte(rest, '['); i >= 0 {
			if !strings.HasSuffix(rest, "]") {
				return nil, bad()
			}
			d.unit = rest[i+1 : len(rest)-1]
			rest = rest[:i]
		}
	}
	switch d.kind {
	case 'O':
		return nil, newErr(ErrRefused, -1, "", "%s: an object array (dtype %s) whose data is a pickle (saved with allow_pickle=True), "+
			"which is not loaded: save a numeric or string array, or the table with df.to_pickle", what, descr)
	case 'V':
		return nil, newErr(ErrUnsupported, -1, "", "%s: a void or structured dtype %.40q; save each field as its own array with np.savez", what, descr)
	case 'b', 'i', 'u', 'f', 'c', 'M', 'm', 'U', 'S':
	default:
		return nil, newErr(ErrUnsupported, -1, "", "%s: the dtype %.40q", what, descr)
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || n > 1<<30 || rest != strconv.Itoa(n) {
		return nil, bad()
	}
	d.size = n
	d.str = string(d.kind) + rest
	if d.unit != "" {
		d.str += "[" + d.unit + "]"
	}
	var sizes string // the item sizes numpy has for the kind
	switch d.kind {
	case 'U':
		d.size = 4 * n // characters of UCS-4
	case 'b':
		sizes = "1"
	case 'M', 'm':
		sizes = "8"
	case 'i', 'u':
		sizes = "1 2 4 8"
	case 'f':
		sizes = "2 4 8 12 16"
	case 'c':
		sizes = "8 16 24 32"
	}
	if sizes != "" && !strings.Contains(" "+sizes+" ", " "+rest+" ") {
		return nil, bad()
	}
	return d, nil
}
