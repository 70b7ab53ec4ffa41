package picklegen

import (
	"encoding/binary"
	"io"
	"math"
)

// Opcodes CPython's pickler writes for the shapes here (pickletools names).
const (
	opMark           = '('
	opStop           = '.'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opReduce         = 'R'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opEmptyList      = ']'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opProto          = 0x80
	opNewObj         = 0x81
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opShortBinUnicod = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
	opByteArray8     = 0x96
)

// CPython's pickler constants (Modules/_pickle.c).
const (
	batchSize   = 1000     // items per MARK ... APPENDS / SETITEMS batch
	frameTarget = 64 << 10 // a frame is committed at the first save() that finds it this long
	frameMin    = 4        // shorter frames lose their FRAME header
	frameHeader = 9        // FRAME + 8-byte length
)

// pickler reproduces the output of CPython's C pickler (_pickle.c, the one
// pickle.dump and pandas' to_pickle use) byte for byte, given the same
// sequence of save() calls: its framing (a frame is committed when a save()
// starts and finds the open frame at least 64 KiB long; a payload of 64 KiB
// or more is written outside any frame, the open frame committed first; a
// committed frame shorter than 4 bytes loses its header) and its memo (every
// memoizable object gets the next index, written as MEMOIZE; a repeated
// object is a BINGET or LONG_BINGET of its index).
//
// Callers mirror CPython's recursion: every save() of an object, atoms
// included, begins with [pickler.boundary]. Output is buffered up to a frame
// (plus one payload under 64 KiB), so memory does not grow with the data.
type pickler struct {
	w       io.Writer
	buf     []byte // output not yet written to w
	frameAt int    // offset in buf of the open frame's header, or -1
	framing bool   // protocol >= 4 and not inside a large payload
	memo    int    // the next memo index
	n       int64  // bytes written to w
	scratch [16]byte
}

func newPickler(w io.Writer) *pickler {
	return &pickler{w: w, buf: make([]byte, 0, 2*frameTarget), frameAt: -1}
}

// dump pickles obj to w with the given protocol as pickle.dump does,
// returning the bytes written and the first write error, which stops it.
func dump(w io.Writer, proto byte, obj object) (n int64, err error) {
	p := newPickler(w)
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(writeFailure)
			if !ok {
				panic(r)
			}
			n, err = p.n, f.err
		}
	}()
	p.start(proto)
	p.save(obj)
	return p.finish()
}

// writeFailure carries a write error out of the save recursion.
type writeFailure struct{ err error }

// start writes the PROTO header (outside any frame, as CPython does) and
// turns framing on. Only protocols 4 and 5 are written (memoPut writes
// MEMOIZE).
func (p *pickler) start(proto byte) {
	p.buf = append(p.buf, opProto, proto)
	p.framing = proto >= 4
}

// finish writes STOP, commits the last frame and flushes everything.
func (p *pickler) finish() (int64, error) {
	p.op(opStop)
	p.commit()
	p.flush()
	return p.n, nil
}

// open starts a frame if framing is on and none is open (what
// _Pickler_Write does before every write).
func (p *pickler) open() {
	if p.framing && p.frameAt < 0 {
		p.frameAt = len(p.buf)
		p.buf = append(p.buf, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	}
}

func (p *pickler) op(c byte) {
	p.open()
	p.buf = append(p.buf, c)
}

func (p *pickler) raw(b []byte) {
	p.open()
	p.buf = append(p.buf, b...)
}

// boundary is _Pickler_OpcodeBoundary, called at the start of every save():
// it commits and flushes the open frame once it holds 64 KiB or more.
func (p *pickler) boundary() {
	if p.frameAt >= 0 && len(p.buf)-p.frameAt-frameHeader >= frameTarget {
		p.commit()
		p.flush()
	}
}

// commit closes the open frame: its header gets the length, or is removed
// when the frame is shorter than frameMin.
func (p *pickler) commit() {
	if p.frameAt < 0 {
		return
	}
	n := len(p.buf) - p.frameAt - frameHeader
	if n >= frameMin {
		p.buf[p.frameAt] = opFrame
		binary.LittleEndian.PutUint64(p.buf[p.frameAt+1:], uint64(n))
	} else {
		copy(p.buf[p.frameAt:], p.buf[p.frameAt+frameHeader:])
		p.buf = p.buf[:len(p.buf)-frameHeader]
	}
	p.frameAt = -1
}

func (p *pickler) flush() {
	if len(p.buf) > 0 {
		p.direct(p.buf)
		p.buf = p.buf[:0]
	}
}

// direct writes b to w, bypassing the buffer. A write error ends the
// dump (see dump).
func (p *pickler) direct(b []byte) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		panic(writeFailure{err})
	}
}

