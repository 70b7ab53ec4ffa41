package pickleload

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/embedstream/embedstream/internal/table"
)

// The lazy path: the same table as Load, in windows, in bounded memory.
//
//  1. Index passes A and B (index.go) over the whole input: every check of
//     the eager pre-pass, the large sequences (lists and tuples of many
//     items) with a sparse index of their items, and where each read memo
//     key is defined.
//  2. Skeleton decode (skeleton.go): the eager pre-pass and gopickle over
//     the input with the chosen sequences replaced by placeholders
//     (*lazySeq), then the eager conversion, which makes a lazy column
//     (lazyCol) where it finds a placeholder in a place it can read in
//     parts: the element list of an object array (a DataFrame block, a
//     Series, an index), the top-level list of records, the lists of a
//     dict of columns. A placeholder anywhere else is put back into the
//     skeleton (decoded eagerly) and the skeleton decoded again.
//  3. Pass C: every item of every sequence is decoded once, window by
//     window (window.go), and the type inference of each lazy column
//     (infer.go) merged across windows: the final schema, and the errors
//     the eager conversion would give, with the same rows.
//  4. Window(lo, hi): the items of rows [lo, hi) are decoded again and
//     built with the final types.

// errNotLazy: the file cannot be loaded lazily (the reason follows).
var errNotLazy = errors.New("not loadable in bounded memory")

// lazyFile is the input and its index: enough to decode any items of a
// chosen sequence.
type lazyFile struct {
	data   []byte
	opts   Options // with defaults
	tune   lazyTuning
	idx    *leanIndex
	budget int64
	times  lazyTimes
	used   usage     // what earlier pickles of the file used of the limits
	synths sync.Pool // *[]byte: synthesized pickles' buffers for reuse (releaseSynth)
	// keeps is set once a Window kept its buffers (its values were most
	// of them: a DataFrame's raw vectors). The file's other windows are
	// alike, so they skip detach and take buffers of their exact size, as
	// before buffers were reused: nothing would come back to the pool.
	keeps atomic.Bool
}

// lazyTimes says how long each phase of Open took (benchmarks report it).
type lazyTimes struct {
	index, skeleton, passC time.Duration
}

// lazySeq is the skeleton's placeholder for a chosen sequence.
type lazySeq struct {
	q                *seqIndex
	claimed, misused bool
}

// touch marks v, when it is a placeholder, as used where the lazy path does
// not read sequences in parts: the skeleton is then decoded again with it.
func touch(v any) {
	if l, ok := v.(*lazySeq); ok {
		l.misused = true
	}
}

// touchArgs touches the arguments of a call.
func touchArgs(args []any) {
	for _, a := range args {
		touch(a)
	}
}

// Open reads the pickle in data as a [table.Source]: the table [Load] would return
// when it fits in opts.MemoryBudget (or the budget is 0), else a Source that
// decodes windows of rows on demand in bounded memory, with the same schema,
// values and errors as Load. Sources alias data: do not modify it while
// one is in use.
//
// Errors are those of [Load] (errors.Is(err, [ErrInvalid]) and one of
// [ErrRefused], [ErrLimit], [ErrUnsupported], [ErrMalformed]), plus an
// [ErrLimit] error for a file that needs more than the budget and is not
// one of the shapes the bounded-memory path reads (its message says why).
func Open(data []byte, opts Options) (table.Source, error) {
	return open(data, opts, defaultTuning())
}

func open(data []byte, opts Options, tune lazyTuning) (table.Source, error) {
	if opts.MemoryBudget <= 0 && !tune.force {
		return loadSource(data, opts)
	}
	if !tune.force && int64(len(data))*eagerFactor <= opts.MemoryBudget {
		return loadSource(data, opts)
	}
	o := opts.withDefaults(len(data)) // the file's limits, for each of its pickles
	src, end, used, err := openPart(data, o, tune, usage{})
	if err != nil || !morePickles(data, end) {
		return src, err
	}
	return openParts(data, o, tune, src, end, used)
}

// openPart opens the pickle at the start of data (opts with the file's
// limits; used: what earlier pickles used of them). It returns its Source,
// where it ends and what the file has used of the limits with it.
func openPart(data []byte, opts Options, tune lazyTuning, used usage) (table.Source, int, usage, error) {
	src, end, u, err := openLazy(data, opts, tune, used)
	if errors.Is(err, errJoblib) {
		src, end, u, err = openJoblib(data, opts, tune, used)
	}
	if errors.Is(err, errNotLazy) {
		if tune.force {
			return loadPartSource(data, opts, used) // tests: compare with what is lazy
		}
		return nil, 0, used, &Error{Kind: ErrLimit, Offset: -1, Row: -1, Msg: fmt.Sprintf("the file needs more memory than the budget of %d bytes and cannot be loaded in parts", opts.MemoryBudget), Err: err}
	}
	return src, end, u, err
}

// loadPartSource is loadPart as a Source.
func loadPartSource(data []byte, opts Options, used usage) (table.Source, int, usage, error) {
	t, end, u, err := loadPart(data, opts, pathAuto, used)
	if err != nil {
		return nil, 0, used, err
	}
	return tableSource{t}, end, u, nil
}

