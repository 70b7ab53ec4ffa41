package pickleload

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// The pre-pass.
//
// scan walks the opcode stream once, before gopickle sees a byte, simulating
// the unpickler's stack symbolically: it checks every length prefix against
// the bytes that remain, the protocol, MARK depth, stack underflow, memo
// reads of undefined keys, the estimated decoded size, UTF-8 of text, and
// resolves every GLOBAL and STACK_GLOBAL to a name it classifies against the
// allowlist together with how the name is used (called or only constructed).
//
// It also normalises the stream where gopickle would misbehave, as a list of
// edits spliced in while gopickle reads (no copy of the input): large byte
// payloads become persistent
// ids that resolve to subslices of the input (no copy), protocol-0/py2 text
// is decoded, empty LONG1/LONG4 become 0, sets become lists (gopickle keeps
// sets in Go maps, losing order and panicking on unhashable members) and
// FRAME opcodes are dropped (gopickle copies every frame).

// symKind is what the pre-pass knows about a stack slot.
type symKind uint8

const (
	symAny     symKind = iota
	symStr             // a str; off/n locate its UTF-8 bytes in data
	symDecStr          // a str decoded by the pre-pass; off indexes scanner.decoded
	symGlobal          // a global; off indexes scanner.globals
	symTuple           // a tuple; n is its length
	symAttr            // a 2-tuple (global, str): getattr's arguments; off indexes scanner.attrs
	symBuiltin         // a list, dict, set, tuple or bytes (its opcode or constructor call): BUILD cannot target it
	symUnknown         // a memo read in the lazy path's first index pass: checks that need the value pass

	// the values of a joblib dump's array wrappers (joblib.go); only once
	// the wrapper's class is named, else they are symAny
	symInt     // an int; off is its value
	symNone    // None
	symBool    // a bool; off is 1 for True
	symWrapper // a joblib NumpyArrayWrapper before its BUILD
	symDtype   // a numpy dtype; off indexes jbScan.names
)

type sym struct {
	off  int64
	n    int32
	kind symKind
}

// chunked is an append-only list in fixed-size chunks: growing it never
// copies, so the pre-pass's bookkeeping leaves no garbage behind.
type chunked[T any] struct {
	chunks [][]T
	n      int
}

const chunkLen = 1 << 12

func (c *chunked[T]) len() int { return c.n }

func (c *chunked[T]) append(v T) {
	if c.n%chunkLen == 0 {
		size := chunkLen
		if c.n == 0 {
			size = 64 // small pickles stay small
		}
		c.chunks = append(c.chunks, make([]T, 0, size))
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, v) // the first chunk may grow from 64 to chunkLen
	c.n++
}

func (c *chunked[T]) at(i int) *T {
	return &c.chunks[i/chunkLen][i%chunkLen]
}

// memoEntry is what the pre-pass knows of a memo key: the value and the
// index of the write that set it (-1: unset).
type memoEntry struct {
	v   sym
	put int32
}

// persistThreshold is the payload size from which bytes and text are handed to
// gopickle as persistent ids aliasing the input instead of copies.
const persistThreshold = 64

// objCost is the estimated decoded size charged per created object.
const objCost = 32

// stackCost is charged once per level of stack depth reached: the
// pre-pass's 16-byte sym plus the decoder's 32-byte slot (or gopickle's
// interface), rounded up.
const stackCost = 64

type globalRef struct {
	module, name string
	class        globalClass
}

// attrRef is a (global, attribute name) pair, getattr's only allowed
// arguments.
type attrRef struct {
	global int
	name   string
}

type scanner struct {
	data  []byte
	opts  Options
	pos   int
	start int // where the pickle starts (0 but for a joblib object array's sub-pickle)
	proto int

	stack   []sym
	peak    int // the stack's deepest point so far (each new level is charged stackCost)
	marks   []int
	memo    chunked[memoEntry] // by key, for keys below 1<<31 that are dense
	memoMap map[uint64]memoEntry
	nmemo   int

	// memo writes, for dropping the ones never read (gopickle keeps every
	// memo entry in a Go map, a fifth of its time on large pickles)
	puts    chunked[int]    // offset of every memo write
	putKeys chunked[uint32] // its key
	putRead []uint64        // bitset: the write is read by a GET

	globals []globalRef
	gindex  map[string]int
	attrs   []attrRef
	decoded []string

	decodedBytes int64

	// edits to the stream gopickle reads, in offset order
	edits   chunked[edit]
	bufs    chunked[[]byte]
	bufKind chunked[byte] // opcode bufs[i] came from: BYTEARRAY8 -> bytearray, BINUNICODE -> str, else bytes
	arena   []byte        // backing for the persistent-id replacements
	inFrame int           // end offset of the current frame, or 0
	objects bool          // NEWOBJ, NEWOBJ_EX, BUILD, INST or OBJ seen

	// the lazy path (index.go, skeleton.go)
	lean     *leanIndex  // an index pass: no edits, a compact memo
	lowStack int         // the stack's lowest length during the current opcode
	lowMark  int         // the MARK stack's lowest length during the current opcode
	skips    []skipRange // sequences the skeleton decode replaces by placeholders
	blob     bool        // scanning a skip's definitions (not the input)
	memoFrom int         // every MEMOIZE from this offset on gets an explicit key (-1: none)

	// joblib dumps (joblib.go)
	jb     *jbScan // non-nil once joblib's NumpyArrayWrapper is named: values are tracked
	nested bool    // scanning a joblib object array's sub-pickle
}

