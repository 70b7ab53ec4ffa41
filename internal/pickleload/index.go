package pickleload

import (
	"math/bits"
	"slices"
	"sort"
)

// The lean index passes of the lazy path (see lazy.go).
//
// Both passes are the pre-pass scanner itself (scan.go) run with a
// *leanIndex: every check and limit of the eager path applies, in the same
// order, but nothing is decoded (no edits) and the memo is compact. Pass A
// keeps one bit per memo key (defined, read) and reads every memo key as a
// value of unknown kind (checks needing it are left to pass B); it finds
// the large sequences and checks that the stream is one the lazy path can
// replay in parts. Pass B keeps the symbolic value of the keys pass A saw
// read, so its checks are exactly the eager scanner's (the same first
// error), and records where each read key's value is defined.
//
// Memory: bitsets over memo keys, the symbolic stack (O(depth)), one sparse
// index entry per step items of each large sequence, and a definition per
// read key; never O(opcodes) or O(memo keys) words.

// maxNestedSparse bounds the sparse index entries kept for large sequences
// inside other lists.
const maxNestedSparse = 1 << 18

// maxLeanDecoded bounds the protocol-0 strings an index pass keeps for
// STACK_GLOBAL operands (a decode pass checks beyond it).
const maxLeanDecoded = 1 << 16

// lazyTuning holds the lazy path's sizes; tests shrink them.
type lazyTuning struct {
	minItems   int   // a list of at least this many items is a large sequence
	step       int   // a sparse index entry every step items
	windowRows int   // rows per window; 0: from the memory budget
	passItems  int   // items per window of pass C; 0: from the memory budget
	force      bool  // load lazily whatever the budget says (tests)
	keepIdle   bool  // keep sequences the conversion does not read spliced (tests: see misused)
	preamble   int64 // most bytes of definitions a window may copy; 0: the default
	poison     bool  // overwrite a synthesized pickle's buffer when it is handed back, and always hand a Window's back (tests)
}

func defaultTuning() lazyTuning {
	return lazyTuning{minItems: 4096, step: 64}
}

// bitset is a growable set of small non-negative integers.
type bitset []uint64