func loadSource(data []byte, opts Options) (table.Source, error) {
	t, err := Load(data, opts)
	if err != nil {
		return nil, err
	}
	return tableSource{t}, nil
}

// bytesPerReadKey is about what the lazy path holds per memo key read by a
// GET (its symbolic value and definition).
const bytesPerReadKey = 96

// eagerFactor: a file whose size times this is within the budget is loaded
// eagerly without an index pass (the eager path holds less than that).
const eagerFactor = 32

// openLazy opens the pickle at the start of data in bounded memory (see
// openPart): lazily, or loaded whole when that fits the budget.
func openLazy(data []byte, opts Options, tune lazyTuning, used usage) (src table.Source, end int, u usage, err error) {
	if !tune.force && int64(len(data))*eagerFactor <= opts.MemoryBudget {
		return loadPartSource(data, opts, used)
	}
	o := opts.withDefaults(len(data))
	defer func() {
		if r := recover(); r != nil {
			src, err = nil, recoveredErr(r)
		}
	}()
	if len(data) == 0 {
		return nil, 0, used, newErr(ErrMalformed, 0, "", "empty input")
	}
	start := time.Now()
	li := newLeanIndex(tune)
	li.decoded0 = used.decoded
	if err := leanScan(data, o, li); err != nil {
		// pass A does not check what needs memo values: pass B finds the
		// eager pre-pass's first error, at or before this one
		if !errors.Is(err, errJoblib) {
			err = li.exactError(data, o, err)
		}
		return nil, 0, used, err
	}
	if !tune.force && eagerEstimate(li, len(data)) <= opts.MemoryBudget {
		return loadPartSource(data, opts, used)
	}
	if li.why != "" {
		return nil, 0, used, fmt.Errorf("%w: %s", errNotLazy, li.why)
	}
	if n := li.read.count(); !tune.force && int64(n) > max(1<<16, opts.MemoryBudget/4/bytesPerReadKey) {
		return nil, 0, used, fmt.Errorf("%w: %d values are shared between places of the file (read from its memo)", errNotLazy, n)
	}
	li.choose()
	if err := li.passB(data, o); err != nil {
		return nil, 0, used, err
	}
	f := &lazyFile{data: data[:len(data):len(data)], opts: o, tune: tune, idx: li, budget: opts.MemoryBudget, used: used}
	f.times.index = time.Since(start)
	src, err = f.build()
	if err != nil {
		return nil, 0, used, err
	}
	return src, li.end, usage{decoded: li.decoded, work: o.MaxDecodedBytes - src.(*lazySource).work}, nil
}

// openJoblib loads a joblib dump whole when the budget allows: its numeric
// arrays alias the input, the rest (the pickle around them, object arrays)
// is estimated from the pre-pass. The index passes stop at joblib's
// wrapper class (errJoblib).
func openJoblib(data []byte, opts Options, tune lazyTuning, used usage) (src table.Source, end int, u usage, err error) {
	defer func() {
		if r := recover(); r != nil {
			src, err = nil, recoveredErr(r)
		}
	}()
	sr, err := scanPart(data, opts.withDefaults(len(data)), used.decoded)
	if err != nil {
		return nil, 0, used, err // Load's error: its first step is this pre-pass
	}
	if est := 2*(sr.decoded-used.decoded-sr.aliased) + int64(len(data))/64; !tune.force && est > opts.MemoryBudget {
		return nil, 0, used, fmt.Errorf("%w: a joblib dump whose values need about %d bytes (joblib dumps are read whole)", errNotLazy, est)
	}
	return loadPartSource(data, opts, used)
}

// leanScan runs an index pass over data.
func leanScan(data []byte, opts Options, li *leanIndex) error {
	s := &scanner{data: data, opts: opts, gindex: map[string]int{}, memoFrom: -1, lean: li, decodedBytes: li.decoded0}
	err := s.run()
	li.objects = s.objects
	li.end, li.decoded = s.pos, s.decodedBytes
	return err
}

// passB (re)runs pass B for the chosen sequences.
func (li *leanIndex) passB(data []byte, opts Options) error {
	li.pass = 2
	li.syms, li.skelReads = map[uint64]sym{}, map[int64]bool{}
	li.defs, li.next = nil, 0
	li.defined, li.writes = li.defined[:0], 0
	li.slots, li.marks = li.slots[:0], li.marks[:0]
	return leanScan(data, opts, li)
}

// exactError returns the eager pre-pass's first error, given pass A's.
func (li *leanIndex) exactError(data []byte, opts Options, errA error) error {
	if err := li.passB(data, opts); err != nil {
		return err
	}
	return errA
}

// eagerEstimate estimates the peak heap of the eager path on the input,
// on the high side: the pre-pass's bookkeeping (memo entries and writes,
// payload edits) and the decoded values (floats stay unboxed on the fast
// path). Measured on the deploy/bench/gen.py files (100k rows) it is 1.3x
// (DataFrame) and about 1x (records) the peak Load reaches.
func eagerEstimate(li *leanIndex, n int) int64 {
	st := li.stats
	perFloat := int64(12)
	if li.objects {
		perFloat = 40 // boxed by gopickle
	}
	return 36*li.writes + 72*st.payloads + perFloat*st.floats + 48*(st.pushes-st.floats) + int64(n)/64
}

