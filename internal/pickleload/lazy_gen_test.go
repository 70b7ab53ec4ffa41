package pickleload

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
)

// A streaming protocol-5 pickler for large generated DataFrames, written
// the way CPython and pandas 1.5 write them: 64 KiB frames, MEMOIZE after
// every memoized value, memo reads of globals, dtypes and shared strings.

type pickler struct {
	w     *bufio.Writer
	frame []byte
	memo  int
	strs  map[string]int // memoized strings (shared values, names)
}

func newPickler(w io.Writer) *pickler {
	p := &pickler{w: bufio.NewWriterSize(w, 1<<20), strs: map[string]int{}}
	p.w.Write([]byte{opProto, 5})
	return p
}

func (p *pickler) op(b ...byte) { p.frame = append(p.frame, b...); p.maybeCommit() }

// maybeCommit writes the frame once it holds 64 KiB (at an opcode
// boundary, as CPython does).
func (p *pickler) maybeCommit() {
	if len(p.frame) >= 64<<10 {
		p.commit()
	}
}

func (p *pickler) commit() {
	if len(p.frame) == 0 {
		return
	}
	var h [9]byte
	h[0] = opFrame
	binary.LittleEndian.PutUint64(h[1:], uint64(len(p.frame)))
	p.w.Write(h[:])
	p.w.Write(p.frame)
	p.frame = p.frame[:0]
}

func (p *pickler) memoize() int {
	p.frame = append(p.frame, opMemoize)
	p.memo++
	return p.memo - 1
}

func (p *pickler) get(k int) {
	if k < 256 {
		p.op(opBinGet, byte(k))
		return
	}
	p.frame = append(p.frame, opLongBinGet)
	p.op(binary.LittleEndian.AppendUint32(nil, uint32(k))...)
}

// str writes s, memoized; shared strings are read from the memo after
// their first time.
func (p *pickler) str(s string, shared bool) {
	if k, ok := p.strs[s]; ok && shared {
		p.get(k)
		return
	}
	if len(s) < 256 {
		p.frame = append(p.frame, opShortBinUnicode, byte(len(s)))
	} else {
		p.frame = append(p.frame, opBinUnicode)
		p.frame = binary.LittleEndian.AppendUint32(p.frame, uint32(len(s)))
	}
	p.frame = append(p.frame, s...)
	k := p.memoize()
	if shared {
		p.strs[s] = k
	}
	p.maybeCommit()
}

func (p *pickler) int(n int) {
	p.frame = append(p.frame, opBinInt)
	p.op(binary.LittleEndian.AppendUint32(nil, uint32(int32(n)))...)
}

// global writes module.name (STACK_GLOBAL, memoized) or reads it.
func (p *pickler) global(module, name string) {
	key := module + "\x00" + name
	if k, ok := p.strs[key]; ok {
		p.get(k)
		return
	}
	p.str(module, true)
	p.str(name, true)
	p.frame = append(p.frame, opStackGlobal)
	p.strs[key] = p.memoize()
	p.maybeCommit()
}

// dtype writes numpy.dtype(name) with its state (memoized by name).
func (p *pickler) dtype(name string, order string) {
	key := "dtype\x00" + name
	if k, ok := p.strs[key]; ok {
		p.get(k)
		return
	}
	p.global("numpy", "dtype")
	p.str(name, false)
	p.op(opNewFalse, opNewTrue, opTuple3)
	p.memoize()
	p.op(opReduce)
	p.strs[key] = p.memoize()
	p.op(opMark)
	p.int(3)
	p.str(order, true)
	p.op(opNone, opNone, opNone)
	p.int(-1)
	p.int(-1)
	p.int(0)
	p.op(opTuple)
	p.memoize()
	p.op(opBuild)
}

// frombuffer writes numpy.core.numeric._frombuffer(bytearray(b), dtype,
// shape, 'C').
func (p *pickler) frombuffer(b []byte, dt string, shape ...int) {
	p.global("numpy.core.numeric", "_frombuffer")
	p.op(opMark, opByteArray8)
	p.frame = binary.LittleEndian.AppendUint64(p.frame, uint64(len(b)))
	p.frame = append(p.frame, b...)
	p.memoize()
	p.dtype(dt, "<")
	for _, d := range shape {
		p.int(d)
	}
	if len(shape) == 1 {
		p.op(opTuple1)
	} else {
		p.op(opTuple2)
	}
	p.memoize()
	p.str("C", true)
	p.op(opTuple)
	p.memoize()
	p.op(opReduce)
	p.memoize()
}

