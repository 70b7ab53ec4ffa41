package pickleload

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/types"
)

// joblib dumps. joblib.dump(obj, path) pickles obj with every numpy array
// replaced by a joblib.numpy_pickle.NumpyArrayWrapper (protocol >= 2:
// NEWOBJ; 0 and 1: copyreg._reconstructor) whose BUILD state is a dict of
// plain values (subclass, shape, order, dtype, allow_mmap and, from joblib
// 1.2, numpy_array_alignment_bytes), and writes the array right after that
// BUILD, outside the pickle's opcodes and frames: a padding byte p and p
// bytes (when the alignment is set) then the elements in the wrapper's
// order, or, for an object array, a whole protocol-2 pickle of the array.
// joblib's unpickler reads them there when it executes the BUILD.
//
// The pre-pass does the same statically. Once the wrapper's class is named
// it tracks the small values a wrapper's state holds (ints, None, bools,
// tuples of them, dtypes by name, the state dict built in place); at the
// wrapper's BUILD it reads the state from them, skips the array bytes
// (numeric: their size from shape and dtype, checked against the limits;
// object: the sub-pickle, checked by a pre-pass of its own with its own
// memo) and splices in a persistent id for them and a second BUILD.
// gopickle then gives the wrapper its state, and the array data: numeric
// bytes alias the input, an object array's sub-pickle is decoded (as any
// pickle, refusing what it refuses) when the persistent id is loaded. The
// wrapper object becomes the numpy array (see jbWrapper.set).

// Buffer kinds of the joblib arrays (scanner.bufKind; the others are
// opcodes).
const (
	bufJoblibRaw byte = 1 // a numeric array's bytes
	bufJoblibSub byte = 2 // an object array's sub-pickle (scanResult.jb)
)

const (
	jbModule = "joblib.numpy_pickle"
	jbName   = "NumpyArrayWrapper"
)

// errJoblib stops the lazy path's index passes at joblib's wrapper class:
// a joblib dump is read whole (see openJoblib).
var errJoblib = errors.New("a joblib dump (joblib.dump): its arrays are read with the whole file")

// jbMaxTuple and jbMaxPairs bound the values tracked for wrapper states.
const (
	jbMaxTuple = 16
	jbMaxPairs = 64
)

// jbScan is what the pre-pass tracks of a joblib dump.
type jbScan struct {
	tuples  [][]sym // items of tuples of at most jbMaxTuple items (symTuple.off-1)
	dicts   []jbDict
	names   []string           // dtype names (symDtype.off)
	subs    map[int]scanResult // object arrays' sub-pickles, by buffer index
	aliased int64              // numeric array bytes: aliased by the table, never copied
}

// jbDict is a dict built right above a wrapper: its state (symBuiltin.off-1).
type jbDict struct {
	pairs []sym // key, value, key, value, ...
	over  bool  // more than jbMaxPairs pairs: not a wrapper's state
}

// jbGlobal reports whether g is the wrapper's class.
func jbGlobal(g globalRef) bool { return g.class == gJoblib }

// jbLiteral is the symbolic value of NONE, NEWTRUE or NEWFALSE.
func (s *scanner) jbLiteral(op byte) sym {
	switch {
	case s.jb == nil:
		return sym{}
	case op == opNone:
		return sym{kind: symNone}
	case op == opNewTrue:
		return sym{kind: symBool, off: 1}
	}
	return sym{kind: symBool}
}

// jbInt is the symbolic value of an int.
func (s *scanner) jbInt(v int64) sym {
	if s.jb == nil {
		return sym{}
	}
	return sym{kind: symInt, off: v}
}

// jbIntText is the symbolic value of a protocol-0 INT or LONG argument
// ("00" and "01" are False and True).
func (s *scanner) jbIntText(t string) sym {
	if s.jb == nil {
		return sym{}
	}
	switch t {
	case "00":
		return sym{kind: symBool}
	case "01":
		return sym{kind: symBool, off: 1}
	}
	v, err := strconv.ParseInt(strings.TrimPrefix(t, "+"), 10, 64)
	if err != nil {
		return sym{}
	}
	return sym{kind: symInt, off: v}
}

// jbLong1 is the symbolic value of a LONG1 payload (little-endian two's
// complement).
func (s *scanner) jbLong1(b []byte) sym {
	if s.jb == nil || len(b) > 8 {
		return sym{}
	}
	var u uint64
	for i := len(b) - 1; i >= 0; i-- {
		u = u<<8 | uint64(b[i])
	}
	if len(b) > 0 && len(b) < 8 && b[len(b)-1]&0x80 != 0 {
		u |= math.MaxUint64 << (8 * len(b)) // sign-extend
	}
	return sym{kind: symInt, off: int64(u)}
}