// build decodes the skeleton and makes the lazy source. A placeholder the
// conversion does not read in parts is put back into the skeleton.
func (f *lazyFile) build() (table.Source, error) {
	start := time.Now()
	for {
		skips, bad, err := f.skeletonSkips()
		if err != nil {
			return nil, err
		}
		if len(bad) > 0 {
			if err := f.unsplice(bad, "its values are shared with the rest of the file"); err != nil {
				return nil, err
			}
			continue
		}
		sr, err := scanSkeleton(f.data, f.opts, skips)
		if err != nil {
			return nil, err
		}
		seqs := make([]*lazySeq, len(f.idx.chosen))
		for i, q := range f.idx.chosen {
			seqs[i] = &lazySeq{q: q}
		}
		v, err := f.decodeSkeleton(sr, skips, seqs)
		if err != nil {
			if m := misused(seqs, false); len(m) > 0 {
				if err := f.unsplice(m, "it is an argument of a call"); err != nil {
					return nil, err
				}
				continue
			}
			return nil, f.decodeErrorBefore(err)
		}
		c := newConv(f.opts)
		c.work -= f.used.work
		c.lz = &lazyConv{f: f, cols: map[*table.Column]*lazyCol{}, views: map[*table.Column]*vecView{}}
		t, cerr := c.toTable(v)
		// A placeholder the conversion did not read: ignored (decoded by
		// pass C for its errors only) when the conversion failed anyway,
		// else put back, in case it was read as something else.
		if m := misused(seqs, cerr == nil && !f.tune.keepIdle); len(m) > 0 {
			if err := f.unsplice(m, "it is not a table's rows or column"); err != nil {
				return nil, err
			}
			continue
		}
		f.times.skeleton = time.Since(start)
		return f.finish(c, t, cerr)
	}
}

// misused lists the sequences touched where they are not read in parts
// (and, with unclaimed, those the conversion did not read at all).
func misused(seqs []*lazySeq, unclaimed bool) []*seqIndex {
	var out []*seqIndex
	for _, s := range seqs {
		if s.misused || unclaimed && !s.claimed {
			out = append(out, s.q)
		}
	}
	return out
}

// unsplice puts sequences back into the skeleton, when they are small
// enough to be decoded eagerly, and recomputes pass B for the others.
func (f *lazyFile) unsplice(qs []*seqIndex, why string) error {
	for _, q := range qs {
		if !f.tune.force && q.bytes() > f.budget/8 {
			return fmt.Errorf("%w: a list of %d items at byte %d: %s", errNotLazy, q.count, q.start, why)
		}
	}
	li := f.idx
	li.chosen = slices.DeleteFunc(li.chosen, func(q *seqIndex) bool { return slices.Contains(qs, q) })
	for i, q := range li.chosen {
		q.id = i
	}
	return li.passB(f.data, f.opts)
}

// decodeErrorBefore returns the first decode error of the input given the
// skeleton's: a window before it may fail first.
func (f *lazyFile) decodeErrorBefore(err error) error {
	var e *Error
	at := int64(-1)
	if errors.As(err, &e) {
		at = e.Offset
	}
	for _, q := range f.idx.chosen {
		if at >= 0 && q.start >= at {
			break
		}
		for i := int64(0); i < q.count; {
			j := f.passEnd(q, i, false)
			if _, _, _, derr := f.decodeSeq(q, i, j); derr != nil {
				return derr
			}
			i = j
		}
	}
	return err
}

// passEnd is where pass C's window starting at item i (a multiple of the
// sparse step) ends: after about windowBytes of input (items differ in
// size: a block's columns are runs of the sequence), or after the tuned
// number of items when tuned is set and tests tuned it.
func (f *lazyFile) passEnd(q *seqIndex, i int64, tuned bool) int64 {
	if tuned && f.tune.passItems > 0 {
		return min(q.count, i+int64(f.tune.passItems))
	}
	step := int64(f.tune.step)
	k := int(i / step)
	target := q.sparse[k].off + f.windowBytes()
	m := sort.Search(len(q.sparse), func(x int) bool { return q.sparse[x].off > target })
	if m >= len(q.sparse) {
		return q.count
	}
	return min(q.count, int64(max(k+1, m-1))*step)
}

// windowBytes is how many input bytes a window should hold.
func (f *lazyFile) windowBytes() int64 {
	return max(1<<20, f.budget/32)
}

// lazyConv is a skeleton conversion's lazy state.
type lazyConv struct {
	f       *lazyFile
	cols    map[*table.Column]*lazyCol // placeholders of lazy columns
	views   map[*table.Column]*vecView // placeholders of 2-D float32 arrays
	groups  []*lazyGroup
	steps   []any      // *lazyCol and *recordSet in conversion order
	records *recordSet // the top-level records, if any
	work    int64      // conversion work left (as the eager conversion counts it, roughly)
}

