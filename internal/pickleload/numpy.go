package pickleload

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/nlpodyssey/gopickle/types"
)

// dtype is a decoded numpy dtype.
type dtype struct {
	str  string // as pickled, e.g. "f8", "M8"
	kind byte   // b i u f c O M m U S V
	size int    // item size in bytes
	big  bool   // big-endian
	unit string // datetime64/timedelta64 unit, e.g. "ns"
}

// parseDtype decodes a numpy.dtype object (REDUCE numpy.dtype(str, align,
// copy) + BUILD state).
func parseDtype(v any) (*dtype, error) {
	o, ok := v.(*pyObject)
	if !ok || o.name != "dtype" || len(o.args) < 1 {
		return nil, newErr(ErrMalformed, -1, "", "expected a numpy dtype, got %s", typeName(v))
	}
	if o.dtype != nil {
		return o.dtype, nil // dtypes are memoized and shared by many arrays
	}
	d, err := parseDtypeState(o)
	if err == nil {
		o.dtype = d
	}
	return d, err
}

func parseDtypeState(o *pyObject) (*dtype, error) {
	s, ok := o.args[0].(string)
	if !ok || s == "" {
		return nil, newErr(ErrMalformed, -1, "", "numpy dtype with a %s name", typeName(o.args[0]))
	}
	d := &dtype{str: s, kind: s[0]}
	if n, err := strconv.Atoi(s[1:]); err == nil {
		d.size = n
	}
	var st []any
	touch(o.state)
	if t, ok := o.state.(*types.Tuple); ok {
		st = *t
	}
	if len(st) >= 2 {
		if bo, ok := st[1].(string); ok && bo == ">" {
			d.big = true
		}
	}
	if len(st) >= 6 {
		if es, ok := st[5].(int); ok && es > 0 {
			d.size = es
		}
		if len(st) >= 5 && st[3] != nil {
			return nil, newErr(ErrUnsupported, -1, "", "structured numpy dtype (record arrays)")
		}
	}
	switch d.kind {
	case 'M', 'm':
		d.size = 8
		d.unit = "ns"
		if len(st) >= 9 {
			touch(st[8])
			if md, ok := st[8].(*types.Tuple); ok && len(*md) == 2 {
				touch((*md)[1])
				if u, ok := (*md)[1].(*types.Tuple); ok && len(*u) >= 1 {
					if b, ok := bytesArg((*u)[0]); ok {
						d.unit = string(b)
					}
				}
			}
		}
	case 'O':
		d.size = 8
	case 'b':
		d.size = 1
	case 'U':
		// "U" dtype size in the name counts characters; elsize is bytes.
		if len(st) < 6 {
			d.size *= 4
		}
	}
	switch d.kind {
	case 'b', 'i', 'u', 'f', 'c', 'O', 'M', 'm', 'U', 'S':
	default:
		return nil, newErr(ErrUnsupported, -1, "", "numpy dtype %q", s)
	}
	if d.size <= 0 && d.kind != 'U' && d.kind != 'S' {
		return nil, newErr(ErrUnsupported, -1, "", "numpy dtype %q", s)
	}
	return d, nil
}

// ndarray is a decoded numpy array. Numeric data stays in raw (which may
// alias the input); object arrays keep their element list.
type ndarray struct {
	dtype   *dtype
	shape   []int
	fortran bool
	raw     []byte
	objs    []any
	lazy    *lazySeq // an object array whose element list is a placeholder (objs nil)
}

func parseShape(v any) ([]int, error) {
	touch(v)
	var items []any
	switch t := v.(type) {
	case *types.Tuple:
		items = *t
	case *types.List:
		items = *t
	case int:
		return []int{t}, nil
	default:
		return nil, newErr(ErrMalformed, -1, "", "numpy shape of type %s", typeName(v))
	}
	shape := make([]int, len(items))
	for i, x := range items {
		n, ok := x.(int)
		if !ok || n < 0 || int64(n) > math.MaxInt32*64 {
			return nil, newErr(ErrMalformed, -1, "", "bad numpy shape")
		}
		shape[i] = n
	}
	return shape, nil
}

func (a *ndarray) len() int {
	n := 1
	for _, d := range a.shape {
		n *= d
	}
	return n
}

// check validates the raw size against shape and dtype.
func (a *ndarray) check() error {
	if len(a.shape) > 2 {
		return newErr(ErrUnsupported, -1, "", "numpy array with %d dimensions", len(a.shape))
	}
	n := 1
	for _, d := range a.shape {
		if d != 0 && n > math.MaxInt/16/d {
			return newErr(ErrLimit, -1, "", "numpy array too large")
		}
		n *= d
	}
	if a.dtype.size == 0 && n > 0 {
		// "S0"/"U0": any shape from no bytes at all.
		return newErr(ErrUnsupported, -1, "", "numpy array of the zero-size dtype %s", a.dtype.str)
	}
	if a.dtype.kind == 'O' {
		have := len(a.objs)
		if a.lazy != nil {
			have = int(a.lazy.q.count)
		}
		if have != n {
			return newErr(ErrMalformed, -1, "", "numpy object array holds %d items, shape says %d", have, n)
		}
		return nil
	}
	if int64(len(a.raw)) != int64(n)*int64(a.dtype.size) {
		return newErr(ErrMalformed, -1, "", "numpy array data has %d bytes, want %d (%v of %s)", len(a.raw), int64(n)*int64(a.dtype.size), a.shape, a.dtype.str)
	}
	return nil
}