// edit replaces data[at:end] with repl in the stream gopickle reads.
type edit struct {
	at, end int
	repl    []byte
}

type scanResult struct {
	data    []byte
	start   int // where the pickle starts in data (a joblib object array's sub-pickle)
	edits   chunked[edit]
	extra   []edit // MEMOIZE rewrites (memoDrops), merged with edits by offset
	bufs    chunked[[]byte]
	bufKind chunked[byte]
	proto   int
	objects bool  // the pickle builds objects: gopickle, not the fast path
	drops   []int // offsets of memo writes gopickle may skip (never read)

	decoded int64              // the pre-pass's estimate of the decoded size
	jb      map[int]scanResult // joblib object arrays' sub-pickles, by buffer index
	aliased int64              // bytes of joblib arrays the table aliases (part of decoded)
}

func scan(data []byte, opts Options) (res scanResult, err error) {
	return scanPart(data, opts, 0)
}

// scanPart is scan of a pickle of a file whose earlier pickles decode to
// decoded bytes (counted against the same limit).
func scanPart(data []byte, opts Options, decoded int64) (res scanResult, err error) {
	if len(data) == 0 {
		return res, newErr(ErrMalformed, 0, "", "empty input")
	}
	s := newScanner(data, 0, opts)
	s.decodedBytes = decoded
	if err := s.run(); err != nil {
		return res, err
	}
	return s.result(), nil
}

// newScanner returns an eager pre-pass over the pickle at data[start:].
func newScanner(data []byte, start int, opts Options) *scanner {
	return &scanner{data: data, pos: start, start: start, opts: opts, gindex: map[string]int{}, memoFrom: -1}
}

// result is what a finished eager pre-pass hands to the decoders.
func (s *scanner) result() scanResult {
	res := scanResult{data: s.data[:s.pos], start: s.start, proto: s.proto, bufs: s.bufs, bufKind: s.bufKind,
		edits: s.edits, objects: s.objects, decoded: s.decodedBytes}
	res.drops, res.extra = s.memoDrops()
	if s.jb != nil {
		res.jb, res.aliased = s.jb.subs, s.jb.aliased
	}
	return res
}

func (s *scanner) fail(kind error, at int, op byte, format string, args ...any) error {
	return newErr(kind, int64(at), opName(op), format, args...)
}

// need checks that n bytes remain after the current position.
func (s *scanner) need(at int, op byte, n int64) error {
	if n < 0 || n > int64(len(s.data)-s.pos) {
		return s.fail(ErrMalformed, at, op, "length %d exceeds the %d bytes that remain", n, len(s.data)-s.pos)
	}
	return nil
}

func (s *scanner) charge(at int, op byte, n int64) error {
	s.decodedBytes += n
	if s.decodedBytes > s.opts.MaxDecodedBytes {
		return s.fail(ErrLimit, at, op, "decoded size exceeds the limit of %d bytes", s.opts.MaxDecodedBytes)
	}
	return nil
}

func (s *scanner) push(at int, op byte, v sym) error {
	s.stack = append(s.stack, v)
	if len(s.stack) > s.peak {
		// a deeper stack costs a slot in every interpreter's stack (DUP
		// floods: millions of one-byte pushes)
		s.peak = len(s.stack)
		if err := s.charge(at, op, stackCost); err != nil {
			return err
		}
	}
	return s.charge(at, op, objCost)
}

func (s *scanner) base() int {
	if len(s.marks) == 0 {
		return 0
	}
	return s.marks[len(s.marks)-1]
}

func (s *scanner) pop(at int, op byte, n int) ([]sym, error) {
	if len(s.stack)-s.base() < n {
		return nil, s.fail(ErrMalformed, at, op, "stack underflow")
	}
	v := s.stack[len(s.stack)-n:]
	s.stack = s.stack[:len(s.stack)-n]
	s.lowStack = min(s.lowStack, len(s.stack))
	return v, nil
}

func (s *scanner) top(at int, op byte) (sym, error) {
	if len(s.stack)-s.base() < 1 {
		return sym{}, s.fail(ErrMalformed, at, op, "stack underflow")
	}
	return s.stack[len(s.stack)-1], nil
}

// popMark pops everything above the last MARK and the MARK, returning the
// number of items.
func (s *scanner) popMark(at int, op byte) (int, error) {
	if len(s.marks) == 0 {
		return 0, s.fail(ErrMalformed, at, op, "no MARK on the stack")
	}
	b := s.marks[len(s.marks)-1]
	s.marks = s.marks[:len(s.marks)-1]
	n := len(s.stack) - b
	s.stack = s.stack[:b]
	s.lowStack = min(s.lowStack, b)
	s.lowMark = min(s.lowMark, len(s.marks))
	return n, nil
}

