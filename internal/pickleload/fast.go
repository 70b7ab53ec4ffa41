package pickleload

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/big"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/nlpodyssey/gopickle/types"
)

// The fast path.
//
// gopickle boxes every value into its object graph (two allocations per
// float: a read buffer and the box), which holds plain-data pickles (lists
// of dicts of scalars and number lists) to about half of CPython's speed.
// Pickles that build no objects (no NEWOBJ, NEWOBJ_EX, BUILD, INST or OBJ:
// records, dicts of lists, datetimes and decimals through REDUCE) are
// decoded here instead, by a small interpreter over the input that the
// pre-pass has already validated: strings are sliced from the input, floats
// stay unboxed on the stack and lists of floats are kept as []float64.
// Everything else (DataFrames, numpy arrays, user objects) goes through
// gopickle.

// vmList is a Python list decoded by the fast path: either all floats
// (floats, while every item appended so far was a float) or boxed items.
type vmList struct {
	floats []float64
	items  []any
	boxed  bool
}

func (l *vmList) len() int {
	if l.boxed {
		return len(l.items)
	}
	return len(l.floats)
}

// all returns the items as boxed values.
func (l *vmList) all() []any {
	if l.boxed {
		return l.items
	}
	out := make([]any, len(l.floats))
	for i, f := range l.floats {
		out[i] = f
	}
	return out
}

func (l *vmList) box() {
	if !l.boxed {
		l.items = l.all()
		l.floats = nil
		l.boxed = true
	}
}

// slot is a stack or memo entry: a float kept unboxed, or any value.
type slot struct {
	v   any
	f   float64
	isF bool
}

func (s slot) value() any {
	if s.isF {
		return s.f
	}
	return s.v
}

type fastVM struct {
	data  []byte
	pos   int
	stack []slot
	marks []int
	memo  []slot
	isSet []bool
	nmemo int
	mmap  map[int]slot
	skips []vmSkip // a skeleton decode's sequences (see skeleton.go)
}

// vmSkip is a sequence the fast path replaces by its placeholder, after
// running its definitions (blob: as the pre-pass checked them).
type vmSkip struct {
	start, end int
	blob       []byte
	seq        *lazySeq
	memoEnd    int
}

// stopAt is the next offset at which loop(end) must stop: end or the next
// skip, in the current data (-1: none).
func (m *fastVM) stopAt(end int) int {
	if end >= 0 || len(m.skips) == 0 {
		return end // definitions (end >= 0) hold no skips
	}
	return m.skips[0].start
}

// skip runs the definitions of the sequence at m.pos and pushes its
// placeholder instead of it.
func (m *fastVM) skip() error {
	sk := m.skips[0]
	m.skips = m.skips[1:]
	if len(sk.blob) > 0 {
		data, pos := m.data, m.pos
		m.data, m.pos = sk.blob, 0
		_, err := m.loop(len(sk.blob))
		m.data, m.pos = data, pos
		if err != nil {
			if e, ok := err.(*Error); ok {
				e.Offset = int64(sk.start)
			}
			return err
		}
	}
	m.push(sk.seq)
	m.pos, m.nmemo = sk.end, sk.memoEnd
	return nil
}

func (m *fastVM) u8() int {
	v := m.data[m.pos]
	m.pos++
	return int(v)
}

func (m *fastVM) u16() int {
	v := binary.LittleEndian.Uint16(m.data[m.pos:])
	m.pos += 2
	return int(v)
}

func (m *fastVM) u32() int {
	v := binary.LittleEndian.Uint32(m.data[m.pos:])
	m.pos += 4
	return int(v)
}

func (m *fastVM) u64() int {
	v := binary.LittleEndian.Uint64(m.data[m.pos:])
	m.pos += 8
	return int(v)
}

func (m *fastVM) take(n int) []byte {
	b := m.data[m.pos : m.pos+n : m.pos+n]
	m.pos += n
	return b
}

func (m *fastVM) line() []byte {
	i := bytes.IndexByte(m.data[m.pos:], '\n')
	l := m.data[m.pos : m.pos+i]
	m.pos += i + 1
	return l
}

func (m *fastVM) push(v any)      { m.stack = append(m.stack, slot{v: v}) }
func (m *fastVM) pushF(f float64) { m.stack = append(m.stack, slot{f: f, isF: true}) }

func (m *fastVM) pop() slot {
	s := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	return s
}

func (m *fastVM) popMark() []slot {
	b := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := m.stack[b:]
	m.stack = m.stack[:b]
	return items
}

func boxAll(items []slot) []any {
	out := make([]any, len(items))
	for i, s := range items {
		out[i] = s.value()
	}
	return out
}