// asArray decodes v as a numpy array: a *ndarray from _frombuffer, or a
// numpy.ndarray object built by _reconstruct + BUILD.
func asArray(v any) (*ndarray, bool, error) {
	switch o := v.(type) {
	case *ndarray:
		return o, true, nil
	case *pyObject:
		if o.module != "numpy" {
			return nil, false, nil
		}
		if o.name != "ndarray" && o.name != "memmap" && o.name != "matrix" {
			return nil, false, newErr(ErrUnsupported, -1, "", "numpy array subclass %s", o.name)
		}
		if o.arr != nil {
			return o.arr, true, nil // decoded once: memo reads share it
		}
		touch(o.state)
		t, ok := o.state.(*types.Tuple)
		if !ok {
			return nil, false, newErr(ErrMalformed, -1, "", "numpy array without state")
		}
		st := []any(*t)
		if len(st) == 5 {
			st = st[1:] // version
		}
		if len(st) != 4 {
			return nil, false, newErr(ErrMalformed, -1, "", "numpy array state of %d items", len(st))
		}
		shape, err := parseShape(st[0])
		if err != nil {
			return nil, false, err
		}
		dt, err := parseDtype(st[1])
		if err != nil {
			return nil, false, err
		}
		fortran, _ := st[2].(bool)
		a := &ndarray{dtype: dt, shape: shape, fortran: fortran}
		if dt.kind == 'O' {
			switch l := st[3].(type) {
			case *lazySeq:
				a.lazy = l
			case *types.List:
				a.objs = *l
			case *types.Tuple:
				a.objs = *l
			default:
				return nil, false, newErr(ErrMalformed, -1, "", "numpy object array data of type %s", typeName(st[3]))
			}
		} else {
			b, ok := bytesArg(st[3])
			if !ok {
				return nil, false, newErr(ErrMalformed, -1, "", "numpy array data of type %s", typeName(st[3]))
			}
			a.raw = b
		}
		if err := a.check(); err != nil {
			return nil, false, err
		}
		o.arr = a
		return a, true, nil
	}
	return nil, false, nil
}

// index maps the logical (row-major) element i to its storage position.
func (a *ndarray) index(i int) int {
	if !a.fortran || len(a.shape) < 2 {
		return i
	}
	r, c := i/a.shape[1], i%a.shape[1]
	return r + c*a.shape[0]
}

func (a *ndarray) order() binary.ByteOrder {
	if a.dtype.big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// copyFloat32s writes the array's elements, row-major, into dst (len(dst)
// == a.len()) without an intermediate slice.
func (a *ndarray) copyFloat32s(dst []float32) {
	if len(dst) == 0 {
		return
	}
	if !a.dtype.big && (!a.fortran || len(a.shape) < 2) && hostLittleEndian {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), a.raw)
		return
	}
	bo := a.order()
	for i := range dst {
		dst[i] = math.Float32frombits(bo.Uint32(a.raw[4*a.index(i):]))
	}
}

// float32s returns a copy of the array's elements as float32s in row-major
// order. (Little-endian C-ordered matrices need no copy: arrayColumn keeps
// them as RawVectors.)
func (a *ndarray) float32s() []float32 {
	n := a.len()
	if n == 0 {
		return nil
	}
	out := make([]float32, n)
	a.copyFloat32s(out)
	return out
}

