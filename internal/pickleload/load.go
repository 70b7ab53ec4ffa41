package pickleload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"unsafe"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"

	"github.com/embedstream/embedstream/internal/table"
)

// Default limits; see [Options].
const (
	// DefaultDecodedFactor and DefaultDecodedSlack give the default
	// MaxDecodedBytes: DefaultDecodedFactor x input size + DefaultDecodedSlack.
	DefaultDecodedFactor = 8
	DefaultDecodedSlack  = 64 << 20
	// DefaultMaxDepth is the default nesting limit.
	DefaultMaxDepth = 256
	// DefaultMaxMemo is the default limit on memo entries.
	DefaultMaxMemo = 1 << 24
)

// Options bound a load. The zero value means the defaults.
type Options struct {
	// MaxDecodedBytes bounds the estimated size of everything the pickle
	// decodes to (payload bytes plus a fixed cost per object, memo entry
	// and MARK) and, separately, the work of converting it to a table
	// (values visited plus bytes of JSON text written). 0 means
	// DefaultDecodedFactor x len(data) + DefaultDecodedSlack.
	MaxDecodedBytes int64
	// MaxDepth bounds the MARK stack and the nesting of values converted to
	// JSON. 0 means DefaultMaxDepth.
	MaxDepth int
	// MaxMemo bounds the number of memo entries. 0 means DefaultMaxMemo.
	MaxMemo int
	// MemoryBudget is the memory [Open] may use for a file: a file whose
	// eager load would need more is read in windows. 0: no budget (always
	// eager). Load ignores it.
	MemoryBudget int64
	// KeyColumn names the leading column that holds the keys of a dict
	// keyed by id (df.to_dict("index") or df.to_dict(); see the package
	// doc, Shapes), e.g. the domain's id field "recruit_id"; "" or a name
	// the dict's columns already use: "index" (then "level_0"). It also
	// tells the orientation of such a dict when one side's keys hold it.
	KeyColumn string
}

func (o Options) withDefaults(n int) Options {
	if o.MaxDecodedBytes <= 0 {
		o.MaxDecodedBytes = DefaultDecodedFactor*int64(n) + DefaultDecodedSlack
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxMemo <= 0 {
		o.MaxMemo = DefaultMaxMemo
	}
	return o
}

// Load decodes the pickle in data into a table without executing any pickle
// code. The table aliases data (strings, bytes and float32 vectors are
// slices of it): do not modify data while the table is in use.
//
// Every error about the content satisfies errors.Is(err, [ErrInvalid]) and
// one of [ErrRefused], [ErrLimit], [ErrUnsupported], [ErrMalformed]; it is a
// *[Error] carrying the offset, opcode, column and row where known.
func Load(data []byte, opts Options) (*table.Table, error) {
	return load(data, opts, pathAuto)
}

// decodePath selects the interpreter; tests force one to compare them.
type decodePath uint8

const (
	pathAuto     decodePath = iota // the fast path unless the pickle builds objects
	pathGopickle                   // always gopickle
)

func load(data []byte, opts Options, path decodePath) (t *table.Table, err error) {
	opts = opts.withDefaults(len(data))
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, recoveredErr(r)
		}
	}()
	t, end, used, err := loadPart(data, opts, path, usage{})
	if err != nil || !morePickles(data, end) {
		return t, err
	}
	return loadParts(data, opts, path, t, end, used)
}

// loadPart loads the pickle at the start of data (opts with defaults; used:
// what earlier pickles of the file used of the limits). It returns the
// table, where the pickle ends, and what the file has used of the limits
// with it.
func loadPart(data []byte, opts Options, path decodePath, used usage) (*table.Table, int, usage, error) {
	sr, err := scanPart(data, opts, used.decoded)
	if err != nil {
		return nil, 0, used, err
	}
	var v any
	if sr.objects || path == pathGopickle {
		v, err = unpickle(sr, nil)
	} else {
		v, err = (&fastVM{data: sr.data}).run()
	}
	if err != nil {
		return nil, 0, used, err
	}
	c := newConv(opts)
	c.work -= used.work
	t, err := c.toTable(v)
	if err != nil {
		return nil, 0, used, err
	}
	if err := checkNames(t); err != nil {
		return nil, 0, used, err
	}
	if err := finiteVectors(t); err != nil {
		return nil, 0, used, err
	}
	if err := t.Validate(); err != nil {
		return nil, 0, used, &Error{Kind: ErrUnsupported, Offset: -1, Row: -1, Msg: "the data does not form a valid table", Err: err}
	}
	// Every string came from text the pre-pass checked to be UTF-8, from
	// decoded escapes (runes), or from the canonical JSON writer (which
	// writes invalid bytes as U+FFFD): the encoder need not check again.
	for _, col := range t.Columns {
		col.ValidUTF8 = true
	}
	return t, len(sr.data), usage{decoded: sr.decoded, work: opts.MaxDecodedBytes - c.work}, nil
}

// LoadFile reads the file at path with [ReadFile] and calls [Load]. A read
// failure is returned wrapped and does not satisfy [ErrInvalid] (it may be
// transient).
func LoadFile(path string, opts Options) (*table.Table, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Load(data, opts)
}

