package picklegen

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// ndarrayChecksum is the checksum Cython's pickling of pandas 1.5.3's
// NDArrayBacked (DatetimeArray) writes.
const ndarrayChecksum = 223698104

// chunkRows is how many rows a column payload is made of at a time.
const chunkRows = 4096

// WriteFrame writes src as pandas 1.5.3 writes the DataFrame generate.py's
// recruit_frame builds, with df.to_pickle(path, protocol=5): a BlockManager
// of a datetime64[ns] block (created_at), an int64 block
// (min_career_years) and an object block of the other seven columns (per
// row: str, str, str, str, str or None, list of str, float32 ndarray as
// numpy pickles it under protocol 5), and a RangeIndex. It returns the bytes
// written and the first write error, or an error wrapping [ErrShape] for a
// source with no rows or a zero dimension.
func WriteFrame(w io.Writer, src Source) (int64, error) {
	if err := checkShape(src); err != nil {
		return 0, err
	}
	return dump(w, 5, newFrameGraph(src).dataFrame())
}

func checkShape(src Source) error {
	if src.Rows() < 1 || src.Dim() < 1 {
		return fmt.Errorf("%w: %d rows of dimension %d (want at least 1 and 1)", ErrShape, src.Rows(), src.Dim())
	}
	return nil
}

// numpyObjects are the numpy globals and constants shared inside one pickle.
type numpyObjects struct {
	numpy       *pyStr // numpy.dtype's and numpy.ndarray's __module__, one str
	dtype       *pyGlobal
	ndarray     *pyGlobal
	reconstruct *pyGlobal
	frombuffer  *pyGlobal
	littleEnd   *pyStr   // '<', a cached one-character str
	orderC      *pyStr   // 'C', likewise
	bytesB      *pyBytes // b'b', a cached one-byte bytes
}

func newNumpyObjects() *numpyObjects {
	n := &numpyObjects{numpy: newStr("numpy"), littleEnd: newStr("<"), orderC: newStr("C"), bytesB: newBytes([]byte("b"))}
	n.dtype = global(n.numpy, "dtype")
	n.ndarray = global(n.numpy, "ndarray")
	n.reconstruct = global(newStr("numpy.core.multiarray"), "_reconstruct")
	n.frombuffer = global(newStr("numpy.core.numeric"), "_frombuffer")
	return n
}

// dtypeObj is numpy.dtype(name, False, True) with the state of a
// non-datetime dtype (version 3).
func (n *numpyObjects) dtypeObj(name string, order *pyStr, flags int64) *pyReduce {
	return reduce(n.dtype, tuple(newStr(name), pyBool(false), pyBool(true)),
		tuple(pyInt(3), order, pyNone{}, pyNone{}, pyNone{}, pyInt(-1), pyInt(-1), pyInt(flags)))
}

// datetimeNs is a fresh numpy.dtype('<M8[ns]') (state version 4 with the
// unit metadata); pandas holds two distinct ones per datetime block.
func (n *numpyObjects) datetimeNs() *pyReduce {
	return reduce(n.dtype, tuple(newStr("M8"), pyBool(false), pyBool(true)),
		tuple(pyInt(4), n.littleEnd, pyNone{}, pyNone{}, pyNone{}, pyInt(-1), pyInt(-1), pyInt(0),
			tuple(dict(), tuple(newBytes([]byte("ns")), pyInt(1), pyInt(1), pyInt(1)))))
}

// regular is an array as numpy pickles it without protocol 5 buffers
// (object and datetime dtypes): _reconstruct(ndarray, (0,), b'b') and the
// state (1, shape, dtype, False, data).
func (n *numpyObjects) regular(shape *pyTuple, dtype, data object) *pyReduce {
	return reduce(n.reconstruct, tuple(n.ndarray, tuple(pyInt(0)), n.bytesB),
		tuple(pyInt(1), shape, dtype, pyBool(false), data))
}