// objectArray writes numpy's pickle of an object array of shape (k, n) or
// (n) whose items item(i) writes, C order, in APPENDS batches of 1000.
func (p *pickler) objectArray(shape []int, count int, item func(i int)) {
	p.global("numpy.core.multiarray", "_reconstruct")
	p.global("numpy", "ndarray")
	p.int(0)
	p.op(opTuple1)
	p.memoize()
	p.frame = append(p.frame, opShortBinBytes, 1, 'b')
	p.memoize()
	p.op(opTuple3)
	p.memoize()
	p.op(opReduce)
	p.memoize()
	p.op(opMark)
	p.int(1)
	for _, d := range shape {
		p.int(d)
	}
	if len(shape) == 1 {
		p.op(opTuple1)
	} else {
		p.op(opTuple2)
	}
	p.memoize()
	p.dtype("O8", "|")
	p.op(opNewFalse, opEmptyList)
	p.memoize()
	for i := range count {
		if i%1000 == 0 {
			p.op(opMark)
		}
		item(i)
		if i%1000 == 999 || i == count-1 {
			p.op(opAppends)
		}
	}
	p.op(opTuple)
	p.memoize()
	p.op(opBuild)
}

func (p *pickler) close() error {
	p.op(opStop)
	p.commit()
	return p.w.Flush()
}

var genTitles = []string{"Backend Engineer", "데이터 엔지니어", "SRE", "Android Developer", "iOS 개발자", "Data Scientist", "Search Engineer", "프론트엔드 개발자"}

// genRecruitFrame writes a pandas-1.5-shaped DataFrame of rows rows: an
// object block (recruit_id, title, description, embedding: a float32
// array of dim per row) and an int64 block (years), with a RangeIndex.
func genRecruitFrame(w io.Writer, rows, dim int) error {
	p := newPickler(w)
	p.global("pandas.core.frame", "DataFrame")
	p.op(opEmptyTuple, opNewObj)
	p.memoize()
	p.op(opEmptyDict)
	p.memoize()
	p.op(opMark)
	p.str("_mgr", true)
	p.global("pandas.core.internals.managers", "BlockManager")
	p.op(opEmptyList)
	p.memoize()
	p.op(opMark)
	// int64 block: years, column 4
	p.global("pandas._libs.internals", "_unpickle_block")
	years := make([]byte, 0, 8*rows)
	for r := range rows {
		years = binary.LittleEndian.AppendUint64(years, uint64(r%11))
	}
	p.frombuffer(years, "i8", 1, rows)
	p.global("builtins", "slice")
	p.int(4)
	p.int(5)
	p.int(1)
	p.op(opTuple3)
	p.memoize()
	p.op(opReduce)
	p.memoize()
	p.int(2)
	p.op(opTuple3)
	p.memoize()
	p.op(opReduce)
	p.memoize()
	// object block: columns 0..3
	p.global("pandas._libs.internals", "_unpickle_block")
	desc := strings.Repeat("platform backend data seoul ", 14) // ASCII: sliced anywhere
	vec := make([]byte, 4*dim)
	p.objectArray([]int{4, rows}, 4*rows, func(i int) {
		c, r := i/rows, i%rows
		switch c {
		case 0:
			p.str(fmt.Sprintf("R%07d", r+1), false)
		case 1:
			p.str(genTitles[r*7%len(genTitles)], true)
		case 2:
			p.str(fmt.Sprintf("%d %s", r, desc[:200+r%150]), false)
		case 3:
			for j := range dim {
				binary.LittleEndian.PutUint32(vec[4*j:], math.Float32bits(float32((r+j)%97)/97))
			}
			p.frombuffer(vec, "f4", dim)
		}
	})
	place := make([]byte, 0, 32)
	for c := range 4 {
		place = binary.LittleEndian.AppendUint64(place, uint64(c))
	}
	p.frombuffer(place, "i8", 4)
	p.int(2)
	p.op(opTuple3)
	p.memoize()
	p.op(opReduce)
	p.memoize()
	p.op(opAppends)
	// axes: the column labels and a RangeIndex
	p.op(opEmptyList)
	p.memoize()
	p.op(opMark)
	p.global("pandas.core.indexes.base", "_new_Index")
	p.global("pandas.core.indexes.base", "Index")
	p.op(opEmptyDict)
	p.memoize()
	p.op(opMark)
	p.str("data", true)
	names := []string{"recruit_id", "title", "description", "embedding", "years"}
	p.objectArray([]int{len(names)}, len(names), func(i int) { p.str(names[i], true) })
	p.str("name", true)
	p.op(opNone, opSetItems)
	p.op(opTuple2)
	p.memoize()
	p.op(opReduce)
	p.memoize()
	p.global("pandas.core.indexes.base", "_new_Index")
	p.global("pandas.core.indexes.range", "RangeIndex")
	p.op(opEmptyDict)
	p.memoize()
	p.op(opMark)
	p.str("name", true)
	p.op(opNone)
	p.str("start", true)
	p.int(0)
	p.str("stop", true)
	p.int(rows)
	p.str("step", true)
	p.int(1)
	p.op(opSetItems, opTuple2)
	p.memoize()
	p.op(opReduce)
	p.memoize()
	p.op(opAppends, opTuple2)
	p.memoize()
	p.op(opReduce)
	p.memoize()
	p.str("_typ", true)
	p.str("dataframe", true)
	p.op(opSetItems, opBuild)
	return p.close()
}