func (s *scanner) memoPut(at int, op byte, key uint64, v sym) error {
	if key >= uint64(s.opts.MaxMemo) {
		return s.fail(ErrLimit, at, op, "memo key %d beyond the memo limit of %d", key, s.opts.MaxMemo)
	}
	if s.lean != nil {
		if s.lean.memoPut(s, key, v) {
			s.nmemo++
		}
		if s.nmemo > s.opts.MaxMemo {
			return s.fail(ErrLimit, at, op, "more than %d memo entries", s.opts.MaxMemo)
		}
		return s.charge(at, op, 16)
	}
	put := int32(-2) // not tracked: kept
	if s.puts.len() < math.MaxInt32 && !s.blob {
		put = int32(s.puts.len())
		s.puts.append(at)
		s.putKeys.append(uint32(key))
		if s.puts.len() > 64*len(s.putRead) {
			s.putRead = append(s.putRead, 0)
		}
		if op == opPut {
			s.markRead(put) // protocol-0 PUT lines may be rewritten: keep them
		}
	}
	e := memoEntry{v: v, put: put}
	if key < uint64(s.memo.len())+1<<16 && key < 1<<31 {
		for uint64(s.memo.len()) <= key {
			s.memo.append(memoEntry{put: -1})
		}
		m := s.memo.at(int(key))
		if m.put == -1 {
			s.nmemo++
		}
		*m = e
	} else {
		if s.memoMap == nil {
			s.memoMap = map[uint64]memoEntry{}
		}
		if _, ok := s.memoMap[key]; !ok {
			s.nmemo++
		}
		s.memoMap[key] = e
	}
	if s.nmemo > s.opts.MaxMemo {
		return s.fail(ErrLimit, at, op, "more than %d memo entries", s.opts.MaxMemo)
	}
	return s.charge(at, op, 16)
}

func (s *scanner) markRead(put int32) {
	if put >= 0 {
		s.putRead[put/64] |= 1 << (put % 64)
	}
}

func (s *scanner) memoGet(at int, op byte, key uint64) (sym, error) {
	if s.lean != nil {
		if v, ok := s.lean.memoGet(at, key); ok {
			return v, nil
		}
		return sym{}, s.fail(ErrMalformed, at, op, "memo key %d is not defined", key)
	}
	if key < uint64(s.memo.len()) {
		if m := s.memo.at(int(key)); m.put != -1 {
			s.markRead(m.put)
			return m.v, nil
		}
	}
	if e, ok := s.memoMap[key]; ok {
		s.markRead(e.put)
		return e.v, nil
	}
	return sym{}, s.fail(ErrMalformed, at, op, "memo key %d is not defined", key)
}

// memoDrops lists the memo writes no GET reads, for the reader to skip, and
// rewrites every kept MEMOIZE after the first skipped write as an explicit
// LONG_BINPUT (MEMOIZE's key is the memo's size, which skipping changes).
func (s *scanner) memoDrops() ([]int, []edit) {
	unread := s.puts.len()
	for _, w := range s.putRead {
		unread -= bits.OnesCount64(w)
	}
	drops := make([]int, 0, unread)
	var rewrites []edit
	for i := range s.puts.len() {
		at := *s.puts.at(i)
		if s.putRead[i/64]&(1<<(i%64)) == 0 {
			drops = append(drops, at)
			continue
		}
		if (len(drops) > 0 || s.memoFrom >= 0 && at >= s.memoFrom) && s.data[at] == opMemoize {
			r := make([]byte, 5)
			r[0] = opLongBinPut
			binary.LittleEndian.PutUint32(r[1:], *s.putKeys.at(i))
			rewrites = append(rewrites, edit{at, at + 1, r})
		}
	}
	return drops, rewrites
}

// line reads a protocol-0 argument up to '\n' and returns it without it.
func (s *scanner) line(at int, op byte) ([]byte, error) {
	i := bytes.IndexByte(s.data[s.pos:], '\n')
	if i < 0 {
		return nil, s.fail(ErrMalformed, at, op, "missing end of line (truncated)")
	}
	l := s.data[s.pos : s.pos+i]
	s.pos += i + 1
	return l, nil
}

func (s *scanner) uint(at int, op byte, size int) (uint64, error) {
	if err := s.need(at, op, int64(size)); err != nil {
		return 0, err
	}
	b := s.data[s.pos : s.pos+size]
	s.pos += size
	switch size {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.LittleEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(b)), nil
	default:
		return binary.LittleEndian.Uint64(b), nil
	}
}

// payload reads a length-prefixed payload; it returns its start offset.
func (s *scanner) payload(at int, op byte, lenSize int) (int, int, error) {
	n, err := s.uint(at, op, lenSize)
	if err != nil {
		return 0, 0, err
	}
	if n > math.MaxInt32*16 {
		return 0, 0, s.fail(ErrMalformed, at, op, "length %d exceeds the %d bytes that remain", n, len(s.data)-s.pos)
	}
	if err := s.need(at, op, int64(n)); err != nil {
		return 0, 0, err
	}
	start := s.pos
	s.pos += int(n)
	return start, int(n), nil
}