func (m *fastVM) setMemo(k int) {
	v := m.stack[len(m.stack)-1]
	if k < len(m.memo)+1<<16 {
		for len(m.memo) <= k {
			m.memo = append(m.memo, slot{})
			m.isSet = append(m.isSet, false)
		}
		if !m.isSet[k] {
			m.nmemo++
			m.isSet[k] = true
		}
		m.memo[k] = v
		return
	}
	if m.mmap == nil {
		m.mmap = map[int]slot{}
	}
	if _, ok := m.mmap[k]; !ok {
		m.nmemo++
	}
	m.mmap[k] = v
}

func (m *fastVM) getMemo(k int) slot {
	if k < len(m.memo) && m.isSet[k] {
		return m.memo[k]
	}
	return m.mmap[k]
}

func (m *fastVM) appendTo(target slot, items []slot) error {
	l, ok := target.v.(*vmList)
	if !ok {
		return newErr(ErrMalformed, int64(m.pos-1), "APPENDS", "append to a %s", typeName(target.value()))
	}
	if !l.boxed {
		allF := true
		for _, it := range items {
			if !it.isF {
				allF = false
				break
			}
		}
		if allF {
			l.floats = slices.Grow(l.floats, len(items))
			for _, it := range items {
				l.floats = append(l.floats, it.f)
			}
			return nil
		}
		l.box()
	}
	l.items = slices.Grow(l.items, len(items))
	for _, it := range items {
		l.items = append(l.items, it.value())
	}
	return nil
}

func (m *fastVM) setItems(target slot, items []slot) error {
	d, ok := target.v.(*types.Dict)
	if !ok {
		return newErr(ErrMalformed, int64(m.pos-1), "SETITEMS", "set item on a %s", typeName(target.value()))
	}
	for i := 0; i+1 < len(items); i += 2 {
		*d = append(*d, types.DictEntry{Key: items[i].value(), Value: items[i+1].value()})
	}
	return nil
}

// plainArg converts fast-path lists to gopickle lists for the hooks.
func plainArg(v any) any {
	if l, ok := v.(*vmList); ok {
		return types.NewListFromSlice(l.all())
	}
	return v
}

func decodeLong(b []byte) any {
	if len(b) == 0 {
		return 0
	}
	if len(b) <= 8 {
		var ux uint64
		for i := len(b) - 1; i >= 0; i-- {
			ux = ux<<8 | uint64(b[i])
		}
		shift := 64 - 8*uint(len(b))
		return int(int64(ux<<shift) >> shift)
	}
	// two's complement little-endian
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	n := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}

func py2Str(b []byte) any {
	if utf8.Valid(b) {
		return string(b)
	}
	return b
}

// run interprets the (pre-checked) pickle and returns the top-level value.
func (m *fastVM) run() (any, error) { return m.loop(-1) }

