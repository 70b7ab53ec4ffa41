package pickleload

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"unsafe"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/embedstream/embedstream/internal/table"
)

// Window decode: the items [i, j) of a large sequence are decoded from a
// small pickle synthesized for them,
//
//	PROTO p | definitions, each followed by POP | list opening | items | list closing | STOP
//
// where the items are a copy of the input's bytes from the sparse index
// entry at or before i to the one at or after j, and the definitions are
// copies of the opcodes defining every memo key those bytes read but do not
// define (closed over the keys the definitions read). Opcodes keep their
// lengths: memo keys are renumbered in place (the synthesized pickle writes
// keys 0, 1, 2, ... in order, which never needs more digits than the
// input's keys) and FRAMEs become empty frames, so that an offset in the
// copy maps back to the input. The pickle then goes through the eager
// path's pre-pass and interpreter.

// opSpan returns the length of the opcode at data[at] with its arguments,
// or false when it is unknown or runs past the end.
func opSpan(data []byte, at int) (int, bool) {
	if at >= len(data) {
		return 0, false
	}
	rest := len(data) - at - 1
	fixed := func(n int) (int, bool) { return 1 + n, n <= rest }
	prefixed := func(size int) (int, bool) {
		if size > rest {
			return 0, false
		}
		b := data[at+1 : at+1+size]
		var n uint64
		switch size {
		case 1:
			n = uint64(b[0])
		case 4:
			n = uint64(binary.LittleEndian.Uint32(b))
		default:
			n = binary.LittleEndian.Uint64(b)
		}
		if n > uint64(rest-size) {
			return 0, false
		}
		return 1 + size + int(n), true
	}
	lines := func(k int) (int, bool) {
		p := at + 1
		for range k {
			i := bytes.IndexByte(data[p:], '\n')
			if i < 0 {
				return 0, false
			}
			p += i + 1
		}
		return p - at, true
	}
	switch data[at] {
	case opMark, opStop, opPop, opPopMark, opDup, opNone, opNewTrue, opNewFalse, opReduce, opAppend,
		opBuild, opDict, opEmptyDict, opAppends, opList, opEmptyList, opObj, opSetItem, opTuple,
		opEmptyTuple, opSetItems, opTuple1, opTuple2, opTuple3, opEmptySet, opAddItems, opFrozenSet,
		opNewObj, opNewObjEx, opStackGlobal, opMemoize, opNextBuffer, opReadOnlyBuffer, opBinPersID:
		return 1, true
	case opProto, opBinInt1, opBinGet, opBinPut, opExt1:
		return fixed(1)
	case opBinInt2, opExt2:
		return fixed(2)
	case opBinInt, opLongBinGet, opLongBinPut, opExt4:
		return fixed(4)
	case opBinFloat, opFrame:
		return fixed(8)
	case opInt, opLong, opFloat, opString, opUnicode, opGet, opPut, opPersID:
		return lines(1)
	case opGlobal, opInst:
		return lines(2)
	case opShortBinString, opShortBinBytes, opShortBinUnicode, opLong1:
		return prefixed(1)
	case opBinString, opBinBytes, opBinUnicode, opLong4:
		return prefixed(4)
	case opBinUnicode8, opBinBytes8, opByteArray8:
		return prefixed(8)
	}
	return 0, false
}

// memoOp decodes the memo key of a memo opcode of length n at data[at]:
// write reports a write (else a read); ok is false for other opcodes and
// MEMOIZE (whose key is implicit).
func memoOp(data []byte, at, n int) (key int64, write, ok bool) {
	switch data[at] {
	case opBinPut, opBinGet:
		return int64(data[at+1]), data[at] == opBinPut, true
	case opLongBinPut, opLongBinGet:
		return int64(binary.LittleEndian.Uint32(data[at+1:])), data[at] == opLongBinPut, true
	case opPut, opGet:
		k, err := strconv.ParseUint(string(bytes.TrimSpace(data[at+1:at+n-1])), 10, 31)
		if err != nil {
			return 0, false, false
		}
		return int64(k), data[at] == opPut, true
	}
	return 0, false, false
}