// replace rewrites the opcode at [at, s.pos) as repl.
func (s *scanner) replace(at int, repl ...byte) {
	if s.lean != nil {
		return // an index pass: nothing is decoded
	}
	s.edits.append(edit{at, s.pos, repl})
}

// persist replaces the payload opcode at [at, s.pos) with a persistent id
// resolving to b.
func (s *scanner) persist(at int, b []byte, kind byte) {
	if s.lean != nil {
		return
	}
	idx := s.bufs.len()
	s.bufs.append(b)
	s.bufKind.append(kind)
	if cap(s.arena)-len(s.arena) < 6 {
		s.arena = make([]byte, 0, 6<<10)
	}
	n := len(s.arena)
	s.arena = s.arena[:n+6]
	r := s.arena[n : n+6 : n+6]
	r[0] = opBinInt
	binary.LittleEndian.PutUint32(r[1:], uint32(idx))
	r[5] = opBinPersID
	s.replace(at, r...)
}

func (s *scanner) str(v sym) (string, bool) {
	switch v.kind {
	case symStr:
		return string(s.data[v.off : v.off+int64(v.n)]), true
	case symDecStr:
		return s.decoded[v.off], true
	}
	return "", false
}

func (s *scanner) global(at int, op byte, module, name string) (sym, error) {
	key := module + "\x00" + name
	i, ok := s.gindex[key]
	if !ok {
		c := classifyGlobal(module, name)
		if c == gRefused {
			if isJoblib(module) {
				return sym{}, s.fail(ErrRefused, at, op, "global %s.%s is not allowed (of joblib's names only %s.%s, joblib >= 0.10, is read)", module, name, jbModule, jbName)
			}
			return sym{}, s.fail(ErrRefused, at, op, "global %s.%s is not allowed", module, name)
		}
		if c == gJoblib {
			switch {
			case s.lean != nil:
				return sym{}, errJoblib
			case s.nested:
				return sym{}, s.fail(ErrRefused, at, op, "%s.%s inside a joblib object array", module, name)
			case s.jb == nil:
				s.jb = &jbScan{}
			}
		}
		i = len(s.globals)
		s.globals = append(s.globals, globalRef{module, name, c})
		s.gindex[key] = i
	}
	return sym{kind: symGlobal, off: int64(i)}, nil
}

func (s *scanner) run() error {
	for {
		if len(s.skips) > 0 && s.pos == int(s.skips[0].seq.start) {
			if err := s.skip(); err != nil {
				return err
			}
			continue
		}
		if s.pos >= len(s.data) {
			return s.fail(ErrMalformed, s.pos, 0, "truncated: no STOP opcode")
		}
		if s.inFrame > 0 && s.pos >= s.inFrame {
			s.inFrame = 0
		}
		at := s.pos
		op := s.data[s.pos]
		s.pos++
		n0, m0 := len(s.stack), len(s.marks)
		if s.lean != nil {
			s.lowStack, s.lowMark = n0, m0
		}
		if err := s.step(at, op); err != nil {
			return err
		}
		if s.inFrame > 0 && s.pos > s.inFrame {
			return s.fail(ErrMalformed, at, op, "opcode crosses the end of its frame")
		}
		if s.lean != nil {
			s.lean.after(s, at, op, n0, m0)
		}
		if op == opStop {
			return nil
		}
	}
}