// payload is the data of a bytes-like opcode, produced in pieces by fill,
// which calls emit with each piece in order: size bytes in all.
type payload struct {
	size int64
	fill func(emit func([]byte))
}

// writeLarge is _Pickler_write_bytes: header then data; data of 64 KiB or
// more goes straight to w, outside any frame, the open frame committed first.
func (p *pickler) writeLarge(header []byte, data []byte) {
	if len(data) < frameTarget {
		p.raw(header)
		p.raw(data)
		return
	}
	p.bypass(header, func() { p.direct(data) })
}

// writePayload is writeLarge for data produced by pl.
func (p *pickler) writePayload(header []byte, pl payload) {
	if pl.size < frameTarget {
		p.raw(header)
		pl.fill(p.raw)
		return
	}
	var got int64
	p.bypass(header, func() {
		pl.fill(func(b []byte) {
			got += int64(len(b))
			p.direct(b)
		})
	})
	if got != pl.size {
		panic("picklegen: payload size mismatch")
	}
}

func (p *pickler) bypass(header []byte, write func()) {
	p.commit()
	framing := p.framing
	p.framing = false
	p.raw(header)
	p.flush()
	write()
	p.framing = framing
}

// memoPut gives the object just written the next memo index (MEMOIZE).
func (p *pickler) memoPut() int {
	i := p.memo
	p.memo++
	p.op(opMemoize)
	return i
}

// memoGet fetches memo entry i.
func (p *pickler) memoGet(i int) {
	p.open()
	if i < 256 {
		p.buf = append(p.buf, opBinGet, byte(i))
		return
	}
	if i > math.MaxUint32 {
		panic("picklegen: memo index too large for LONG_BINGET")
	}
	p.buf = append(p.buf, opLongBinGet)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(i))
}

// The save methods below are save() for atoms: a boundary, then the
// opcode, as CPython writes them.

func (p *pickler) saveNone() {
	p.boundary()
	p.op(opNone)
}

// saveInt is save() of an int.
func (p *pickler) saveInt(v int64) {
	p.boundary()
	p.writeInt(v)
}

// writeInt is save_long for protocol >= 2.
func (p *pickler) writeInt(v int64) {
	p.open()
	switch {
	case v >= 0 && v <= 0xff:
		p.buf = append(p.buf, opBinInt1, byte(v))
	case v >= 0 && v <= 0xffff:
		p.buf = append(p.buf, opBinInt2, byte(v), byte(v>>8))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.buf = append(p.buf, opBinInt)
		p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(int32(v)))
	default:
		// LONG1: little-endian two's complement, the shortest that keeps
		// the sign (CPython takes nbits/8+1 bytes, dropping a redundant
		// 0xff for negatives).
		b := binary.LittleEndian.AppendUint64(p.scratch[:0], uint64(v))
		n := 8
		if v > 0 {
			for n > 1 && b[n-1] == 0 && b[n-2]&0x80 == 0 {
				n--
			}
		} else {
			for n > 1 && b[n-1] == 0xff && b[n-2]&0x80 != 0 {
				n--
			}
		}
		p.buf = append(p.buf, opLong1, byte(n))
		p.buf = append(p.buf, b[:n]...)
	}
}