// lazyGroup is a run of a sequence's items holding one or more columns:
// the value of row r of member m is item base + r*stride + m.
type lazyGroup struct {
	q            *seqIndex
	base, stride int64
	rows         int
	members      []*lazyCol
	records      *recordSet
}

// lazyCol is a column whose values are items of a sequence.
type lazyCol struct {
	ph          *table.Column // the placeholder in the skeleton's table (its name)
	g           *lazyGroup
	member      int64
	key         pyKey // a record field's key
	stringArray bool  // a pandas StringArray: STRING even when all NA
	inf         colInfer
	field       table.Field
	vecErr      error
}

// recordSet is the top-level list of records: its columns are the union of
// the records' keys, in first-seen order.
type recordSet struct {
	g      *lazyGroup
	index  map[string]int
	cols   []*lazyCol
	err    error // the first error of a record (not of a column)
	floats bool  // every part decoded by the fast path is a list of floats
}

// vecView is a 2-D numeric array kept as it is in the input: its rows
// become RawVectors (a little-endian C-order float32 array) or Vectors
// only inside a window.
type vecView struct {
	a     *ndarray
	raw   bool // rows are RawVectors slices of a.raw
	rows  int
	dim   int
	nulls []int // all-NaN rows
}

func (lz *lazyConv) group(q *seqIndex, base, stride int64, rows int) *lazyGroup {
	for _, g := range lz.groups {
		if g.q == q && g.base == base && g.stride == stride && g.rows == rows && g.records == nil {
			return g
		}
	}
	g := &lazyGroup{q: q, base: base, stride: stride, rows: rows}
	lz.groups = append(lz.groups, g)
	return g
}

// column makes a lazy column of member m of g.
func (lz *lazyConv) column(name string, g *lazyGroup, m int64) *table.Column {
	col := &table.Column{Field: table.Field{Name: name}}
	lc := &lazyCol{ph: col, g: g, member: m, inf: newColInfer()}
	for int64(len(g.members)) <= m {
		g.members = append(g.members, nil)
	}
	if g.members[m] != nil {
		// the same values in two places (a shared array): its own column
		g = &lazyGroup{q: g.q, base: g.base, stride: g.stride, rows: g.rows, members: make([]*lazyCol, m+1)}
		lz.groups = append(lz.groups, g)
		lc.g = g
	}
	g.members[m] = lc
	lz.cols[col] = lc
	lz.steps = append(lz.steps, lc)
	return col
}

// arrayColumn: elements [start, start+n) (row-major) of an object array
// whose element list is a placeholder.
func (c *conv) lazyArrayColumn(name string, a *ndarray, start, n int) *table.Column {
	a.lazy.claimed = true
	base, stride, m := int64(start), int64(1), int64(0)
	if a.fortran && len(a.shape) == 2 && a.shape[1] > 0 {
		base, stride, m = 0, int64(a.shape[0]), int64(start/a.shape[1])
	}
	return c.lz.column(name, c.lz.group(a.lazy.q, base, stride, n), m)
}

// lazyListColumn: a dict of columns' list that is a placeholder.
func (c *conv) lazyListColumn(name string, l *lazySeq) *table.Column {
	l.claimed = true
	return c.lz.column(name, c.lz.group(l.q, 0, 1, int(l.q.count)), 0)
}

// lazyRecords: the top-level list of records is a placeholder; its columns
// are known after pass C.
func (c *conv) lazyRecords(l *lazySeq) (*table.Table, error) {
	l.claimed = true
	g := &lazyGroup{q: l.q, stride: 1, rows: int(l.q.count)}
	rs := &recordSet{g: g, index: map[string]int{}, floats: true}
	g.records = rs
	c.lz.groups = append(c.lz.groups, g)
	c.lz.steps = append(c.lz.steps, rs)
	c.lz.records = rs
	return &table.Table{NumRows: int(l.q.count)}, nil
}

// newLazyView: a 2-D numeric array kept as it is (raw: as RawVectors).
func (c *conv) newLazyView(name string, a *ndarray, raw bool) *table.Column {
	dim := a.shape[1]
	col := &table.Column{Field: table.Field{Name: name, Type: table.TypeFloatVector, VectorDim: dim}}
	c.lz.views[col] = &vecView{a: a, raw: raw, rows: a.shape[0], dim: dim}
	return col
}

// outCol is a column of a lazy source: exactly one of eager, view, lazy.
type outCol struct {
	field table.Field
	eager *table.Column
	view  *vecView
	lazy  *lazyCol
}

// lazySource is a Source decoding windows on demand.
type lazySource struct {
	f          *lazyFile
	rows       int
	cols       []outCol
	windowRows int
	work       int64 // the conversion work left after pass C (as the eager conversion counts it, roughly)
}

