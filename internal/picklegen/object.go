package picklegen

import "unsafe"

// A small model of the Python objects the fixed parts of a pickle are made
// of (globals, dtypes, tuples, dicts, reduce calls). Identity is Go pointer
// identity: a node saved twice is one Python object, written once and then
// fetched from the memo, as CPython does. The per-row parts, which are most
// of a file, are written by hand-made loops instead (frame.go, records.go),
// which follow the same save() structure without building nodes.

// object is a Python object to pickle.
type object interface {
	// pickle writes the object; save has already called boundary.
	pickle(p *pickler)
}

// save is save(): the frame boundary, then the object.
func (p *pickler) save(o object) {
	p.boundary()
	o.pickle(p)
}

// memoRef is the memo index of a memoizable object once saved.
type memoRef struct{ idx int } // idx+1; 0 = not saved yet

// saved fetches the object from the memo if it was saved before.
func (m *memoRef) saved(p *pickler) bool {
	if m.idx > 0 {
		p.memoGet(m.idx - 1)
		return true
	}
	return false
}

func (m *memoRef) put(p *pickler) { m.idx = p.memoPut() + 1 }

type pyNone struct{}

func (pyNone) pickle(p *pickler) { p.op(opNone) }

type pyBool bool

func (b pyBool) pickle(p *pickler) {
	if b {
		p.op(opNewTrue)
	} else {
		p.op(opNewFalse)
	}
}

type pyInt int64

func (v pyInt) pickle(p *pickler) { p.writeInt(int64(v)) }

// pyStr is a str object.
type pyStr struct {
	s string
	m memoRef
}

func newStr(s string) *pyStr { return &pyStr{s: s} }

func (o *pyStr) pickle(p *pickler) {
	if o.m.saved(p) {
		return
	}
	p.writeLarge(p.strHeader(len(o.s)), stringBytes(o.s))
	o.m.put(p)
}

// pyBytes is a bytes object (protocol 3+) or, with byteArray, an in-band
// writable PickleBuffer (protocol 5 BYTEARRAY8), its data made by fill.
type pyBytes struct {
	data      payload
	byteArray bool
	m         memoRef
}

func newBytes(b []byte) *pyBytes {
	return &pyBytes{data: payload{size: int64(len(b)), fill: func(emit func([]byte)) { emit(b) }}}
}

func (o *pyBytes) pickle(p *pickler) {
	if o.m.saved(p) {
		return
	}
	if o.byteArray {
		p.writePayload(p.byteArrayHeader(o.data.size), o.data)
	} else {
		p.writePayload(p.bytesHeader(o.data.size), o.data)
	}
	o.m.put(p)
}

// pyTuple is a tuple: TUPLE1-3, or MARK ... TUPLE, then memoized; the empty
// tuple is EMPTY_TUPLE and never memoized.
type pyTuple struct {
	items []object
	m     memoRef
}

func tuple(items ...object) *pyTuple { return &pyTuple{items: items} }

func (o *pyTuple) pickle(p *pickler) {
	n := len(o.items)
	if n == 0 {
		p.op(opEmptyTuple)
		return
	}
	if o.m.saved(p) {
		return
	}
	if n <= 3 {
		for _, it := range o.items {
			p.save(it)
		}
		p.op([...]byte{opTuple1, opTuple2, opTuple3}[n-1])
	} else {
		p.op(opMark)
		for _, it := range o.items {
			p.save(it)
		}
		p.op(opTuple)
	}
	o.m.put(p)
}

// pyList is a list: EMPTY_LIST, memoized, then its items in batches. A list
// of generated items sets n and item instead of items.
type pyList struct {
	items []object
	n     int
	item  func(p *pickler, i int)
	m     memoRef
}

func list(items ...object) *pyList { return &pyList{items: items, n: len(items)} }

func (o *pyList) pickle(p *pickler) {
	if o.m.saved(p) {
		return
	}
	p.op(opEmptyList)
	o.m.put(p)
	if o.n == 0 {
		return
	}
	if o.item != nil {
		p.batchList(o.n, func(i int) { o.item(p, i) })
		return
	}
	p.batchList(o.n, func(i int) { p.save(o.items[i]) })
}

// pyDict is a dict of keys and values in insertion order.
type pyDict struct {
	keys, values []object
	m            memoRef
}

// dict takes alternating keys and values.
func dict(kv ...object) *pyDict {
	d := &pyDict{}
	for i := 0; i < len(kv); i += 2 {
		d.keys = append(d.keys, kv[i])
		d.values = append(d.values, kv[i+1])
	}
	return d
}

func (o *pyDict) pickle(p *pickler) {
	if o.m.saved(p) {
		return
	}
	p.op(opEmptyDict)
	o.m.put(p)
	if len(o.keys) == 0 {
		return
	}
	p.batchDict(len(o.keys), func(i int) {
		p.save(o.keys[i])
		p.save(o.values[i])
	})
}

// pyGlobal is a class or function, pickled by reference (protocol 4+:
// module and qualified name as str objects, then STACK_GLOBAL). module is a
// node of its own because CPython saves the __module__ str object, which
// several globals of one module share.
type pyGlobal struct {
	module, name *pyStr
	m            memoRef
}

func global(module *pyStr, name string) *pyGlobal {
	return &pyGlobal{module: module, name: newStr(name)}
}

func (o *pyGlobal) pickle(p *pickler) {
	if o.m.saved(p) {
		return
	}
	p.save(o.module)
	p.save(o.name)
	p.op(opStackGlobal)
	o.m.put(p)
}

// pyReduce is an object pickled through its __reduce__ value: fn(*args)
// (REDUCE), or cls.__new__(cls, *args) for copyreg.__newobj__ (NEWOBJ),
// memoized, then BUILD with state when there is one.
type pyReduce struct {
	fn     object
	args   *pyTuple
	state  object // nil: none
	newObj bool
	m      memoRef
}

func reduce(fn object, args *pyTuple, state object) *pyReduce {
	return &pyReduce{fn: fn, args: args, state: state}
}

func (o *pyReduce) pickle(p *pickler) {
	if o.m.saved(p) {
		return
	}
	p.save(o.fn)
	p.save(o.args)
	if o.newObj {
		p.op(opNewObj)
	} else {
		p.op(opReduce)
	}
	o.m.put(p)
	if o.state != nil {
		p.save(o.state)
		p.op(opBuild)
	}
}

// stringBytes returns the bytes of s without copying; they are only read.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