// loop interprets opcodes up to STOP (returning the top-level value) or to
// offset end (returning nil).
func (m *fastVM) loop(end int) (any, error) {
	stop := m.stopAt(end) // the next offset where the loop must look up: one compare an opcode
	for {
		if m.pos == stop {
			if m.pos == end {
				return nil, nil
			}
			if err := m.skip(); err != nil {
				return nil, err
			}
			stop = m.stopAt(end)
			continue
		}
		at := m.pos
		op := m.data[m.pos]
		m.pos++
		switch op {
		case opProto:
			m.pos++
		case opFrame:
			m.pos += 8
		case opStop:
			return m.stack[len(m.stack)-1].value(), nil
		case opMark:
			m.marks = append(m.marks, len(m.stack))
		case opPop:
			if len(m.marks) > 0 && len(m.stack) == m.marks[len(m.marks)-1] {
				m.popMark()
			} else {
				m.pop()
			}
		case opPopMark:
			m.popMark()
		case opDup:
			m.stack = append(m.stack, m.stack[len(m.stack)-1])
		case opNone:
			m.push(nil)
		case opNewTrue:
			m.push(true)
		case opNewFalse:
			m.push(false)
		case opBinInt1:
			m.push(m.u8())
		case opBinInt2:
			m.push(m.u16())
		case opBinInt:
			m.push(int(int32(uint32(m.u32()))))
		case opInt:
			l := string(bytes.TrimSpace(m.line()))
			switch l {
			case "00":
				m.push(false)
			case "01":
				m.push(true)
			default:
				n, _ := strconv.ParseInt(l, 10, 64)
				m.push(int(n))
			}
		case opLong:
			t := string(bytes.TrimSuffix(bytes.TrimSpace(m.line()), []byte("L")))
			if n, err := strconv.ParseInt(t, 10, 64); err == nil {
				m.push(int(n))
			} else {
				b, _ := new(big.Int).SetString(t, 10)
				m.push(b)
			}
		case opLong1:
			m.push(decodeLong(m.take(m.u8())))
		case opLong4:
			m.push(decodeLong(m.take(m.u32())))
		case opFloat:
			f, _ := strconv.ParseFloat(string(m.line()), 64)
			m.pushF(f)
		case opBinFloat:
			m.pushF(math.Float64frombits(binary.BigEndian.Uint64(m.take(8))))
		case opShortBinUnicode:
			m.push(aliasString(m.take(m.u8())))
		case opBinUnicode:
			m.push(aliasString(m.take(m.u32())))
		case opBinUnicode8:
			m.push(aliasString(m.take(m.u64())))
		case opUnicode:
			s, err := decodeRawUnicodeEscape(m.line())
			if err != nil {
				return nil, newErr(ErrMalformed, int64(at), "UNICODE", "%v", err)
			}
			m.push(s)
		case opString:
			b, err := decodeStringRepr(m.line())
			if err != nil {
				return nil, newErr(ErrMalformed, int64(at), "STRING", "%v", err)
			}
			m.push(py2Str(b))
		case opShortBinString:
			m.push(py2Str(m.take(m.u8())))
		case opBinString:
			m.push(py2Str(m.take(m.u32())))
		case opShortBinBytes:
			m.push(m.take(m.u8()))
		case opBinBytes:
			m.push(m.take(m.u32()))
		case opBinBytes8:
			m.push(m.take(m.u64()))
		case opByteArray8:
			m.push(types.NewByteArrayFromSlice(m.take(m.u64())))
		case opReadOnlyBuffer:
		case opEmptyTuple:
			m.push(types.NewTupleFromSlice(nil))
		case opTuple1, opTuple2, opTuple3:
			n := int(op-opTuple1) + 1
			t := boxAll(m.stack[len(m.stack)-n:])
			m.stack = m.stack[:len(m.stack)-n]
			m.push(types.NewTupleFromSlice(t))
		case opTuple:
			m.push(types.NewTupleFromSlice(boxAll(m.popMark())))
		case opEmptyList, opEmptySet:
			m.push(&vmList{})
		case opList, opFrozenSet:
			l := &vmList{}
			if err := m.appendTo(slot{v: l}, m.popMark()); err != nil {
				return nil, err
			}
			m.push(l)
		case opEmptyDict:
			m.push(types.NewDict())
		case opDict:
			items := m.popMark()
			d := make(types.Dict, 0, len(items)/2)
			if err := m.setItems(slot{v: &d}, items); err != nil {
				return nil, err
			}
			m.push(&d)
		case opAppend:
			v := m.pop()
			if err := m.appendTo(m.stack[len(m.stack)-1], []slot{v}); err != nil {
				return nil, err
			}
		case opAppends, opAddItems:
			items := m.popMark()
			if err := m.appendTo(m.stack[len(m.stack)-1], items); err != nil {
				return nil, err
			}
		case opSetItem:
			v := m.pop()
			k := m.pop()
			if err := m.setItems(m.stack[len(m.stack)-1], []slot{k, v}); err != nil {
				return nil, err
			}
		case opSetItems:
			items := m.popMark()
			if err := m.setItems(m.stack[len(m.stack)-1], items); err != nil {
				return nil, err
			}
		case opBinPut:
			m.setMemo(m.u8())
		case opLongBinPut:
			m.setMemo(m.u32())
		case opPut:
			k, _ := strconv.Atoi(string(bytes.TrimSpace(m.line())))
			m.setMemo(k)
		case opMemoize:
			m.setMemo(m.nmemo)
		case opBinGet:
			m.stack = append(m.stack, m.getMemo(m.u8()))
		case opLongBinGet:
			m.stack = append(m.stack, m.getMemo(m.u32()))
		case opGet:
			k, _ := strconv.Atoi(string(bytes.TrimSpace(m.line())))
			m.stack = append(m.stack, m.getMemo(k))
		case opGlobal:
			module := string(m.line())
			name := string(m.line())
			g, err := findClass(module, name)
			if err != nil {
				return nil, err
			}
			m.push(g)
		case opStackGlobal:
			name, ok1 := m.pop().v.(string)
			module, ok2 := m.pop().v.(string)
			if !ok1 || !ok2 {
				return nil, newErr(ErrMalformed, int64(at), "STACK_GLOBAL", "operands are not strings")
			}
			g, err := findClass(module, name)
			if err != nil {
				return nil, err
			}
			m.push(g)
		case opReduce:
			args, ok1 := m.pop().v.(*types.Tuple)
			fn, ok := m.pop().v.(*knownGlobal)
			if !ok || !ok1 {
				return nil, newErr(ErrMalformed, int64(at), "REDUCE", "call of a non-callable")
			}
			plain := make([]any, len(*args))
			for i, a := range *args {
				plain[i] = plainArg(a)
			}
			touchArgs(plain)
			v, err := fn.call(plain)
			if err != nil {
				if e, ok := err.(*Error); ok && e.Offset < 0 {
					e.Offset = int64(at)
				}
				return nil, err
			}
			m.push(v)
		default:
			return nil, newErr(ErrMalformed, int64(at), opName(op), "opcode not handled by the fast path")
		}
	}
}