// finish runs pass C and makes the source, or returns the error Load would.
func (f *lazyFile) finish(c *conv, t *table.Table, cerr error) (table.Source, error) {
	lz := c.lz
	lz.work = c.work
	start := time.Now()
	err := lz.passC()
	f.times.passC = time.Since(start)
	if err != nil {
		return nil, err
	}
	for _, st := range lz.steps {
		switch x := st.(type) {
		case *lazyCol:
			if err := x.resolve(); err != nil {
				return nil, err
			}
		case *recordSet:
			if x.floats && !f.idx.objects {
				return nil, newErr(ErrUnsupported, -1, "", "top-level list of floats (want records)")
			}
			if x.err != nil {
				return nil, x.err
			}
			for _, lc := range x.cols {
				if err := lc.resolve(); err != nil {
					return nil, err
				}
			}
		}
	}
	if cerr != nil {
		return nil, cerr
	}
	if lz.work < 0 {
		return nil, newErr(ErrLimit, -1, "", "conversion work exceeds the limit (%d): too many shared references?", f.opts.MaxDecodedBytes)
	}
	src := &lazySource{f: f, rows: t.NumRows, work: lz.work}
	if rs := lz.records; rs != nil {
		for _, lc := range rs.cols {
			src.cols = append(src.cols, outCol{field: lc.field, lazy: lc})
		}
	}
	for _, col := range t.Columns {
		oc := outCol{field: col.Field}
		if lc := lz.cols[col]; lc != nil {
			oc.lazy, oc.field = lc, lc.field
		} else if v := lz.views[col]; v != nil {
			oc.view = v
		} else {
			oc.eager = col
		}
		src.cols = append(src.cols, oc)
	}
	// what Load checks after the conversion, in its order
	names := &table.Table{NumRows: src.rows}
	for _, oc := range src.cols {
		names.Columns = append(names.Columns, &table.Column{Field: oc.field})
	}
	if err := checkNames(names); err != nil {
		return nil, err
	}
	for i := range src.cols {
		oc := &src.cols[i]
		var err error
		switch {
		case oc.lazy != nil:
			err = oc.lazy.vecErr
		case oc.view != nil:
			err = oc.view.check(oc.field.Name, src.rows)
			oc.field.Nullable = len(oc.view.nulls) > 0
		case oc.field.Type == table.TypeFloatVector:
			err = finiteVectors(&table.Table{NumRows: src.rows, Columns: []*table.Column{oc.eager}})
			oc.field = oc.eager.Field
		}
		if err != nil {
			return nil, err
		}
	}
	for _, oc := range src.cols {
		if oc.eager != nil && oc.eager.Len() != src.rows {
			return nil, &Error{Kind: ErrUnsupported, Offset: -1, Row: -1, Msg: "the data does not form a valid table",
				Err: fmt.Errorf("table: column %q holds %d values, want %d", oc.field.Name, oc.eager.Len(), src.rows)}
		}
	}
	if _, err := src.Window(0, 0, nil); err != nil {
		return nil, err
	}
	src.windowRows = src.computeWindowRows()
	return src, nil
}

// resolve sets the column's final field from its inference, or returns the
// error the eager conversion would give.
func (lc *lazyCol) resolve() error {
	name := lc.ph.Name
	f, vecErr, err := lc.inf.finish(name)
	if err != nil {
		return err
	}
	if lc.stringArray {
		if f.Type == table.TypeJSON && lc.inf.nonNull == 0 {
			f.Type = table.TypeString // all NA: the dtype says STRING
		}
		if f.Type != table.TypeString {
			return colErr(ErrMalformed, name, -1, "StringArray holding non-str values")
		}
	}
	lc.field, lc.vecErr = f, vecErr
	return nil
}

// check applies finiteVectors to the view, a part at a time: all-NaN rows
// are nulls, other non-finite values an error.
func (v *vecView) check(name string, rows int) error {
	f := table.Field{Name: name, Type: table.TypeFloatVector, VectorDim: v.dim}
	for lo := 0; lo < rows; lo += 4096 {
		hi := min(rows, lo+4096)
		col := v.window(f, lo, hi)
		if err := finiteVectors(&table.Table{NumRows: hi - lo, Columns: []*table.Column{col}}); err != nil {
			if e, ok := err.(*Error); ok && e.Row >= 0 {
				e.Row += lo
			}
			return err
		}
		for _, n := range col.Nulls {
			v.nulls = append(v.nulls, lo+n)
		}
	}
	return nil
}