// ReadFile reads the whole file at path, like os.ReadFile, into Go
// memory the GC frees with the table that aliases it. (The worker reads
// into internal/filebuf buffers instead, which it frees itself.) Errors are
// I/O errors, wrapped; none satisfies [ErrInvalid]. A file that shrinks
// between its Stat and the read is io.ErrUnexpectedEOF (retryable).
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pickleload: read %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("pickleload: read %s: %w", path, err)
	}
	size := fi.Size()
	if size <= 0 || size > math.MaxInt-8 {
		// unknown size (a pipe) or absurd: plain read
		data, err := io.ReadAll(f)
		if err != nil {
			return nil, fmt.Errorf("pickleload: read %s: %w", path, err)
		}
		return data, nil
	}
	buf := make([]byte, size)
	if err := readFull(f, buf, path); err != nil {
		return nil, err
	}
	return buf, nil
}

// spliceReader serves the input with the pre-pass's edits applied, and
// knows the input offset it has reached (for error positions).
type spliceReader struct {
	data  []byte
	edits chunked[edit]
	extra []edit // a second sorted edit list, merged by offset
	drops []int  // memo writes to skip
	ei    int    // next edit
	xi    int    // next extra edit
	nd    int    // next drop
	pos   int    // offset in data
	repl  []byte // rest of the replacement being served
}

// pending returns the next edit by offset, or nil.
func (r *spliceReader) pending() *edit {
	var e *edit
	if r.ei < r.edits.len() {
		e = r.edits.at(r.ei)
	}
	if r.xi < len(r.extra) && (e == nil || r.extra[r.xi].at < e.at) {
		return &r.extra[r.xi]
	}
	return e
}

func (r *spliceReader) advance() bool {
	for len(r.repl) == 0 {
		if e := r.pending(); e != nil && r.pos == e.at {
			r.repl, r.pos = e.repl, e.end
			if r.xi < len(r.extra) && e == &r.extra[r.xi] {
				r.xi++
			} else {
				r.ei++
			}
			continue
		}
		if r.nd < len(r.drops) && r.pos == r.drops[r.nd] {
			r.pos += memoOpLen(r.data, r.pos)
			r.nd++
			continue
		}
		return r.pos < len(r.data)
	}
	return true
}

// memoOpLen is the length of the memo-writing opcode at data[at].
func memoOpLen(data []byte, at int) int {
	switch data[at] {
	case opBinPut:
		return 2
	case opLongBinPut:
		return 5
	case opPut:
		return bytes.IndexByte(data[at:], '\n') + 1
	}
	return 1 // MEMOIZE
}

// limit is where the current run of unedited input ends.
func (r *spliceReader) limit() int {
	l := len(r.data)
	if e := r.pending(); e != nil {
		l = e.at
	}
	if r.nd < len(r.drops) && r.drops[r.nd] < l {
		l = r.drops[r.nd]
	}
	return l
}

func (r *spliceReader) Read(p []byte) (int, error) {
	if !r.advance() {
		return 0, io.EOF
	}
	if len(r.repl) > 0 {
		n := copy(p, r.repl)
		r.repl = r.repl[n:]
		return n, nil
	}
	n := copy(p, r.data[r.pos:r.limit()])
	r.pos += n
	return n, nil
}

func (r *spliceReader) ReadByte() (byte, error) {
	if !r.advance() {
		return 0, io.EOF
	}
	if len(r.repl) > 0 {
		c := r.repl[0]
		r.repl = r.repl[1:]
		return c, nil
	}
	c := r.data[r.pos]
	r.pos++
	return c, nil
}

// aliasString returns b as a string without copying. The loader's input is
// never modified (see [Load]), so the string stays valid.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// unpickle runs gopickle over the pre-checked stream with the loader's
// hooks. Placeholder i of a skeleton decode (persistent id -1-i) is
// seqs[i].
func unpickle(sr scanResult, seqs []*lazySeq) (any, error) {
	r := &spliceReader{data: sr.data, pos: sr.start, edits: sr.edits, extra: sr.extra, drops: sr.drops}
	u := pickle.NewUnpickler(r)
	u.FindClass = findClass
	u.PersistentLoad = func(id any) (any, error) {
		i, ok := id.(int)
		if ok && i < 0 && -1-i < len(seqs) {
			return seqs[-1-i], nil
		}
		if !ok || i < 0 || i >= sr.bufs.len() {
			return nil, newErr(ErrMalformed, -1, "BINPERSID", "bad buffer reference")
		}
		b := *sr.bufs.at(i)
		switch *sr.bufKind.at(i) {
		case opByteArray8:
			return types.NewByteArrayFromSlice(b), nil
		case opBinUnicode:
			return aliasString(b), nil
		case bufJoblibRaw:
			return &joblibData{raw: b}, nil
		case bufJoblibSub:
			v, err := unpickle(sr.jb[i], nil)
			if err != nil {
				return nil, err
			}
			return &joblibData{obj: v, sub: true}, nil
		}
		return b, nil
	}
	u.MakeReadOnly = func(v any) (any, error) { return v, nil }
	v, err := u.Load()
	if err != nil {
		off := int64(r.pos)
		var e *Error
		if errors.As(err, &e) {
			if e.Offset < 0 {
				e.Offset = off
			}
			return nil, e
		}
		return nil, &Error{Kind: ErrMalformed, Offset: off, Row: -1, Msg: "unpickling failed", Err: err}
	}
	return v, nil
}

// checkNames refuses empty and duplicate column names (pandas allows both).
func checkNames(t *table.Table) error {
	seen := make(map[string]bool, len(t.Columns))
	for i, c := range t.Columns {
		if c.Name == "" {
			return colErr(ErrUnsupported, "", -1, "column %d has an empty name", i)
		}
		if seen[c.Name] {
			return colErr(ErrUnsupported, c.Name, -1, "duplicate column name")
		}
		seen[c.Name] = true
	}
	return nil
}