func (b *bitset) set(i uint64) {
	w := i / 64
	if n := len(*b); w >= uint64(n) {
		*b = slices.Grow(*b, int(w)+1-n)[:w+1]
		clear((*b)[n:])
	}
	(*b)[w] |= 1 << (i % 64)
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

func (b bitset) has(i uint64) bool {
	w := i / 64
	return w < uint64(len(b)) && b[w]&(1<<(i%64)) != 0
}

// lslot is what the index passes know of a stack slot.
type lslot struct {
	start  int64 // offset of the first opcode building the value
	end    int64 // end of the last opcode building it (memo write, append, BUILD)
	memoAt int64 // memo writes before start
	def    int32 // its latest definition (pass B), or -1
	cand   int32 // the list candidate it is, or -1
	alias  bool  // read from the memo (or DUP): must not be modified
}

type lmark struct {
	at, memoAt int64
}

// sparsePt locates an item of a large sequence: where its first opcode is,
// the memo writes before it, and how it joins the list (batchKind).
type sparsePt struct {
	off, memo int64
	kind      uint8
}

// How items join a list, and so what a window's synthesized pickle opens
// and closes with around them.
const (
	batchAppend  uint8 = iota // item APPEND
	batchAppends              // MARK items APPENDS
	batchMark                 // MARK items LIST (a list's first items) or TUPLE
)

// seqIndex is a large sequence: a list built by EMPTY_LIST or MARK..LIST and
// appends, or a MARK..TUPLE run, of at least minItems items.
type seqIndex struct {
	id                 int   // its placeholder number in the skeleton
	start, end         int64 // the bytes the skeleton replaces by a placeholder
	memoStart, memoEnd int64 // memo writes before start and before end
	count              int64
	sparse             []sparsePt // items 0, step, 2*step, ...
	cut, memoCut       int64      // where the items end (see batchKind), memo writes before it
	cutKind            uint8
	frameEnd           int64   // the scanner's frame end at end
	keys               []int64 // memo keys of the list itself
	tuple              bool
}

func (q *seqIndex) bytes() int64 { return q.end - q.start }

// cand is a list being built, that may become a seqIndex.
type cand struct {
	seqIndex
	bad bool
}

// memoDef is where the value of a read memo key is defined: its opcodes
// [start, end) leave exactly that value on the stack.
type memoDef struct {
	key        int64
	start, end int64
	memoAt     int64 // memo writes before start
	next       int32 // the previous definition of the same slot, or -1
}

// leanIndex is the state of an index pass, and its result.
type leanIndex struct {
	pass    int // 1: pass A, 2: pass B
	tune    lazyTuning
	defined bitset
	read    bitset
	writes  int64
	why     string // non-empty: the stream cannot be replayed in parts, and why

	slots []lslot
	marks []lmark
	cands []cand
	free  []int32
	open  int         // candidates in use
	seqs  []*seqIndex // large sequences, nested ones too, in order of completion

	nestedSparse int // sparse entries held by sequences completed inside another list

	proto   int // the first PROTO's argument, or -1
	objects bool

	decoded0 int64 // the decoded size of the file's earlier pickles (appended pickles)
	end      int   // where the last pass stopped
	decoded  int64 // the decoded size then

	// for the estimate of what the eager path would hold
	stats leanStats

	// pass B
	syms      map[uint64]sym
	defs      []memoDef // by key
	chosen    []*seqIndex
	next      int
	skelReads map[int64]bool // keys defined in a chosen sequence read outside all of them
}

type leanStats struct {
	pushes, floats, payloads int64
}

func newLeanIndex(tune lazyTuning) *leanIndex {
	return &leanIndex{pass: 1, tune: tune, proto: -1}
}

// not records that the stream cannot be loaded lazily.
func (li *leanIndex) not(why string) {
	if li.why == "" {
		li.why = why
	}
}

// memoPut records the write of key (the top slot's value v); it reports
// whether the key is new.
func (li *leanIndex) memoPut(s *scanner, key uint64, v sym) bool {
	newKey := !li.defined.has(key)
	li.defined.set(key)
	if int64(key) != li.writes {
		li.not("memo keys are not written in order")
	}
	li.writes++
	top := &li.slots[len(li.slots)-1]
	top.end = int64(s.pos)
	if top.cand >= 0 {
		c := &li.cands[top.cand]
		c.keys = append(c.keys, int64(key))
	}
	if li.pass == 2 && li.read.has(key) {
		li.syms[key] = v
		li.defs = append(li.defs, memoDef{key: int64(key), start: top.start, end: int64(s.pos), memoAt: top.memoAt, next: top.def})
		top.def = int32(len(li.defs) - 1)
	}
	return newKey
}

// memoGet reads key at offset at; false if it is not defined.
func (li *leanIndex) memoGet(at int, key uint64) (sym, bool) {
	if !li.defined.has(key) {
		return sym{}, false
	}
	if li.pass == 1 {
		li.read.set(key)
		return sym{kind: symUnknown}, true
	}
	if len(li.chosen) > 0 {
		for li.next < len(li.chosen) && li.chosen[li.next].end <= int64(at) {
			li.next++
		}
		inside := li.next < len(li.chosen) && li.chosen[li.next].start <= int64(at)
		if !inside && li.chosenOfKey(int64(key)) != nil {
			li.skelReads[int64(key)] = true
		}
	}
	v, ok := li.syms[key]
	if !ok {
		v = sym{kind: symUnknown}
	}
	return v, true
}

// chosenOfKey returns the chosen sequence whose items define key, or nil.
func (li *leanIndex) chosenOfKey(key int64) *seqIndex {
	i := sort.Search(len(li.chosen), func(i int) bool { return li.chosen[i].memoStart > key }) - 1
	if i >= 0 && key < li.chosen[i].memoEnd {
		return li.chosen[i]
	}
	return nil
}

// def returns the definition of read key k, or nil.
func (li *leanIndex) def(k int64) *memoDef {
	i := sort.Search(len(li.defs), func(i int) bool { return li.defs[i].key >= k })
	if i < len(li.defs) && li.defs[i].key == k {
		return &li.defs[i]
	}
	return nil
}

// after updates the index after the scanner ran op at at: the stack had n0
// slots and m0 marks before it; s.lowStack and s.lowMark say how deep the
// opcode consumed.
func (li *leanIndex) after(s *scanner, at int, op byte, n0, m0 int) {
	low, lowM, n1 := s.lowStack, s.lowMark, len(s.stack)
	pos := int64(s.pos)
	if low == n0 && lowM == m0 && n1 == n0+1 && plainPush[op] {
		// most opcodes: a literal pushed, nothing consumed
		li.slots = append(li.slots, lslot{start: int64(at), end: pos, memoAt: li.writes, def: -1, cand: -1})
		li.stats.pushes++
		switch op {
		case opBinFloat, opFloat:
			li.stats.floats++
		case opBinBytes, opShortBinBytes, opBinBytes8, opByteArray8, opBinUnicode, opShortBinUnicode, opBinUnicode8:
			li.stats.payloads++
		}
		return
	}
	li.stats.pushes += int64(max(0, n1-low))
	// where the consumed values began: the start of what replaces them
	cstart, cmemo := int64(-1), int64(0)
	if lowM < m0 {
		cstart, cmemo = li.marks[lowM].at, li.marks[lowM].memoAt
	}
	if low < n0 {
		if sl := li.slots[low]; cstart < 0 || sl.start < cstart {
			cstart, cmemo = sl.start, sl.memoAt
		}
	}
	switch op {
	case opProto:
		if li.proto < 0 {
			li.proto = int(s.data[at+1])
		}
	case opAppends, opAddItems:
		if t := li.slots[low-1]; t.cand >= 0 {
			if op == opAddItems {
				li.cands[t.cand].bad = true
			} else {
				li.addItems(s, t.cand, li.slots[low:n0], batchAppends, int64(at))
			}
		}
	case opAppend:
		if t := li.slots[low-1]; t.cand >= 0 {
			li.addItems(s, t.cand, li.slots[low:n0], batchAppend, pos)
		}
	case opSetItem, opSetItems, opBuild:
		if t := li.slots[n1-1]; t.cand >= 0 {
			li.cands[t.cand].bad = true // not a list after all
		}
	case opDup:
		li.not("DUP opcode")
	case opBinBytes, opShortBinBytes, opBinBytes8, opByteArray8, opBinUnicode, opShortBinUnicode, opBinUnicode8:
		li.stats.payloads++
	case opBinFloat, opFloat:
		li.stats.floats++
	}
	run := op == opList || op == opTuple && n0-low >= li.tune.minItems // a LIST or TUPLE of items
	newCand := int32(-1)
	if li.pass == 1 && (op == opEmptyList || run) {
		newCand = li.newCand()
		c := &li.cands[newCand]
		c.start, c.memoStart, c.tuple = int64(at), li.writes, op == opTuple
		if run {
			items := li.slots[low:n0]
			c.start, c.memoStart = cstart, cmemo
			li.addItems(s, newCand, items, batchMark, int64(at))
		}
	}
	switch op {
	case opReduce, opNewObj, opNewObjEx, opObj, opInst, opStackGlobal:
		// a call's arguments: never read as a table (nor replayable)
		for i := low; i < n0; i++ {
			if c := li.slots[i].cand; c >= 0 {
				li.cands[c].bad = true
			}
		}
	}
	for i := low; i < n0; i++ {
		li.finish(&li.slots[i])
	}
	li.slots = li.slots[:low]
	li.marks = li.marks[:lowM]
	for range n1 - low {
		sl := lslot{start: int64(at), end: pos, memoAt: li.writes, def: -1, cand: newCand}
		if cstart >= 0 {
			sl.start, sl.memoAt = cstart, cmemo
		}
		switch op {
		case opGet, opBinGet, opLongBinGet, opDup:
			sl.alias = true
		}
		li.slots = append(li.slots, sl)
	}
	if len(s.marks) > lowM {
		li.marks = append(li.marks, lmark{at: int64(at), memoAt: li.writes})
	}
	switch op {
	case opAppend, opAppends, opAddItems, opSetItem, opSetItems, opBuild:
		t := &li.slots[n1-1]
		t.end = pos
		if t.alias {
			li.not("a value read from the memo is modified")
		}
	case opStop:
		for i := range li.slots {
			li.finish(&li.slots[i])
		}
	}
}

// plainPush marks the opcodes that push a literal (a value that is no
// list, no memo read, built from nothing on the stack).
var plainPush = func() (p [256]bool) {
	for _, op := range []byte{opNone, opNewTrue, opNewFalse, opBinInt, opBinInt1, opBinInt2, opInt, opLong, opLong1, opLong4,
		opFloat, opBinFloat, opString, opBinString, opShortBinString, opUnicode, opBinUnicode, opShortBinUnicode, opBinUnicode8,
		opBinBytes, opShortBinBytes, opBinBytes8, opByteArray8, opEmptyTuple, opEmptyDict, opEmptySet, opGlobal} {
		p[op] = true
	}
	return p
}()

func (li *leanIndex) newCand() int32 {
	li.open++
	if n := len(li.free); n > 0 {
		i := li.free[n-1]
		li.free = li.free[:n-1]
		return i
	}
	li.cands = append(li.cands, cand{})
	return int32(len(li.cands) - 1)
}

// addItems adds items to candidate ci; cut is where its items now end.
func (li *leanIndex) addItems(s *scanner, ci int32, items []lslot, kind uint8, cut int64) {
	c := &li.cands[ci]
	if c.tuple && kind != batchMark {
		c.bad = true
	}
	step := int64(li.tune.step)
	for k, it := range items {
		if (c.count+int64(k))%step == 0 {
			c.sparse = append(c.sparse, sparsePt{off: it.start, memo: it.memoAt, kind: kind})
		}
	}
	c.count += int64(len(items))
	c.end, c.memoEnd = int64(s.pos), li.writes
	c.cut, c.memoCut, c.cutKind = cut, li.writes, kind
	c.frameEnd = int64(s.inFrame)
}

// finish closes a slot that leaves the stack: its definitions end where it
// was last built, and a list candidate becomes a large sequence or not.
func (li *leanIndex) finish(sl *lslot) {
	for d := sl.def; d >= 0; d = li.defs[d].next {
		li.defs[d].end = max(li.defs[d].end, sl.end)
	}
	sl.def = -1
	if sl.cand < 0 {
		return
	}
	ci := sl.cand
	sl.cand = -1
	li.open--
	c := &li.cands[ci]
	keep := !c.bad && c.count >= int64(li.tune.minItems) && c.count > 0
	if keep && li.open > 0 {
		// Inside another list (in all likelihood): used only if that one
		// is not spliced. Their index is bounded (a column of large lists
		// would otherwise index every cell).
		li.nestedSparse += len(c.sparse)
		keep = li.nestedSparse <= maxNestedSparse
	}
	if keep {
		q := c.seqIndex // the slices move to q
		li.seqs = append(li.seqs, &q)
		*c = cand{}
	} else {
		sparse, keys := c.sparse[:0], c.keys[:0] // reused by the next list
		*c = cand{}
		c.sparse, c.keys = sparse, keys
	}
	li.free = append(li.free, ci)
}

// choose selects the sequences the skeleton splices out: outermost among
// those whose own memo keys no GET reads.
func (li *leanIndex) choose() {
	seqs := slices.Clone(li.seqs)
	slices.SortFunc(seqs, func(a, b *seqIndex) int { return int(a.start - b.start) })
	li.chosen = li.chosen[:0]
	var last *seqIndex
	for _, q := range seqs {
		if last != nil && q.start < last.end {
			continue // inside a chosen sequence
		}
		read := false
		for _, k := range q.keys {
			read = read || li.read.has(uint64(k))
		}
		if read {
			continue
		}
		li.chosen = append(li.chosen, q)
		last = q
	}
	for i, q := range li.chosen {
		q.id = i
	}
}