func (s *scanner) step(at int, op byte) error {
	switch op {
	case opNewObj, opNewObjEx, opBuild, opInst, opObj:
		s.objects = true
	}
	switch op {
	case opProto:
		v, err := s.uint(at, op, 1)
		if err != nil {
			return err
		}
		if v > 5 {
			return s.fail(ErrMalformed, at, op, "unsupported pickle protocol %d (max 5)", v)
		}
		s.proto = int(v)
	case opFrame:
		n, err := s.uint(at, op, 8)
		if err != nil {
			return err
		}
		if err := s.need(at, op, int64(n)); err != nil {
			return err
		}
		if s.inFrame > 0 {
			return s.fail(ErrMalformed, at, op, "new frame before the end of the current frame")
		}
		if n > 0 {
			s.inFrame = s.pos + int(n)
		}
		// Frames are dropped: gopickle would copy each into a buffer.
		s.replace(at)
	case opStop:
		if len(s.stack)-s.base() == 0 {
			return s.fail(ErrMalformed, at, op, "STOP with an empty stack")
		}
	case opMark:
		if len(s.marks) >= s.opts.MaxDepth {
			return s.fail(ErrLimit, at, op, "MARK nesting deeper than %d", s.opts.MaxDepth)
		}
		s.marks = append(s.marks, len(s.stack))
		return s.charge(at, op, 8)
	case opPop:
		if len(s.stack)-s.base() >= 1 {
			s.stack = s.stack[:len(s.stack)-1]
			s.lowStack = min(s.lowStack, len(s.stack))
		} else if len(s.marks) > 0 {
			// CPython's POP with an empty frame pops the mark.
			_, err := s.popMark(at, op)
			return err
		} else {
			return s.fail(ErrMalformed, at, op, "stack underflow")
		}
	case opPopMark:
		_, err := s.popMark(at, op)
		return err
	case opDup:
		v, err := s.top(at, op)
		if err != nil {
			return err
		}
		if v.kind == symWrapper {
			return s.fail(ErrUnsupported, at, op, "joblib array wrapper duplicated (joblib writes each once)")
		}
		return s.push(at, op, v)
	case opNone, opNewTrue, opNewFalse:
		return s.push(at, op, s.jbLiteral(op))
	case opBinInt1:
		v, err := s.uint(at, op, 1)
		if err != nil {
			return err
		}
		return s.push(at, op, s.jbInt(int64(v)))
	case opBinInt2:
		v, err := s.uint(at, op, 2)
		if err != nil {
			return err
		}
		return s.push(at, op, s.jbInt(int64(v)))
	case opBinInt:
		v, err := s.uint(at, op, 4)
		if err != nil {
			return err
		}
		return s.push(at, op, s.jbInt(int64(int32(uint32(v)))))
	case opBinFloat:
		if _, err := s.uint(at, op, 8); err != nil {
			return err
		}
		return s.push(at, op, sym{})
	case opInt:
		l, err := s.line(at, op)
		if err != nil {
			return err
		}
		t := string(bytes.TrimSpace(l))
		if t != "00" && t != "01" {
			if _, err := strconv.ParseInt(t, 10, 64); err != nil {
				return s.fail(ErrMalformed, at, op, "bad INT argument %q", truncate(t))
			}
		}
		if t != string(l) {
			s.replace(at, append(append([]byte{opInt}, t...), '\n')...)
		}
		return s.push(at, op, s.jbIntText(t))
	case opLong:
		l, err := s.line(at, op)
		if err != nil {
			return err
		}
		t := bytes.TrimSuffix(bytes.TrimSpace(l), []byte("L"))
		if !isDigits(t) {
			return s.fail(ErrMalformed, at, op, "bad LONG argument %q", truncate(string(l)))
		}
		if len(t) > 4300 {
			// CPython refuses int(str) beyond 4300 digits too.
			return s.fail(ErrLimit, at, op, "integer of %d digits", len(t))
		}
		if err := s.charge(at, op, int64(len(t))); err != nil {
			return err
		}
		return s.push(at, op, s.jbIntText(string(t)))
	case opFloat:
		l, err := s.line(at, op)
		if err != nil {
			return err
		}
		if _, err := strconv.ParseFloat(string(l), 64); err != nil {
			return s.fail(ErrMalformed, at, op, "bad FLOAT argument %q", truncate(string(l)))
		}
		return s.push(at, op, sym{})
	case opLong1, opLong4:
		size := 1
		if op == opLong4 {
			size = 4
		}
		start, n, err := s.payload(at, op, size)
		if err != nil {
			return err
		}
		if op == opLong4 && n > 1<<20 {
			return s.fail(ErrLimit, at, op, "integer of %d bytes", n)
		}
		if n == 0 {
			s.replace(at, opBinInt1, 0)
		}
		if err := s.charge(at, op, int64(n)); err != nil {
			return err
		}
		if op == opLong1 {
			return s.push(at, op, s.jbLong1(s.data[start:start+n]))
		}
		return s.push(at, op, sym{})

	case opBinUnicode, opShortBinUnicode, opBinUnicode8:
		size := 4
		switch op {
		case opShortBinUnicode:
			size = 1
		case opBinUnicode8:
			size = 8
		}
		start, n, err := s.payload(at, op, size)
		if err != nil {
			return err
		}
		b := s.data[start : start+n]
		if !utf8.Valid(b) {
			return s.fail(ErrMalformed, at, op, "text is not valid UTF-8")
		}
		if err := s.charge(at, op, int64(n)); err != nil {
			return err
		}
		if n >= persistThreshold {
			s.persist(at, b, opBinUnicode)
		}
		if s.blob {
			// a skip's definitions: syms must not point into the blob
			s.decoded = append(s.decoded, string(b))
			return s.push(at, op, sym{kind: symDecStr, off: int64(len(s.decoded) - 1)})
		}
		return s.push(at, op, sym{kind: symStr, off: int64(start), n: int32(min(n, math.MaxInt32))})
	case opUnicode:
		l, err := s.line(at, op)
		if err != nil {
			return err
		}
		str, err := decodeRawUnicodeEscape(l)
		if err != nil {
			return s.fail(ErrMalformed, at, op, "%v", err)
		}
		return s.pushDecoded(at, op, str)
	case opString:
		l, err := s.line(at, op)
		if err != nil {
			return err
		}
		b, err := decodeStringRepr(l)
		if err != nil {
			return s.fail(ErrMalformed, at, op, "%v", err)
		}
		return s.pushPy2Str(at, op, b)
	case opBinString, opShortBinString:
		size := 4
		if op == opShortBinString {
			size = 1
		}
		start, n, err := s.payload(at, op, size)
		if err != nil {
			return err
		}
		if op == opBinString && int32(binary.LittleEndian.Uint32(s.data[start-4:start])) < 0 {
			return s.fail(ErrMalformed, at, op, "negative length")
		}
		return s.pushPy2Str(at, op, s.data[start:start+n])
	case opBinBytes, opShortBinBytes, opBinBytes8, opByteArray8:
		size := 4
		switch op {
		case opShortBinBytes:
			size = 1
		case opBinBytes8, opByteArray8:
			size = 8
		}
		start, n, err := s.payload(at, op, size)
		if err != nil {
			return err
		}
		if err := s.charge(at, op, int64(n)); err != nil {
			return err
		}
		if n >= persistThreshold || op == opByteArray8 {
			s.persist(at, s.data[start:start+n:start+n], op)
		}
		return s.push(at, op, sym{kind: symBuiltin})

	case opEmptyTuple:
		return s.push(at, op, sym{kind: symTuple})
	case opEmptyList:
		return s.push(at, op, sym{kind: symBuiltin})
	case opEmptyDict:
		if s.jbTopIsWrapper() {
			return s.push(at, op, s.jbNewDict(nil))
		}
		return s.push(at, op, sym{kind: symBuiltin})
	case opEmptySet:
		s.replace(at, opEmptyList)
		return s.push(at, op, sym{kind: symBuiltin})
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		v, err := s.pop(at, op, n)
		if err != nil {
			return err
		}
		return s.push(at, op, s.tupleSym(v))
	case opTuple:
		if len(s.marks) == 0 {
			return s.fail(ErrMalformed, at, op, "no MARK on the stack")
		}
		v := s.stack[s.marks[len(s.marks)-1]:]
		t := s.tupleSym(v)
		if _, err := s.popMark(at, op); err != nil {
			return err
		}
		return s.push(at, op, t)
	case opList:
		if _, err := s.popMark(at, op); err != nil {
			return err
		}
		return s.push(at, op, sym{kind: symBuiltin})
	case opFrozenSet:
		if _, err := s.popMark(at, op); err != nil {
			return err
		}
		s.replace(at, opList)
		return s.push(at, op, sym{kind: symBuiltin})
	case opDict:
		var pairs []sym
		if s.jb != nil && len(s.marks) > 0 {
			pairs = s.stack[s.marks[len(s.marks)-1]:]
		}
		n, err := s.popMark(at, op)
		if err != nil {
			return err
		}
		if n%2 != 0 {
			return s.fail(ErrMalformed, at, op, "odd number of items (%d) for DICT", n)
		}
		if s.jbTopIsWrapper() {
			return s.push(at, op, s.jbNewDict(pairs))
		}
		return s.push(at, op, sym{kind: symBuiltin})
	case opAppend:
		if _, err := s.pop(at, op, 1); err != nil {
			return err
		}
		_, err := s.top(at, op)
		return err
	case opAppends, opAddItems:
		if _, err := s.popMark(at, op); err != nil {
			return err
		}
		if _, err := s.top(at, op); err != nil {
			return err
		}
		if op == opAddItems {
			s.replace(at, opAppends)
		}
	case opSetItem:
		kv, err := s.pop(at, op, 2)
		if err != nil {
			return err
		}
		if _, err := s.top(at, op); err != nil {
			return err
		}
		s.jbSetItems(kv)
	case opSetItems:
		var pairs []sym
		if s.jb != nil && len(s.marks) > 0 {
			pairs = s.stack[s.marks[len(s.marks)-1]:]
		}
		n, err := s.popMark(at, op)
		if err != nil {
			return err
		}
		if n%2 != 0 {
			return s.fail(ErrMalformed, at, op, "odd number of items (%d) for SETITEMS", n)
		}
		if _, err = s.top(at, op); err != nil {
			return err
		}
		s.jbSetItems(pairs)

	case opBinPut, opLongBinPut, opPut, opMemoize:
		var key uint64
		var err error
		switch op {
		case opBinPut:
			key, err = s.uint(at, op, 1)
		case opLongBinPut:
			key, err = s.uint(at, op, 4)
		case opPut:
			key, err = s.decLine(at, op)
		case opMemoize:
			key = uint64(s.nmemo)
		}
		if err != nil {
			return err
		}
		v, err := s.top(at, op)
		if err != nil {
			return err
		}
		return s.memoPut(at, op, key, v)
	case opBinGet, opLongBinGet, opGet:
		var key uint64
		var err error
		switch op {
		case opBinGet:
			key, err = s.uint(at, op, 1)
		case opLongBinGet:
			key, err = s.uint(at, op, 4)
		case opGet:
			key, err = s.decLine(at, op)
		}
		if err != nil {
			return err
		}
		v, err := s.memoGet(at, op, key)
		if err != nil {
			return err
		}
		if v.kind == symWrapper {
			return s.fail(ErrUnsupported, at, op, "joblib array wrapper read from the memo (joblib writes each once)")
		}
		return s.push(at, op, v)

	case opGlobal, opInst:
		ml, err := s.line(at, op)
		if err != nil {
			return err
		}
		nl, err := s.line(at, op)
		if err != nil {
			return err
		}
		if !utf8.Valid(ml) || !utf8.Valid(nl) {
			return s.fail(ErrMalformed, at, op, "global name is not valid UTF-8")
		}
		g, err := s.global(at, op, string(ml), string(nl))
		if err != nil {
			return err
		}
		if op == opGlobal {
			return s.push(at, op, g)
		}
		n, err := s.popMark(at, op)
		if err != nil {
			return err
		}
		if err := s.checkInstantiate(at, op, g, n); err != nil {
			return err
		}
		return s.push(at, op, sym{})
	case opStackGlobal:
		v, err := s.pop(at, op, 2)
		if err != nil {
			return err
		}
		if v[0].kind == symUnknown || v[1].kind == symUnknown {
			return s.push(at, op, sym{kind: symUnknown})
		}
		module, ok1 := s.str(v[0])
		name, ok2 := s.str(v[1])
		if !ok1 || !ok2 {
			return s.fail(ErrRefused, at, op, "STACK_GLOBAL operands are not statically known strings")
		}
		g, err := s.global(at, op, module, name)
		if err != nil {
			return err
		}
		return s.push(at, op, g)
	case opObj:
		if len(s.marks) == 0 {
			return s.fail(ErrMalformed, at, op, "no MARK on the stack")
		}
		b := s.marks[len(s.marks)-1]
		if len(s.stack) == b {
			return s.fail(ErrMalformed, at, op, "OBJ without a class")
		}
		cls := s.stack[b]
		n, _ := s.popMark(at, op)
		if err := s.checkInstantiate(at, op, cls, n-1); err != nil {
			return err
		}
		return s.push(at, op, sym{})
	case opReduce:
		v, err := s.pop(at, op, 2)
		if err != nil {
			return err
		}
		if v[1].kind != symTuple && v[1].kind != symAttr && v[1].kind != symAny && v[1].kind != symUnknown {
			return s.fail(ErrMalformed, at, op, "REDUCE arguments are not a tuple")
		}
		if v[0].kind == symUnknown || v[1].kind == symUnknown && v[0].kind == symGlobal && isGetattr(s.globals[v[0].off]) {
			return s.push(at, op, sym{kind: symUnknown}) // checked by the value pass
		}
		if v[0].kind == symGlobal && isGetattr(s.globals[v[0].off]) {
			g, err := s.getattr(at, op, v[1])
			if err != nil {
				return err
			}
			return s.push(at, op, g)
		}
		if err := s.checkCall(at, op, v[0]); err != nil {
			return err
		}
		if s.jb != nil {
			if r, ok, err := s.jbReduce(at, op, s.globals[v[0].off], v[1]); err != nil {
				return err
			} else if ok {
				return s.push(at, op, r)
			}
		}
		if v[0].kind == symGlobal && makesBuiltin(s.globals[v[0].off]) {
			return s.push(at, op, sym{kind: symBuiltin})
		}
		return s.push(at, op, sym{})
	case opNewObj, opNewObjEx:
		n := 2
		if op == opNewObjEx {
			n = 3
		}
		v, err := s.pop(at, op, n)
		if err != nil {
			return err
		}
		if v[0].kind != symGlobal && v[0].kind != symUnknown {
			return s.fail(ErrRefused, at, op, "%s class is not a global", opName(op))
		}
		if v[0].kind == symGlobal && jbGlobal(s.globals[v[0].off]) {
			w, err := s.jbNewObj(at, op, v[1])
			if err != nil {
				return err
			}
			return s.push(at, op, w)
		}
		return s.push(at, op, sym{})
	case opBuild:
		st, err := s.pop(at, op, 1)
		if err != nil {
			return err
		}
		state := st[0]
		v, err := s.top(at, op)
		if err != nil {
			return err
		}
		switch v.kind {
		case symBuiltin, symTuple, symStr, symDecStr, symAttr:
			// CPython fails (or does nothing); gopickle's error would
			// format the whole target with %#v (GiBs from a shared list).
			return s.fail(ErrMalformed, at, op, "BUILD on a built-in value (list, dict, set, tuple, bytes or str)")
		case symWrapper:
			return s.jbArray(at, op, state)
		}
		return nil

	case opPersID, opBinPersID:
		return s.fail(ErrRefused, at, op, "persistent ids are not supported")
	case opExt1, opExt2, opExt4:
		return s.fail(ErrRefused, at, op, "extension registry codes are not supported")
	case opNextBuffer:
		return s.fail(ErrUnsupported, at, op, "out-of-band buffers are not supported")
	case opReadOnlyBuffer:
		_, err := s.top(at, op)
		return err
	default:
		return s.fail(ErrMalformed, at, op, "unknown opcode 0x%02x", op)
	}
	return nil
}