// fromBuffer is a C-contiguous array under protocol 5:
// _frombuffer(PickleBuffer, dtype, shape, 'C'), the buffer in-band.
func (n *numpyObjects) fromBuffer(data payload, dtype object, shape *pyTuple) *pyReduce {
	return reduce(n.frombuffer, tuple(&pyBytes{data: data, byteArray: true}, dtype, shape, n.orderC), nil)
}

// frameGraph builds the DataFrame's objects and writes its rows.
type frameGraph struct {
	src   Source
	n     int
	np    *numpyObjects
	f4    *pyReduce // the float32 dtype all embedding rows share
	pool  []int     // memo index of each pool string, -1 before its first save
	row   Recruit
	bytes []byte // scratch for little-endian payloads
}

func newFrameGraph(src Source) *frameGraph {
	g := &frameGraph{src: src, n: src.Rows(), np: newNumpyObjects(), pool: newPoolSlots()}
	g.f4 = g.np.dtypeObj("f4", g.np.littleEnd, 0)
	return g
}

func newPoolSlots() []int {
	s := make([]int, len(poolIndex))
	for i := range s {
		s[i] = -1
	}
	return s
}

func (g *frameGraph) dataFrame() object {
	np, n := g.np, g.n
	unpickleBlock := global(newStr("pandas._libs.internals"), "_unpickle_block")
	slice := global(newStr("builtins"), "slice")
	locs := func(lo, hi int64) object {
		return reduce(slice, tuple(pyInt(lo), pyInt(hi), pyInt(1)), nil)
	}
	block := func(values, locs object) object {
		return reduce(unpickleBlock, tuple(values, locs, pyInt(2)), nil)
	}
	i8 := np.dtypeObj("i8", np.littleEnd, 0)
	o8 := np.dtypeObj("O8", newStr("|"), 63)

	// created_at: DatetimeArray(dtype, ndarray, {'_freq': None}).
	times := np.regular(tuple(pyInt(1), pyInt(n)), np.datetimeNs(),
		&pyBytes{data: g.int64Column(FieldCreatedAt, func(r *Recruit) int64 { return r.CreatedAt * 1000 })})
	dta := reduce(global(newStr("pandas._libs.arrays"), "__pyx_unpickle_NDArrayBacked"),
		tuple(global(newStr("pandas.core.arrays.datetimes"), "DatetimeArray"), pyInt(ndarrayChecksum), pyNone{}),
		tuple(np.datetimeNs(), times, dict(newStr("_freq"), pyNone{})))

	years := np.fromBuffer(g.int64Column(FieldMinCareerYears, func(r *Recruit) int64 { return r.MinCareerYears }),
		i8, tuple(pyInt(1), pyInt(n)))

	objects := &pyList{n: 7 * n, item: g.objectItem}
	objLocs := make([]byte, 0, 7*8)
	for _, c := range []uint64{0, 1, 2, 3, 4, 5, 8} {
		objLocs = binary.LittleEndian.AppendUint64(objLocs, c)
	}
	blocks := tuple(
		block(dta, locs(7, 8)),
		block(years, locs(6, 7)),
		block(np.regular(tuple(pyInt(7), pyInt(n)), o8, objects),
			np.fromBuffer(payloadOf(objLocs), i8, tuple(pyInt(7)))),
	)

	indexes := newStr("pandas.core.indexes.base")
	newIndex := global(indexes, "_new_Index")
	name := newStr("name")
	names := make([]object, len(Columns))
	for i, c := range Columns {
		names[i] = newStr(c)
	}
	columns := reduce(newIndex, tuple(global(indexes, "Index"),
		dict(newStr("data"), np.regular(tuple(pyInt(len(Columns))), o8, list(names...)), name, pyNone{})), nil)
	rows := reduce(newIndex, tuple(global(newStr("pandas.core.indexes.range"), "RangeIndex"),
		dict(name, pyNone{}, newStr("start"), pyInt(0), newStr("stop"), pyInt(n), newStr("step"), pyInt(1))), nil)

	mgr := reduce(global(newStr("pandas.core.internals.managers"), "BlockManager"),
		tuple(blocks, list(columns, rows)), nil)
	return &pyReduce{
		fn:     global(newStr("pandas.core.frame"), "DataFrame"),
		args:   tuple(),
		newObj: true,
		state: dict(
			newStr("_mgr"), mgr,
			newStr("_typ"), newStr("dataframe"),
			newStr("_metadata"), list(),
			newStr("attrs"), dict(),
			newStr("_flags"), dict(newStr("allows_duplicate_labels"), pyBool(true)),
		),
	}
}