// passC decodes every item of every chosen sequence once and infers the
// lazy columns' types. A decode error (the first in input order) is
// returned; conversion errors are kept in the columns.
func (lz *lazyConv) passC() error {
	f := lz.f
	for _, q := range f.idx.chosen {
		var gs []*lazyGroup
		for _, g := range lz.groups {
			if g.q == q {
				gs = append(gs, g)
			}
		}
		end := func(i int64) int64 {
			// once the conversion has failed, the rest is decoded for
			// decode errors only, in windows of the budget's size
			return f.passEnd(q, i, lz.work >= 0)
		}
		err := f.decodeWindows(q, end, func(w [2]int64, items []any, raw any) bool {
			if lz.work < 0 {
				return true // the conversion has failed: decoded for decode errors only
			}
			c := newConv(f.opts)
			c.work = lz.work // the eager conversion's budget is for the whole file
			for _, g := range gs {
				if g.records != nil {
					lz.inferRecords(c, g.records, items, w[0], raw)
				} else {
					lz.inferGroup(c, g, items, w[0], w[1])
				}
			}
			lz.work = c.work
			// The inference keeps no value, only facts, names (copied)
			// and errors: a window's buffer is reused unless an error
			// may point into it.
			return !lz.failed()
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// failed reports whether a lazy column or the records hold an error.
func (lz *lazyConv) failed() bool {
	failed := func(lc *lazyCol) bool { return lc.inf.err != nil || lc.inf.jsonErr != nil }
	for _, st := range lz.steps {
		switch x := st.(type) {
		case *lazyCol:
			if failed(x) {
				return true
			}
		case *recordSet:
			if x.err != nil || slices.ContainsFunc(x.cols, failed) {
				return true
			}
		}
	}
	return false
}

// decodeWindows decodes all items of q in windows (the one from item i
// ends at end(i)), several at a time, and calls fn with each in order; it
// stops at the first decode error. end and fn run on the caller's
// goroutine. When fn returns true, nothing points into the window's items
// any more: its synthesized pickle is reused.
func (f *lazyFile) decodeWindows(q *seqIndex, end func(i int64) int64, fn func(w [2]int64, items []any, raw any) (done bool)) error {
	type result struct {
		w     [2]int64
		items []any
		raw   any
		buf   []byte
		err   error
	}
	var pending []chan result // in window order
	next := int64(0)
	start := func() {
		if next >= q.count {
			return
		}
		w := [2]int64{next, end(next)}
		next = w[1]
		ch := make(chan result, 1)
		pending = append(pending, ch)
		go func() {
			r := result{w: w}
			defer func() {
				if p := recover(); p != nil {
					r.err = recoveredErr(p)
				}
				ch <- r
			}()
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // the input may be a mapped file
			r.items, r.raw, r.buf, r.err = f.decodeSeq(q, w[0], w[1])
		}()
	}
	for range max(1, min(runtime.GOMAXPROCS(0), 4)) {
		start()
	}
	for len(pending) > 0 {
		r := <-pending[0]
		pending = pending[1:]
		if r.err != nil {
			for _, ch := range pending {
				<-ch // no decode outlives the call
			}
			return r.err
		}
		if fn(r.w, r.items, r.raw) {
			f.releaseSynth(r.buf)
		}
		start()
	}
	return nil
}

// ceilDiv is ⌈a/b⌉ for b > 0.
func ceilDiv(a, b int64) int64 {
	if a <= 0 {
		return -(-a / b)
	}
	return (a + b - 1) / b
}

// rowsIn returns the rows of member m of g whose items are in [i, j).
func (g *lazyGroup) rowsIn(m, i, j int64) (lo, hi int64) {
	lo = max(0, ceilDiv(i-g.base-m, g.stride))
	hi = min(int64(g.rows), ceilDiv(j-g.base-m, g.stride))
	return lo, max(lo, hi)
}

// inferGroup adds the values of items [i, j) to g's columns.
func (lz *lazyConv) inferGroup(c *conv, g *lazyGroup, items []any, i, j int64) {
	for m, lc := range g.members {
		if lc == nil || lc.inf.err != nil {
			continue
		}
		lo, hi := g.rowsIn(int64(m), i, j)
		if lo >= hi {
			continue
		}
		vals := make([]any, hi-lo)
		for r := lo; r < hi; r++ {
			vals[r-lo] = items[g.base+r*g.stride+int64(m)-i]
		}
		lz.inferValues(c, lc, vals, lo)
	}
}

// inferValues adds vals (rows row0...) to lc and charges their work: the
// window's inference merged into the column's.
func (lz *lazyConv) inferValues(c *conv, lc *lazyCol, vals []any, row0 int64) {
	w := newColInfer()
	_ = c.inferCells(&w, lc.ph.Name, vals, int(row0), true)
	lc.inf.merge(&w)
	for _, v := range vals {
		c.work -= cellWork(v)
	}
}

// cellWork is about what the eager conversion charges for a cell.
func cellWork(v any) int64 {
	switch x := v.(type) {
	case string:
		return 8 + int64(len(x))
	case []byte:
		return 8 + int64(len(x))
	case *ndarray:
		return 4 * int64(x.len())
	case *types.List:
		return 8 + valueCost*int64(len(*x))
	case *types.Tuple:
		return 8 + valueCost*int64(len(*x))
	case *vmList:
		return 8 + 4*int64(x.len())
	}
	return 8
}

// inferRecords adds records [i, i+len(items)) to rs.
func (lz *lazyConv) inferRecords(c *conv, rs *recordSet, items []any, i int64, raw any) {
	if l, ok := raw.(*vmList); !ok || l.boxed || len(l.floats) == 0 {
		rs.floats = false
	}
	if rs.err != nil {
		return
	}
	vals := make([][]any, len(rs.cols))
	n := len(items)
	for k, it := range items {
		r := int(i) + k
		c.work--
		if d, ok := it.(*types.Dict); ok {
			c.work -= int64(len(*d)) * entryCost
		}
		es, ok, err := recordEntries(it)
		if err != nil {
			rs.err = withColumn(err, "", r)
			return
		}
		if !ok {
			rs.err = colErr(ErrUnsupported, "", r, "list item of type %s is not a record", typeName(it))
			return
		}
		for _, e := range es {
			if err := checkKey(e.key); err != nil {
				rs.err = withColumn(err, "", r)
				return
			}
			name := keyName(e.key)
			key := keyOf(e.key)
			j, ok := rs.index[name]
			if !ok {
				// kept after the window: copies (name and key may
				// point into its synthesized pickle, which is reused)
				name = strings.Clone(name)
				key.s = strings.Clone(key.s)
				c.work -= int64(rs.g.rows) * valueCost
				j = len(rs.cols)
				rs.index[name] = j
				lc := &lazyCol{ph: &table.Column{Field: table.Field{Name: name}}, g: rs.g, key: key, inf: newColInfer()}
				if r > 0 {
					lc.inf.nulls = true // missing in the records before
				}
				rs.cols = append(rs.cols, lc)
				vals = append(vals, nil)
			} else if rs.cols[j].key != key {
				rs.err = colErr(ErrUnsupported, name, r, "duplicate column name: two different keys print as this name")
				return
			}
			if vals[j] == nil {
				vals[j] = make([]any, n)
			}
			vals[j][k] = e.value
		}
	}
	for j, lc := range rs.cols {
		if lc.inf.err != nil {
			continue
		}
		if vals[j] == nil {
			lc.inf.nulls = true // missing in every record here
			continue
		}
		lz.inferValues(c, lc, vals[j], i)
	}
}

func (s *lazySource) Schema() []table.Field {
	out := make([]table.Field, len(s.cols))
	for i, oc := range s.cols {
		out[i] = oc.field
	}
	return out
}

func (s *lazySource) Rows() int       { return s.rows }
func (s *lazySource) WindowRows() int { return s.windowRows }

// computeWindowRows: rows whose items take about windowBytes of input.
func (s *lazySource) computeWindowRows() int {
	if s.f.tune.windowRows > 0 {
		return s.f.tune.windowRows
	}
	perRow := int64(0)
	seen := map[*lazyGroup]bool{}
	for _, oc := range s.cols {
		if oc.lazy == nil || seen[oc.lazy.g] {
			continue
		}
		g := oc.lazy.g
		seen[g] = true
		perRow += max(1, g.q.bytes()/g.q.count) * g.stride
	}
	for _, oc := range s.cols {
		if oc.view != nil {
			perRow += int64(4 * oc.view.dim)
		}
	}
	if perRow == 0 {
		return 0
	}
	return int(max(int64(s.f.tune.step), s.f.windowBytes()/perRow))
}

// Window decodes rows [lo, hi) of the columns cols (nil: all).
func (s *lazySource) Window(lo, hi int, cols []int) (t *table.Table, err error) {
	if err := checkWindow(lo, hi, s.rows, cols, len(s.cols)); err != nil {
		return nil, err
	}
	if cols == nil {
		cols = make([]int, len(s.cols))
		for i := range cols {
			cols[i] = i
		}
	}
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, recoveredErr(r)
		}
	}()
	c := newConv(s.f.opts)
	if s.f.budget > 0 {
		// a window's values in the budget: a file whose shared values
		// blow up in one window is refused here
		c.work = min(c.work, max(64<<20, s.f.budget/2))
	}
	decoded, bufs, err := s.decodeGroups(lo, hi, cols)
	if err != nil {
		return nil, err
	}
	records := map[string][]any{}
	t = &table.Table{NumRows: hi - lo, Columns: make([]*table.Column, len(cols))}
	for k, ci := range cols {
		oc := &s.cols[ci]
		var col *table.Column
		switch {
		case oc.eager != nil:
			col = oc.eager.Slice(lo, hi)
		case oc.view != nil:
			col = oc.view.window(oc.field, lo, hi)
		default:
			lc := oc.lazy
			g := lc.g
			items := decoded[g]
			if g.records != nil && len(records) == 0 && hi > lo {
				if err := s.recordValues(items, records); err != nil {
					return nil, err
				}
			}
			var vals []any
			if g.records != nil {
				vals = records[lc.ph.Name]
				if vals == nil {
					vals = make([]any, hi-lo)
				}
			} else {
				vals = make([]any, hi-lo)
				for r := range vals {
					vals[r] = items[int64(r)*g.stride+lc.member]
				}
			}
			var inf colInfer
			if err := c.inferCells(&inf, lc.ph.Name, vals, lo, false); err != nil {
				return nil, err
			}
			if col, err = c.buildTyped(lc.ph.Name, vals, oc.field.Type, oc.field.VectorDim, false); err != nil {
				return nil, err
			}
			if col.Type == table.TypeFloatVector {
				if err := finiteVectors(&table.Table{NumRows: hi - lo, Columns: []*table.Column{col}}); err != nil {
					return nil, err
				}
			}
		}
		col.Field = oc.field
		col.ValidUTF8 = true
		t.Columns[k] = col
	}
	if err := t.Validate(); err != nil {
		return nil, &Error{Kind: ErrUnsupported, Offset: -1, Row: -1, Msg: "the data does not form a valid table", Err: err}
	}
	// The decoded values are unreachable once this returns, but t's
	// strings, bytes and raw vectors may point into the synthesized
	// pickles they were decoded from: copied out, the buffers are reused.
	// (When they are most of the buffers, on an error or on a panic, the
	// buffers are left to the collector.)
	if s.f.keeps.Load() && !s.f.tune.poison {
		return t, nil
	}
	if detach(t, bufs, s.f.tune.poison) { // tests: always copied out, as they poison the buffers
		for _, b := range bufs {
			s.f.releaseSynth(b)
		}
	} else {
		s.f.keeps.Store(true)
	}
	return t, nil
}

// decodeGroups decodes the items of rows [lo, hi) of the groups the
// columns cols read, in parts decoded at the same time. The items alias
// bufs, the parts' synthesized pickles (see decodeSeq).
func (s *lazySource) decodeGroups(lo, hi int, cols []int) (map[*lazyGroup][]any, [][]byte, error) {
	type part struct {
		q     *seqIndex
		i, j  int64
		items []any
		buf   []byte
		err   error
	}
	var groups []*lazyGroup
	parts := map[*lazyGroup][]*part{}
	for _, ci := range cols {
		if lc := s.cols[ci].lazy; lc != nil && hi > lo && parts[lc.g] == nil {
			groups = append(groups, lc.g)
			parts[lc.g] = []*part{}
		}
	}
	procs := max(1, min(runtime.GOMAXPROCS(0), 4))
	step := int64(s.f.tune.step)
	var all []*part
	for _, g := range groups {
		i, j := g.base+int64(lo)*g.stride, g.base+int64(hi-1)*g.stride+int64(len(g.members))
		if g.records != nil {
			i, j = int64(lo), int64(hi)
		}
		// split so that all the cores decode, at the sparse index's steps
		n := max(1, min(int64(procs/len(groups)), (j-i)/(4*step)))
		for k := int64(0); k < n; k++ {
			a, b := i+(j-i)*k/n/step*step, i+(j-i)*(k+1)/n/step*step
			if k == 0 {
				a = i
			}
			if k == n-1 {
				b = j
			}
			if b > a {
				p := &part{q: g.q, i: a, j: b}
				parts[g] = append(parts[g], p)
				all = append(all, p)
			}
		}
	}
	sem := make(chan struct{}, procs)
	var wg sync.WaitGroup
	for _, p := range all {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					p.err = recoveredErr(r)
				}
				<-sem
			}()
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // the input may be a mapped file
			p.items, _, p.buf, p.err = s.f.decodeSeq(p.q, p.i, p.j)
		})
	}
	wg.Wait()
	out := map[*lazyGroup][]any{}
	bufs := make([][]byte, 0, len(all))
	for _, g := range groups {
		var items []any
		for _, p := range parts[g] {
			if p.err != nil {
				return nil, nil, p.err
			}
			bufs = append(bufs, p.buf)
			if items == nil {
				items = p.items
			} else {
				items = append(items[:len(items):len(items)], p.items...)
			}
		}
		out[g] = items
	}
	return out, bufs, nil
}