// walkReads calls fn with every memo key read in data[from:to].
func walkReads(data []byte, from, to int64, fn func(key int64) error) error {
	for at := int(from); at < int(to); {
		n, ok := opSpan(data, at)
		if !ok {
			return newErr(ErrMalformed, int64(at), opName(data[at]), "unreadable opcode in a sequence")
		}
		if k, w, ok := memoOp(data, at, n); ok && !w {
			if err := fn(k); err != nil {
				return err
			}
		}
		at += n
	}
	return nil
}

// piece maps buf[at:at+n] of a synthesized pickle to data[from:from+n].
type piece struct{ at, from, n int64 }

// synth is a synthesized pickle and where its bytes came from.
type synth struct {
	buf    []byte
	pieces []piece
}

// inputOffset maps an offset in the synthesized pickle to the input's
// (the piece it falls in), or -1.
func (sy *synth) inputOffset(off int64) int64 {
	for _, p := range sy.pieces {
		if off >= p.at && off < p.at+p.n {
			return p.from + off - p.at
		}
	}
	for _, p := range sy.pieces {
		if off == p.at+p.n {
			return p.from + p.n // just after a piece: where a reader stopped
		}
	}
	return -1
}

// renumber maps the input's memo keys to the synthesized pickle's.
type renumber struct {
	pre    map[int64]int64 // keys the definitions write
	first  int64           // the first key the copied items write
	offset int64           // the items' keys are key - first + offset
	next   int64           // the next key written
}

func (r *renumber) key(k int64) (int64, bool) {
	if k >= r.first {
		return k - r.first + r.offset, true
	}
	v, ok := r.pre[k]
	return v, ok
}

// copyOps appends data[from:to] to buf with memo keys renumbered and
// FRAMEs emptied; memo writes of keys below r.first are the definitions'
// (memoAt: writes before from).
func copyOps(buf []byte, data []byte, from, to, memoAt int64, r *renumber, defs bool) ([]byte, error) {
	base := len(buf)
	buf = append(buf, data[from:to]...)
	w := memoAt // the ordinal of the next memo write
	for at := int(from); at < int(to); {
		n, ok := opSpan(data, at)
		if !ok || at+n > int(to) {
			return nil, newErr(ErrMalformed, int64(at), opName(data[at]), "unreadable opcode in a sequence")
		}
		o := buf[base+at-int(from):]
		switch op := data[at]; op {
		case opFrame:
			clear(o[1:9])
		case opMemoize:
			if defs {
				r.pre[w] = r.next
			}
			r.next++
			w++
		default:
			k, write, ok := memoOp(data, at, n)
			if !ok {
				break
			}
			var nk int64
			if write {
				if defs {
					r.pre[k] = r.next
				}
				nk = r.next
				r.next++
				w++
			} else if nk, ok = r.key(k); !ok {
				return nil, newErr(ErrMalformed, int64(at), opName(op), "memo key %d has no definition in a window", k)
			}
			if err := putKey(o[:n], nk); err != nil {
				return nil, newErr(ErrMalformed, int64(at), opName(op), "%v", err)
			}
		}
		at += n
	}
	return buf, nil
}

// putKey writes key k into the memo opcode o (which keeps its length).
func putKey(o []byte, k int64) error {
	switch o[0] {
	case opBinPut, opBinGet:
		if k > 255 {
			return errKeyWidth
		}
		o[1] = byte(k)
	case opLongBinPut, opLongBinGet:
		binary.LittleEndian.PutUint32(o[1:], uint32(k))
	case opPut, opGet:
		field := o[1 : len(o)-1]
		d := strconv.AppendInt(nil, k, 10)
		if len(d) > len(field) {
			return errKeyWidth
		}
		for i := range field {
			field[i] = '0'
		}
		copy(field[len(field)-len(d):], d)
	}
	return nil
}

var errKeyWidth = newErr(ErrMalformed, -1, "", "renumbered memo key does not fit")

// segment is a definition copied into a preamble.
type segment struct{ start, end, memoAt int64 }