var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// bits returns the raw bits of element i (row-major) of a 1-, 2-, 4- or
// 8-byte dtype, zero-extended, in host order; 0 for other sizes.
func (a *ndarray) bits(i int) uint64 {
	size := a.dtype.size
	off := a.index(i) * size
	b := a.raw[off : off+size : off+size]
	if a.dtype.big {
		switch size {
		case 1:
			return uint64(b[0])
		case 2:
			return uint64(binary.BigEndian.Uint16(b))
		case 4:
			return uint64(binary.BigEndian.Uint32(b))
		case 8:
			return binary.BigEndian.Uint64(b)
		}
		return 0
	}
	switch size {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	case 8:
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// contiguous reports whether element i (row-major) is stored at i.
func (a *ndarray) contiguous() bool { return !a.fortran || len(a.shape) < 2 }

// plainSize reports whether the dtype's size is one bits reads.
func (a *ndarray) plainSize() bool {
	switch a.dtype.size {
	case 1, 2, 4, 8:
		return true
	}
	return false
}

// int64At returns element i of an integer or bool array without boxing;
// false for a uint64 above the int64 range or another dtype.
func (a *ndarray) int64At(i int) (int64, bool) {
	if !a.plainSize() {
		return 0, false
	}
	switch a.dtype.kind {
	case 'i':
		shift := 64 - 8*a.dtype.size
		return int64(a.bits(i)<<shift) >> shift, true
	case 'u':
		u := a.bits(i)
		return int64(u), u <= math.MaxInt64
	case 'b':
		return int64(btoi(a.bits(i) != 0)), true
	}
	return 0, false
}

// floatAt returns element i of a numeric or bool array as a float64
// without boxing (float32 and float16 convert exactly); false for another
// dtype.
func (a *ndarray) floatAt(i int) (float64, bool) {
	if !a.plainSize() {
		return 0, false
	}
	switch a.dtype.kind {
	case 'f':
		switch a.dtype.size {
		case 2:
			return float64(halfToFloat(uint16(a.bits(i)))), true
		case 4:
			return float64(math.Float32frombits(uint32(a.bits(i)))), true
		case 8:
			return math.Float64frombits(a.bits(i)), true
		}
	case 'u':
		return float64(a.bits(i)), true
	case 'i', 'b':
		n, _ := a.int64At(i)
		return float64(n), true
	}
	return 0, false
}

// at returns element i (row-major) as a Go value: int64 (signed and
// unsigned up to int64 max), uint64 above it, float64, float32 (kept as
// float32), bool, complex as a [2]float64, timeValue/durationValue for
// datetimes (nil for NaT), string for U/S, or the object for object arrays.
func (a *ndarray) at(i int) any {
	if a.dtype.kind == 'O' {
		if a.lazy != nil {
			a.lazy.misused = true // read where the lazy path reads no sequence
			return nil
		}
		return a.objs[a.index(i)]
	}
	size := a.dtype.size
	b := a.raw[a.index(i)*size : a.index(i)*size+size]
	bo := a.order()
	switch a.dtype.kind {
	case 'b':
		return b[0] != 0
	case 'i':
		switch size {
		case 1:
			return int64(int8(b[0]))
		case 2:
			return int64(int16(bo.Uint16(b)))
		case 4:
			return int64(int32(bo.Uint32(b)))
		case 8:
			return int64(bo.Uint64(b))
		}
	case 'u':
		switch size {
		case 1:
			return int64(b[0])
		case 2:
			return int64(bo.Uint16(b))
		case 4:
			return int64(bo.Uint32(b))
		case 8:
			u := bo.Uint64(b)
			if u > math.MaxInt64 {
				return u
			}
			return int64(u)
		}
	case 'f':
		switch size {
		case 2:
			return float64(halfToFloat(bo.Uint16(b)))
		case 4:
			return math.Float32frombits(bo.Uint32(b))
		case 8:
			return math.Float64frombits(bo.Uint64(b))
		}
	case 'M', 'm':
		v := int64(bo.Uint64(b))
		if v == math.MinInt64 {
			return nil
		}
		us, ok, overflow := scaleToMicros(v, a.dtype.unit)
		switch {
		case !ok:
			return unsupportedUnit(a.dtype.unit)
		case overflow:
			return timeOverflow{}
		}
		if a.dtype.kind == 'M' {
			return &timeValue{us: us}
		}
		return &durationValue{us: us}
	case 'U':
		var sb strings.Builder
		for j := 0; j+4 <= len(b); j += 4 {
			r := rune(bo.Uint32(b[j:]))
			if r == 0 {
				break
			}
			if !utf8.ValidRune(r) {
				r = utf8.RuneError
			}
			sb.WriteRune(r)
		}
		return sb.String()
	case 'S':
		end := len(b)
		for end > 0 && b[end-1] == 0 {
			end--
		}
		return append([]byte(nil), b[:end]...)
	case 'c':
		return complexValue{}
	}
	return badElem{}
}

// complexValue marks a complex number (converted to JSON null-free text).
type complexValue struct{}

// badElem marks an element of an unreadable dtype.
type badElem struct{}

type unsupportedUnit string

// timeOverflow marks a datetime64/timedelta64 value whose microseconds
// fall outside the int64 range.
type timeOverflow struct{}

// scaleToMicros converts v in unit to microseconds (floor for finer
// units). ok is false for an unknown unit; overflow reports a value whose
// microseconds do not fit an int64.
func scaleToMicros(v int64, unit string) (us int64, ok, overflow bool) {
	var mul int64
	switch unit {
	case "ns":
		return floorDiv(v, 1000), true, false
	case "ps":
		return floorDiv(v, 1e6), true, false
	case "us":
		return v, true, false
	case "ms":
		mul = 1e3
	case "s":
		mul = 1e6
	case "m":
		mul = 60e6
	case "h":
		mul = 3600e6
	case "D":
		mul = 86400e6
	default:
		return 0, false, false
	}
	if v > math.MaxInt64/mul || v < math.MinInt64/mul {
		return 0, true, true
	}
	return v * mul, true, false
}

func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0:
		for mant&0x400 == 0 {
			mant <<= 1
			exp--
		}
		exp++
		mant &= 0x3ff
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}