func (p *pickler) saveFloat(f float64) {
	p.boundary()
	p.open()
	p.buf = append(p.buf, opBinFloat)
	p.buf = binary.BigEndian.AppendUint64(p.buf, math.Float64bits(f))
}

// strHeader returns the opcode header of a str of n UTF-8 bytes
// (write_unicode_binary, protocol >= 4).
func (p *pickler) strHeader(n int) []byte {
	h := p.scratch[:0]
	switch {
	case n <= 0xff:
		h = append(h, opShortBinUnicod, byte(n))
	case n <= math.MaxUint32:
		h = append(h, opBinUnicode)
		h = binary.LittleEndian.AppendUint32(h, uint32(n))
	default:
		h = append(h, opBinUnicode8)
		h = binary.LittleEndian.AppendUint64(h, uint64(n))
	}
	return h
}

// bytesHeader is _save_bytes_data's header (protocol >= 3).
func (p *pickler) bytesHeader(n int64) []byte {
	h := p.scratch[:0]
	switch {
	case n <= 0xff:
		h = append(h, opShortBinBytes, byte(n))
	case n <= math.MaxUint32:
		h = append(h, opBinBytes)
		h = binary.LittleEndian.AppendUint32(h, uint32(n))
	default:
		h = append(h, opBinBytes8)
		h = binary.LittleEndian.AppendUint64(h, uint64(n))
	}
	return h
}

// byteArrayHeader is _save_bytearray_data's header (protocol 5).
func (p *pickler) byteArrayHeader(n int64) []byte {
	h := append(p.scratch[:0], opByteArray8)
	return binary.LittleEndian.AppendUint64(h, uint64(n))
}

// saveNewStr saves a str object not seen before (a new object: not looked
// up in the memo) and memoizes it, returning its memo index.
func (p *pickler) saveNewStr(s []byte) int {
	p.boundary()
	p.writeLarge(p.strHeader(len(s)), s)
	return p.memoPut()
}

// saveSharedStr saves the str object whose memo index is in *slot (-1: not
// saved yet), memoizing it the first time.
func (p *pickler) saveSharedStr(s string, slot *int) {
	p.boundary()
	if *slot >= 0 {
		p.memoGet(*slot)
		return
	}
	// A string's bytes are only read here: no copy.
	p.writeLarge(p.strHeader(len(s)), stringBytes(s))
	*slot = p.memoPut()
}

// saveNewByteArray saves a new protocol-5 in-band buffer (a writable
// PickleBuffer, e.g. of a numpy array) and memoizes it.
func (p *pickler) saveNewByteArray(b []byte) {
	p.boundary()
	p.writeLarge(p.byteArrayHeader(int64(len(b))), b)
	p.memoPut()
}

// batchList is batch_list_exact: the items of a list of n > 0 items (the
// caller wrote EMPTY_LIST and memoized it), as APPEND for a single item,
// else MARK ... APPENDS batches of batchSize.
func (p *pickler) batchList(n int, item func(i int)) {
	if n == 1 {
		item(0)
		p.op(opAppend)
		return
	}
	for i := 0; i < n; {
		p.op(opMark)
		for b := 0; b < batchSize && i < n; b++ {
			item(i)
			i++
		}
		p.op(opAppends)
	}
}

// batchDict is batch_dict_exact: the n > 0 items of a dict (the caller
// wrote EMPTY_DICT and memoized it), item(i) saving key then value. A
// single item is SETITEM; otherwise MARK ... SETITEMS batches, and, as in
// CPython, an empty batch follows a full last one.
func (p *pickler) batchDict(n int, item func(i int)) {
	if n == 1 {
		item(0)
		p.op(opSetItem)
		return
	}
	i := 0
	for {
		p.op(opMark)
		b := 0
		for ; b < batchSize && i < n; b++ {
			item(i)
			i++
		}
		p.op(opSetItems)
		if b < batchSize {
			return
		}
	}
}