// recordValues fills out with each field's values of the records items.
func (s *lazySource) recordValues(items []any, out map[string][]any) error {
	for k, it := range items {
		es, ok, err := recordEntries(it)
		if err != nil || !ok {
			return newErr(ErrMalformed, -1, "", "a record changed between two decodes")
		}
		for _, e := range es {
			name := keyName(e.key)
			vals := out[name]
			if vals == nil {
				vals = make([]any, len(items))
				out[name] = vals
			}
			vals[k] = e.value
		}
	}
	return nil
}

// window returns rows [lo, hi) of the view (all-NaN rows null and zero,
// as finiteVectors makes them).
func (v *vecView) window(f table.Field, lo, hi int) *table.Column {
	col := &table.Column{Field: f}
	a, d := v.a, v.dim
	if v.raw {
		col.RawVectors = make([][]byte, hi-lo)
		w := 4 * d
		for r := lo; r < hi; r++ {
			col.RawVectors[r-lo] = a.raw[r*w : (r+1)*w : (r+1)*w]
		}
	} else {
		col.Vectors = make([]float32, (hi-lo)*d)
		f4 := a.dtype.kind == 'f' && a.dtype.size == 4
		for i := range col.Vectors {
			if f4 {
				col.Vectors[i] = math.Float32frombits(uint32(a.bits(lo*d + i)))
			} else {
				x, _ := a.floatAt(lo*d + i)
				col.Vectors[i] = float32(x)
			}
		}
	}
	k := sort.SearchInts(v.nulls, lo)
	for ; k < len(v.nulls) && v.nulls[k] < hi; k++ {
		n := v.nulls[k] - lo
		if v.raw {
			col.RawVectors[n] = nil
		} else {
			clear(col.Vectors[n*d : (n+1)*d])
		}
		col.Nulls = append(col.Nulls, n)
	}
	return col
}

// lazyView returns the view col is the placeholder of, or nil.
func (c *conv) lazyView(col *table.Column) *vecView {
	if c.lz == nil {
		return nil
	}
	return c.lz.views[col]
}

// lazyCol returns the lazy column col is the placeholder of, or nil.
func (c *conv) lazyCol(col *table.Column) *lazyCol {
	if c.lz == nil {
		return nil
	}
	return c.lz.cols[col]
}