func payloadOf(b []byte) payload {
	return payload{size: int64(len(b)), fill: func(emit func([]byte)) { emit(b) }}
}

// int64Column is the little-endian int64 bytes of one field of every row,
// made chunkRows rows at a time.
func (g *frameGraph) int64Column(f Field, get func(*Recruit) int64) payload {
	return payload{size: 8 * int64(g.n), fill: func(emit func([]byte)) {
		for lo := 0; lo < g.n; lo += chunkRows {
			b := g.bytes[:0]
			for i := lo; i < min(lo+chunkRows, g.n); i++ {
				g.src.Fill(i, f, &g.row)
				b = binary.LittleEndian.AppendUint64(b, uint64(get(&g.row)))
			}
			emit(b)
			g.bytes = b
		}
	}}
}

// objectItem saves item i of the object block's values, which numpy lists
// in C order: column by column (recruit_id, title, company, description,
// location, skills, embedding), every row of each.
func (g *frameGraph) objectItem(p *pickler, i int) {
	col, row := i/g.n, i%g.n
	r := &g.row
	switch col {
	case 0:
		g.src.Fill(row, FieldID, r)
		p.saveNewStr(r.ID)
	case 1:
		g.src.Fill(row, FieldTitle, r)
		saveStr(p, r.Title, g.pool)
	case 2:
		g.src.Fill(row, FieldCompany, r)
		saveStr(p, r.Company, g.pool)
	case 3:
		g.src.Fill(row, FieldDescription, r)
		p.saveNewStr(r.Description)
	case 4:
		g.src.Fill(row, FieldLocation, r)
		if r.NoLocation {
			p.saveNone()
		} else {
			saveStr(p, r.Location, g.pool)
		}
	case 5:
		g.src.Fill(row, FieldSkills, r)
		saveStrList(p, r.Skills, g.pool)
	case 6:
		g.src.Fill(row, FieldEmbedding, r)
		g.saveVector(p, r.Embedding)
	}
}

// saveStr saves a str: a pool string is one shared object, anything else
// a new one.
func saveStr(p *pickler, s string, pool []int) {
	if k, ok := poolIndex[s]; ok {
		p.saveSharedStr(s, &pool[k])
		return
	}
	p.saveNewStr(stringBytes(s))
}

// saveStrList saves a new list of strs.
func saveStrList(p *pickler, ss []string, pool []int) {
	p.boundary()
	p.op(opEmptyList)
	p.memoPut()
	if len(ss) > 0 {
		p.batchList(len(ss), func(j int) { saveStr(p, ss[j], pool) })
	}
}

// saveVector saves a row's embedding as numpy pickles a 1-D float32 array
// under protocol 5: _frombuffer(PickleBuffer, dtype('float32'), (d,), 'C'),
// each save() of the nesting with its frame boundary.
func (g *frameGraph) saveVector(p *pickler, v []float32) {
	p.boundary() // the array
	p.save(g.np.frombuffer)
	p.boundary() // its 4-tuple of arguments
	p.op(opMark)
	g.bytes = appendFloat32s(g.bytes[:0], v)
	p.saveNewByteArray(g.bytes)
	p.save(g.f4)
	p.boundary() // the shape (d,)
	p.saveInt(int64(len(v)))
	p.op(opTuple1)
	p.memoPut()
	p.save(g.np.orderC)
	p.op(opTuple)
	p.memoPut()
	p.op(opReduce)
	p.memoPut()
}

func appendFloat32s(b []byte, v []float32) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}