func (s *scanner) decLine(at int, op byte) (uint64, error) {
	l, err := s.line(at, op)
	if err != nil {
		return 0, err
	}
	k, err := strconv.ParseUint(string(bytes.TrimSpace(l)), 10, 31)
	if err != nil {
		return 0, s.fail(ErrMalformed, at, op, "bad memo key %q", truncate(string(l)))
	}
	if string(bytes.TrimSpace(l)) != string(l) {
		s.replace(at, append(append([]byte{op}, bytes.TrimSpace(l)...), '\n')...)
	}
	return k, nil
}

// pushDecoded rewrites the opcode at [at, s.pos) as a BINUNICODE of str.
func (s *scanner) pushDecoded(at int, op byte, str string) error {
	if err := s.charge(at, op, int64(len(str))); err != nil {
		return err
	}
	if s.lean != nil && len(s.decoded) >= maxLeanDecoded {
		// an index pass keeps a bounded number of decoded strings; the
		// decode passes check what needs the others
		return s.push(at, op, sym{kind: symUnknown})
	}
	var r []byte
	r = append(r, opBinUnicode)
	r = binary.LittleEndian.AppendUint32(r, uint32(len(str)))
	r = append(r, str...)
	s.replace(at, r...)
	s.decoded = append(s.decoded, str)
	return s.push(at, op, sym{kind: symDecStr, off: int64(len(s.decoded) - 1)})
}