// jbTuple records the items of a small tuple.
func (s *scanner) jbTuple(v []sym) sym {
	if len(v) == 0 {
		return sym{kind: symTuple}
	}
	s.jb.tuples = append(s.jb.tuples, slices.Clone(v))
	return sym{kind: symTuple, n: int32(len(v)), off: int64(len(s.jb.tuples))}
}

// jbItems returns the items of a tracked tuple, or false.
func (s *scanner) jbItems(v sym) ([]sym, bool) {
	if v.kind != symTuple || s.jb == nil {
		return nil, false
	}
	if v.off == 0 {
		return nil, v.n == 0
	}
	return s.jb.tuples[v.off-1], true
}

// jbTopIsWrapper reports whether the top of the stack is a wrapper (a dict
// pushed now is its state).
func (s *scanner) jbTopIsWrapper() bool {
	return s.jb != nil && len(s.stack) > 0 && s.stack[len(s.stack)-1].kind == symWrapper
}

// jbNewDict returns the symbolic value of a wrapper's state dict.
func (s *scanner) jbNewDict(pairs []sym) sym {
	d := jbDict{pairs: slices.Clone(pairs), over: len(pairs) > 2*jbMaxPairs}
	s.jb.dicts = append(s.jb.dicts, d)
	return sym{kind: symBuiltin, off: int64(len(s.jb.dicts))}
}

// jbSetItems adds pairs to the dict on top of the stack, when it is a
// wrapper's state.
func (s *scanner) jbSetItems(pairs []sym) {
	if s.jb == nil || len(s.stack) == 0 {
		return
	}
	t := s.stack[len(s.stack)-1]
	if t.kind != symBuiltin || t.off <= 0 {
		return
	}
	d := &s.jb.dicts[t.off-1]
	if d.over || len(d.pairs)+len(pairs) > 2*jbMaxPairs {
		d.over = true
		return
	}
	d.pairs = append(d.pairs, pairs...)
}

// jbReduce returns the symbolic value of a call of g with args: a dtype
// (numpy.dtype(name, ...)) or a wrapper (copyreg._reconstructor(wrapper,
// object, None): protocols 0 and 1); false for other calls.
func (s *scanner) jbReduce(at int, op byte, g globalRef, args sym) (sym, bool, error) {
	items, ok := s.jbItems(args)
	if !ok || len(items) == 0 {
		return sym{}, false, nil
	}
	switch {
	case g.module == "numpy" && g.name == "dtype":
		name, ok := s.str(items[0])
		if !ok {
			return sym{}, false, nil
		}
		s.jb.names = append(s.jb.names, name)
		return sym{kind: symDtype, off: int64(len(s.jb.names) - 1)}, true, nil
	case (g.module == "copyreg" || g.module == "copy_reg") && g.name == "_reconstructor":
		if items[0].kind != symGlobal || !jbGlobal(s.globals[items[0].off]) {
			return sym{}, false, nil
		}
		if len(items) != 3 || items[1].kind != symGlobal || s.globals[items[1].off].name != "object" || items[2].kind != symNone {
			return sym{}, false, s.fail(ErrRefused, at, op, "%s.%s built with copyreg._reconstructor and unexpected arguments", jbModule, jbName)
		}
		return sym{kind: symWrapper}, true, nil
	}
	return sym{}, false, nil
}

// jbNewObj checks NEWOBJ/NEWOBJ_EX of the wrapper's class (no arguments).
func (s *scanner) jbNewObj(at int, op byte, args sym) (sym, error) {
	if items, ok := s.jbItems(args); op != opNewObj || !ok || len(items) != 0 {
		return sym{}, s.fail(ErrRefused, at, op, "%s.%s built with arguments (joblib builds it with none)", jbModule, jbName)
	}
	return sym{kind: symWrapper}, nil
}

// jbWrapperInfo is what the pre-pass needs of a wrapper's state.
type jbWrapperInfo struct {
	object bool  // an object array: a sub-pickle follows
	padded bool  // a padding length byte and padding precede the data
	bytes  int64 // the numeric array's data size
}