// definitions returns, in input order and without nested ones, the
// definitions of keys (read at or after limit, defined before it) and of
// every key they read in turn. A definition that ends after limit (the
// value is still being built there: a reference to itself) is refused, and
// so is more than budget bytes of them.
func (li *leanIndex) definitions(data []byte, keys map[int64]bool, limit, budget int64) ([]segment, error) {
	var queue []int64
	for k := range keys {
		queue = append(queue, k)
	}
	slices.Sort(queue)
	seen := map[int64]bool{}
	var segs []segment
	total := int64(0)
	for len(queue) > 0 {
		k := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if seen[k] {
			continue
		}
		seen[k] = true
		d := li.def(k)
		if d == nil {
			return nil, newErr(ErrMalformed, -1, "", "memo key %d read by a sequence has no definition", k)
		}
		if d.end > limit {
			return nil, newErr(ErrUnsupported, d.start, "", "a value refers to the sequence that holds it (self-reference)")
		}
		segs = append(segs, segment{d.start, d.end, d.memoAt})
		if total += d.end - d.start; total > budget {
			return nil, newErr(ErrLimit, d.start, "", "the values a part of a sequence shares with the rest take more than %d bytes", budget)
		}
		err := walkReads(data, d.start, d.end, func(r int64) error {
			if r < d.memoAt && !seen[r] {
				queue = append(queue, r)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(segs, func(a, b segment) int {
		if a.start != b.start {
			return int(a.start - b.start)
		}
		return int(b.end - a.end)
	})
	out := segs[:0]
	for _, s := range segs {
		if n := len(out); n > 0 && s.start < out[n-1].end {
			if s.end > out[n-1].end {
				return nil, newErr(ErrMalformed, s.start, "", "overlapping definitions in a sequence")
			}
			continue // nested in the previous one
		}
		out = append(out, s)
	}
	return out, nil
}

// synthesize builds the pickle decoding to items [s, e) of q; s and e are
// multiples of the sparse step (or e is q.count).
func (f *lazyFile) synthesize(q *seqIndex, s, e int64) (*synth, error) {
	li, step := f.idx, int64(f.tune.step)
	sp := q.sparse[s/step]
	cut, cutKind := q.cut, q.cutKind
	if e < q.count {
		ep := q.sparse[e/step]
		cut, cutKind = ep.off, ep.kind
	}
	// one walk over the items: the memo opcodes and FRAMEs to patch, and
	// the keys read that the items do not define
	keys := map[int64]bool{}
	var refs []int64
	for at := sp.off; at < cut; {
		n, ok := opSpan(f.data, int(at))
		if !ok || at+int64(n) > cut {
			return nil, fmt.Errorf("%w: unreadable opcode at byte %d of a sequence", errNotLazy, at)
		}
		switch op := f.data[at]; op {
		case opFrame:
			refs = append(refs, at)
		case opBinPut, opLongBinPut, opPut, opBinGet, opLongBinGet, opGet:
			refs = append(refs, at)
			if k, w, ok := memoOp(f.data, int(at), n); ok && !w && k < sp.memo {
				keys[k] = true
			}
		}
		at += int64(n)
	}
	segs, err := li.definitions(f.data, keys, sp.off, f.preambleBudget())
	if err != nil {
		// not a fault of the input: a window the lazy path cannot make
		return nil, fmt.Errorf("%w: %w", errNotLazy, err)
	}
	sy := &synth{}
	size := int(cut-sp.off) + 16
	for _, g := range segs {
		size += int(g.end-g.start) + 1
	}
	buf := f.synthBuf(size)
	if li.proto >= 0 {
		buf = append(buf, opProto, byte(li.proto))
	}
	r := &renumber{pre: map[int64]int64{}, first: sp.memo}
	for _, g := range segs {
		sy.pieces = append(sy.pieces, piece{int64(len(buf)), g.start, g.end - g.start})
		if buf, err = copyOps(buf, f.data, g.start, g.end, g.memoAt, r, true); err != nil {
			return nil, fmt.Errorf("%w: %w", errNotLazy, err)
		}
		buf = append(buf, opPop)
	}
	r.offset = r.next // the items write keys in order from here
	switch sp.kind {
	case batchAppend:
		buf = append(buf, opEmptyList)
	case batchAppends:
		buf = append(buf, opEmptyList, opMark)
	case batchMark:
		buf = append(buf, opMark)
	}
	base := int64(len(buf))
	sy.pieces = append(sy.pieces, piece{base, sp.off, cut - sp.off})
	buf = append(buf, f.data[sp.off:cut]...)
	for _, at := range refs {
		o := buf[base+at-sp.off:]
		if o[0] == opFrame {
			clear(o[1:9])
			continue
		}
		n, _ := opSpan(f.data, int(at))
		k, _, _ := memoOp(f.data, int(at), n)
		nk, ok := r.key(k)
		if !ok {
			return nil, fmt.Errorf("%w: memo key %d at byte %d has no definition in a window", errNotLazy, k, at)
		}
		if err := putKey(o[:n], nk); err != nil {
			return nil, fmt.Errorf("%w: %w", errNotLazy, err)
		}
	}
	switch cutKind {
	case batchAppends:
		buf = append(buf, opAppends)
	case batchMark:
		buf = append(buf, opList)
	}
	sy.buf = append(buf, opStop)
	return sy, nil
}

// preambleBudget is the most definition bytes a window may copy.
func (f *lazyFile) preambleBudget() int64 {
	if f.tune.preamble > 0 {
		return f.tune.preamble
	}
	return max(4<<20, 4*f.windowBytes())
}

// decodeSeq decodes items [i, j) of q; raw is the decoded list of the
// aligned range around them (for the fast path's float list check). The
// items alias buf, the synthesized pickle they were decoded from (strings,
// bytes and arrays point into it): the caller may hand it back with
// [lazyFile.releaseSynth] once nothing it keeps points into it.
func (f *lazyFile) decodeSeq(q *seqIndex, i, j int64) (items []any, raw any, buf []byte, err error) {
	step := int64(f.tune.step)
	s := i / step * step
	e := min(q.count, (j+step-1)/step*step)
	sy, err := f.synthesize(q, s, e)
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := f.decodeSynth(sy)
	if err != nil {
		return nil, nil, nil, err
	}
	var all []any
	switch x := v.(type) {
	case *types.List:
		all = *x
	case *vmList:
		all = x.all()
	}
	if int64(len(all)) != e-s {
		return nil, nil, nil, newErr(ErrMalformed, q.start, "", "a part of a sequence decodes to %d items, want %d", len(all), e-s)
	}
	return all[i-s : j-s], v, sy.buf, nil
}

// decodeSynth runs the eager path's pre-pass and interpreter over sy. Its
// decoded-size limit is relative to the window (the whole file's was
// checked by the index passes): it bounds the window's memory, and no
// pickle reaches it (a pushed value is charged at most 32 + 64 bytes a
// byte, 64 only while MARKs nest deeper).
func (f *lazyFile) decodeSynth(sy *synth) (v any, err error) {
	opts := f.opts
	opts.MaxDecodedBytes = min(opts.MaxDecodedBytes, 48*int64(len(sy.buf))+DefaultDecodedSlack)
	sr, err := scan(sy.buf, opts)
	if err == nil {
		if f.idx.objects {
			v, err = unpickle(sr, nil)
		} else {
			v, err = (&fastVM{data: sr.data}).run()
		}
	}
	if e, ok := err.(*Error); ok && e.Offset >= 0 {
		e.Offset = sy.inputOffset(e.Offset)
	}
	return v, err
}

// Synthesized pickles' buffers are reused: a window's is handed back
// (releaseSynth) once the window's table holds none of its bytes (detach),
// so that a window does not allocate, and the runtime zero, a buffer about
// the size of its input. [lazySource.Window] and pass C hand buffers back;
// a decode that fails, and decodeErrorBefore's, leave theirs to the
// collector.

// synthBuf returns an empty buffer of at least size bytes of capacity: a
// handed-back one when there is one large enough and not much larger (a
// pass C window's buffer is dropped rather than held by a Window's part a
// quarter of its size, which would raise the peak).
func (f *lazyFile) synthBuf(size int) []byte {
	if f.keeps.Load() {
		return make([]byte, 0, size) // windows keep their buffers: none comes back
	}
	if p, ok := f.synths.Get().(*[]byte); ok && cap(*p) >= size && cap(*p) <= 2*size+64<<10 {
		return (*p)[:0]
	}
	return make([]byte, 0, size+size/8) // room for a slightly larger window next time
}

// releaseSynth hands back buf, the synthesized pickle of a decode, for
// reuse: nothing may point into it any more. A buffer much larger than a
// window's is left to the collector, so that what is kept stays about the
// windows' size; the pool itself is emptied by garbage collections.
func (f *lazyFile) releaseSynth(buf []byte) {
	if cap(buf) == 0 || int64(cap(buf)) > 2*f.windowBytes()+f.windowBytes()/4 {
		return
	}
	if f.tune.poison {
		// tests: a value still pointing here reads as invalid UTF-8
		b := buf[:cap(buf)]
		for i := range b {
			b[i] = 0xA5
		}
	}
	f.synths.Put(&buf)
}

// detach copies the values of t's columns that point into one of bufs
// (strings, bytes, raw vectors decoded from synthesized pickles) into one
// new block, so that t points into none of bufs, and reports true; or,
// when they take more than half of bufs' bytes (copying them would cost
// about what reusing bufs saves: a DataFrame's raw vectors) and always is
// not set, it changes nothing and reports false. Other values, and values
// of length 0 (which read no byte), are left as they are: a column t
// shares with the source (an eager column's rows) is never written.
func detach(t *table.Table, bufs [][]byte, always bool) bool {
	d := &detacher{bufs: bufs}
	d.walk(t, false)
	if d.total == 0 {
		return true
	}
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	if d.total > n/2 && !always {
		return false
	}
	d.block = make([]byte, 0, d.total)
	d.walk(t, true)
	return true
}

// detacher is detach's state: the first walk counts the bytes to copy, the
// second copies them into block.
type detacher struct {
	bufs  [][]byte
	total int
	block []byte
}

// in reports whether the n > 0 bytes at p are in one of d.bufs.
func (d *detacher) in(p *byte, n int) bool {
	if n == 0 {
		return false
	}
	a := uintptr(unsafe.Pointer(p))
	for _, b := range d.bufs {
		if cap(b) == 0 {
			continue
		}
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(b[:cap(b)])))
		if a >= lo && a < lo+uintptr(cap(b)) {
			return true
		}
	}
	return false
}

// copied returns the copy in d.block of the n bytes at p and true when
// they are in d.bufs and move is set (counting them when it is not).
func (d *detacher) copied(p *byte, n int, move bool) ([]byte, bool) {
	if !d.in(p, n) {
		return nil, false
	}
	if !move {
		d.total += n
		return nil, false
	}
	at := len(d.block)
	d.block = append(d.block, unsafe.Slice(p, n)...)
	return d.block[at : at+n : at+n], true
}

func (d *detacher) walk(t *table.Table, move bool) {
	str := func(s *string) {
		if b, ok := d.copied(unsafe.StringData(*s), len(*s), move); ok {
			*s = unsafe.String(&b[0], len(b))
		}
	}
	byteSlice := func(v *[]byte) {
		if b, ok := d.copied(unsafe.SliceData(*v), len(*v), move); ok {
			*v = b
		}
	}
	for _, c := range t.Columns {
		for i := range c.Strings {
			str(&c.Strings[i])
		}
		for _, l := range c.StringLists {
			for i := range l {
				str(&l[i])
			}
		}
		for i := range c.Bytes {
			byteSlice(&c.Bytes[i])
		}
		for i := range c.RawVectors {
			byteSlice(&c.RawVectors[i])
		}
		if n := 4 * len(c.Vectors); n > 0 && d.in((*byte)(unsafe.Pointer(&c.Vectors[0])), n) {
			// a float32 view of a buffer (none is made today): its own copy
			if move {
				c.Vectors = slices.Clone(c.Vectors)
			} else {
				d.total += n
			}
		}
	}
}