// pushPy2Str handles a Python 2 str: text when it is valid UTF-8, bytes
// otherwise (numpy's array payloads in Python 2 pickles are str).
func (s *scanner) pushPy2Str(at int, op byte, b []byte) error {
	if utf8.Valid(b) {
		return s.pushDecoded(at, op, string(b))
	}
	if err := s.charge(at, op, int64(len(b))); err != nil {
		return err
	}
	var r []byte
	r = append(r, opBinBytes)
	r = binary.LittleEndian.AppendUint32(r, uint32(len(b)))
	r = append(r, b...)
	s.replace(at, r...)
	return s.push(at, op, sym{})
}

func (s *scanner) tupleSym(v []sym) sym {
	for _, x := range v {
		if x.kind == symUnknown {
			return sym{kind: symUnknown} // (global, name) or not: the value pass knows
		}
	}
	if len(v) == 2 && v[0].kind == symGlobal {
		if name, ok := s.str(v[1]); ok {
			s.attrs = append(s.attrs, attrRef{int(v[0].off), name})
			return sym{kind: symAttr, off: int64(len(s.attrs) - 1), n: 2}
		}
	}
	if s.jb != nil && len(v) <= jbMaxTuple {
		return s.jbTuple(v)
	}
	return sym{kind: symTuple, n: int32(min(len(v), math.MaxInt32))}
}