// jbState reads a wrapper's state (the dict popped by its BUILD).
func (s *scanner) jbState(at int, op byte, state sym) (jbWrapperInfo, error) {
	var w jbWrapperInfo
	bad := func(format string, args ...any) (jbWrapperInfo, error) {
		return w, s.fail(ErrUnsupported, at, op, "joblib array wrapper: "+format, args...)
	}
	if state.kind != symBuiltin || state.off <= 0 || s.jb.dicts[state.off-1].over {
		return bad("its state is not a dict of plain values built in place (joblib writes one)")
	}
	pairs := s.jb.dicts[state.off-1].pairs
	fields := map[string]sym{}
	for i := 0; i+1 < len(pairs); i += 2 {
		k, ok := s.str(pairs[i])
		if !ok {
			return bad("a state key is not a str")
		}
		fields[k] = pairs[i+1]
	}
	for _, k := range []string{"subclass", "shape", "order", "dtype"} {
		if _, ok := fields[k]; !ok {
			return bad("no %q in its state", k)
		}
	}
	if g := fields["subclass"]; g.kind != symGlobal {
		return bad("its subclass is not a class")
	} else if c := s.globals[g.off]; c.module != "numpy" || c.name != "ndarray" && c.name != "memmap" {
		return bad("an array of class %s.%s (want numpy.ndarray or numpy.memmap)", c.module, c.name)
	}
	if o, ok := s.str(fields["order"]); !ok || o != "C" && o != "F" {
		return w, s.fail(ErrMalformed, at, op, "joblib array wrapper: order is not \"C\" or \"F\"")
	}
	dt := fields["dtype"]
	if dt.kind != symDtype {
		return bad("its dtype is not a numpy dtype built in the file")
	}
	name := s.jb.names[dt.off]
	kind, size, err := dtypeNameSize(name)
	if err != nil {
		return w, s.fail(ErrUnsupported, at, op, "joblib array of dtype %q: %s", name, err.Msg)
	}
	if a, set := fields["numpy_array_alignment_bytes"]; set { // absent before joblib 1.2: no padding
		switch a.kind {
		case symInt:
			w.padded = true
		case symNone:
		default:
			return w, s.fail(ErrMalformed, at, op, "joblib array wrapper: numpy_array_alignment_bytes is not an int or None")
		}
	}
	dims, ok := s.jbItems(fields["shape"])
	if !ok {
		return w, s.fail(ErrMalformed, at, op, "joblib array wrapper: its shape is not a tuple of ints")
	}
	count, over := int64(1), false
	shape := make([]int64, len(dims))
	for i, d := range dims {
		if d.kind != symInt || d.off < 0 {
			return w, s.fail(ErrMalformed, at, op, "joblib array wrapper: its shape is not a tuple of ints >= 0")
		}
		shape[i] = d.off
		if d.off != 0 && count > math.MaxInt64/d.off {
			over = true
		}
		count *= d.off
	}
	if kind == 'O' {
		w.object = true
		return w, nil
	}
	if !over && size > 0 && count > math.MaxInt64/int64(size) {
		over = true
	}
	w.bytes = count * int64(size)
	if over || w.bytes > s.opts.MaxDecodedBytes {
		return w, s.fail(ErrLimit, at, op, "joblib array of shape %v and dtype %s claims more bytes than the limit of %d", shape, name, s.opts.MaxDecodedBytes)
	}
	return w, nil
}

// dtypeNameSize returns the kind and item size of a pickled numpy dtype
// name ("f4", "U5", "O8", "M8"), as parseDtypeState computes them.
func dtypeNameSize(name string) (byte, int, *Error) {
	if name == "" {
		return 0, 0, newErr(ErrMalformed, -1, "", "empty dtype name")
	}
	kind := name[0]
	size, _ := strconv.Atoi(name[1:])
	switch kind {
	case 'M', 'm', 'O':
		size = 8
	case 'b':
		size = 1
	case 'U':
		size *= 4
	}
	switch kind {
	case 'b', 'i', 'u', 'f', 'c', 'O', 'M', 'm', 'U', 'S':
	default:
		return 0, 0, newErr(ErrUnsupported, -1, "", "numpy dtype %q (structured and other dtypes are not read)", name)
	}
	if size <= 0 && kind != 'U' && kind != 'S' {
		return 0, 0, newErr(ErrUnsupported, -1, "", "numpy dtype %q", name)
	}
	return kind, size, nil
}

// jbArray handles the BUILD of a wrapper (state popped): it skips the array
// data that follows and splices in its persistent id and a second BUILD.
func (s *scanner) jbArray(at int, op byte, state sym) error {
	w, err := s.jbState(at, op, state)
	if err != nil {
		return err
	}
	if s.inFrame > 0 {
		// joblib commits the frame before writing the array
		if s.pos != s.inFrame {
			return s.fail(ErrMalformed, at, op, "joblib array data inside a pickle frame")
		}
		s.inFrame = 0
	}
	start := s.pos
	idx := s.bufs.len()
	if w.object {
		if start >= len(s.data) {
			return s.fail(ErrMalformed, at, op, "truncated: the joblib object array's pickle is missing")
		}
		sub := newScanner(s.data, start, s.opts)
		sub.nested, sub.decodedBytes = true, s.decodedBytes
		if err := sub.run(); err != nil {
			return err
		}
		s.decodedBytes = sub.decodedBytes
		if s.jb.subs == nil {
			s.jb.subs = map[int]scanResult{}
		}
		s.jb.subs[idx] = sub.result()
		s.pos = sub.pos
		s.bufs.append(nil)
		s.bufKind.append(bufJoblibSub)
	} else {
		if w.padded {
			p, err := s.uint(at, op, 1)
			if err != nil {
				return err
			}
			if int64(p) > int64(len(s.data)-s.pos) {
				return s.fail(ErrMalformed, at, op, "truncated: joblib array padding of %d bytes exceeds the %d bytes that remain", p, len(s.data)-s.pos)
			}
			s.pos += int(p)
		}
		if w.bytes > int64(len(s.data)-s.pos) {
			return s.fail(ErrMalformed, at, op, "truncated: joblib array data of %d bytes exceeds the %d bytes that remain", w.bytes, len(s.data)-s.pos)
		}
		if err := s.charge(at, op, w.bytes); err != nil {
			return err
		}
		n := int(w.bytes)
		s.bufs.append(s.data[s.pos : s.pos+n : s.pos+n])
		s.bufKind.append(bufJoblibRaw)
		s.pos += n
		s.jb.aliased += w.bytes
	}
	r := make([]byte, 7)
	r[0] = opBinInt
	binary.LittleEndian.PutUint32(r[1:], uint32(idx))
	r[5], r[6] = opBinPersID, opBuild
	s.edits.append(edit{start, s.pos, r})
	s.stack[len(s.stack)-1] = sym{} // the array (CPython replaces the wrapper on the stack)
	return nil
}

// jbClass is the wrapper's class as gopickle sees it: constructed with
// __new__ only (the pre-pass refuses calling it).
type jbClass struct{}

// PyNew implements types.PyNewable.
func (jbClass) PyNew(args ...any) (any, error) {
	touchArgs(args)
	return &pyObject{module: jbModule, name: jbName, jw: &jbWrapper{}}, nil
}

// jbWrapper is a wrapper object's progress: its state, then its data.
type jbWrapper struct {
	state    any
	hasState bool
}

// joblibData is the array data spliced in after a wrapper's BUILD: the
// numeric bytes (aliasing the input) or the decoded object array.
type joblibData struct {
	raw []byte
	obj any
	sub bool
}

// set is the wrapper's BUILD: first its state, then its data, with which
// the object becomes the numpy array.
func (w *jbWrapper) set(o *pyObject, state any) error {
	d, ok := state.(*joblibData)
	if !ok {
		w.state, w.hasState = state, true
		return nil
	}
	if !w.hasState {
		return newErr(ErrMalformed, -1, "BUILD", "joblib array data without the wrapper's state")
	}
	a, err := joblibArray(w.state, d)
	if err != nil {
		return err
	}
	*o = pyObject{module: "numpy", name: "ndarray", arr: a}
	return nil
}

// joblibArray builds the array a wrapper's state and data describe.
func joblibArray(state any, d *joblibData) (*ndarray, error) {
	st, ok := state.(*types.Dict)
	if !ok {
		return nil, newErr(ErrMalformed, -1, "BUILD", "joblib array wrapper with a %s state", typeName(state))
	}
	get := func(k string) any { v, _ := dictGet(st, k); return v }
	switch c := get("subclass").(type) {
	case *knownGlobal:
		if c.module != "numpy" || c.name != "ndarray" {
			return nil, newErr(ErrUnsupported, -1, "BUILD", "joblib array of class %s.%s", c.module, c.name)
		}
	case *dataClass:
		if c.module != "numpy" || c.name != "memmap" {
			return nil, newErr(ErrUnsupported, -1, "BUILD", "joblib array of class %s.%s", c.module, c.name)
		}
	default:
		return nil, newErr(ErrUnsupported, -1, "BUILD", "joblib array of class %s", typeName(c))
	}
	dt, err := parseDtype(get("dtype"))
	if err != nil {
		return nil, err
	}
	shape, err := parseShape(get("shape"))
	if err != nil {
		return nil, err
	}
	order, _ := get("order").(string)
	if order != "C" && order != "F" {
		return nil, newErr(ErrMalformed, -1, "BUILD", "joblib array wrapper: order is not \"C\" or \"F\"")
	}
	if d.sub != (dt.kind == 'O') {
		return nil, newErr(ErrMalformed, -1, "BUILD", "joblib array data does not match its dtype %s", dt.str)
	}
	if d.sub {
		// joblib returns the sub-pickle's array as it is
		a, ok, err := asArray(d.obj)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, newErr(ErrUnsupported, -1, "BUILD", "joblib object array data of type %s (want a numpy array)", typeName(d.obj))
		}
		return a, nil
	}
	a := &ndarray{dtype: dt, shape: shape, fortran: order == "F", raw: d.raw}
	if err := a.check(); err != nil {
		return nil, err
	}
	return a, nil
}

// isJoblib reports a joblib module: its objects are never records or
// values (a wrapper that got no array data).
func isJoblib(module string) bool {
	return module == "joblib" || strings.HasPrefix(module, "joblib.")
}