func isGetattr(g globalRef) bool {
	return g.name == "getattr" && (g.module == "builtins" || g.module == "__builtin__")
}

// getattr checks getattr(global, "name"), which protocols >= 2 use for
// classmethods such as zoneinfo.ZoneInfo._unpickle: the attribute must
// itself be an allowlisted callable; the result is that global.
func (s *scanner) getattr(at int, op byte, args sym) (sym, error) {
	if args.kind != symAttr {
		return sym{}, s.fail(ErrRefused, at, op, "call of builtins.getattr with arguments that are not a global and a name")
	}
	a := s.attrs[args.off]
	g := s.globals[a.global]
	if classifyGlobal(g.module, g.name+"."+a.name) != gCallable {
		return sym{}, s.fail(ErrRefused, at, op, "call of builtins.getattr(%s.%s, %q) is not allowed", g.module, g.name, a.name)
	}
	return s.global(at, op, g.module, g.name+"."+a.name)
}

// checkCall: REDUCE calls callable v.
func (s *scanner) checkCall(at int, op byte, v sym) error {
	if v.kind != symGlobal {
		return s.fail(ErrMalformed, at, op, "call of a value that is not a global")
	}
	g := s.globals[v.off]
	switch g.class {
	case gCallable, gInert:
		return nil
	}
	return s.fail(ErrRefused, at, op, "call of %s.%s is not allowed", g.module, g.name)
}

// checkInstantiate: INST/OBJ with nargs arguments. An unknown class may only
// be instantiated without arguments (Python then calls only cls.__new__).
func (s *scanner) checkInstantiate(at int, op byte, v sym, nargs int) error {
	if v.kind == symUnknown {
		return nil // checked by the value pass
	}
	if v.kind != symGlobal {
		return s.fail(ErrRefused, at, op, "instantiation of a value that is not an allowed global")
	}
	g := s.globals[v.off]
	if g.class == gCallable || g.class == gInert || (g.class == gData && nargs == 0) {
		return nil
	}
	return s.fail(ErrRefused, at, op, "call of %s.%s is not allowed", g.module, g.name)
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func isDigits(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// makesBuiltin reports whether calling g returns a built-in container
// (list(...), dict(...), OrderedDict(...), bytes(...), ...): a value BUILD
// cannot target.
func makesBuiltin(g globalRef) bool {
	switch g.module {
	case "builtins", "__builtin__":
		switch g.name {
		case "set", "frozenset", "list", "tuple", "dict", "bytearray", "bytes":
			return true
		}
	case "collections":
		return g.name == "OrderedDict" || g.name == "defaultdict"
	}
	return false
}
