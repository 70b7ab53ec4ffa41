package pickleload

import (
	"encoding/binary"
)

// The skeleton decode of the lazy path: the eager pre-pass and gopickle run
// over the input with every chosen large sequence replaced by a
// placeholder (BININT -1-id BINPERSID, which PersistentLoad turns into a
// *lazySeq). Memo keys the rest of the input reads but a sequence defines
// are defined in front of its placeholder: their definitions (see
// leanIndex.definitions) are copied there, each followed by POP, with every
// MEMOIZE made an explicit LONG_BINPUT of its key; the pre-pass scans them
// like the input (the "blob" of the sequence).

// skipRange is a sequence the skeleton replaces by a placeholder.
type skipRange struct {
	seq  *seqIndex
	blob []byte // the definitions to run in front of it
}

// decodeSkeleton decodes the skeleton (sr, scanned with skips) with the
// interpreter the eager path would use; seqs[i] is placeholder i.
func (f *lazyFile) decodeSkeleton(sr scanResult, skips []skipRange, seqs []*lazySeq) (any, error) {
	if f.idx.objects {
		return unpickle(sr, seqs)
	}
	m := &fastVM{data: sr.data}
	for _, sk := range skips {
		m.skips = append(m.skips, vmSkip{start: int(sk.seq.start), end: int(sk.seq.end), blob: sk.blob, seq: seqs[sk.seq.id], memoEnd: int(sk.seq.memoEnd)})
	}
	return m.run()
}

// skeletonSkips returns the skip ranges for the chosen sequences. bad lists
// the sequences whose definitions cannot be copied (they must stay in the
// skeleton).
func (f *lazyFile) skeletonSkips() (skips []skipRange, bad []*seqIndex, err error) {
	li := f.idx
	need := make([]map[int64]bool, len(li.chosen))
	var queue []int64
	for k := range li.skelReads {
		queue = append(queue, k)
	}
	seen := map[int64]bool{}
	for len(queue) > 0 {
		k := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if seen[k] {
			continue
		}
		seen[k] = true
		q := li.chosenOfKey(k)
		if q == nil {
			continue // defined in the skeleton
		}
		if need[q.id] == nil {
			need[q.id] = map[int64]bool{}
		}
		need[q.id][k] = true
		d := li.def(k)
		if d == nil {
			return nil, nil, newErr(ErrMalformed, -1, "", "memo key %d has no definition", k)
		}
		err := walkReads(f.data, d.start, d.end, func(r int64) error {
			if r < d.memoAt && !seen[r] {
				queue = append(queue, r)
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	for _, q := range li.chosen {
		sk := skipRange{seq: q}
		if len(need[q.id]) > 0 {
			segs, err := li.definitions(f.data, need[q.id], q.end, f.preambleBudget())
			if err != nil {
				bad = append(bad, q)
				continue
			}
			for _, g := range segs {
				if sk.blob, err = blobOps(sk.blob, f.data, g); err != nil {
					return nil, nil, err
				}
				sk.blob = append(sk.blob, opPop)
			}
		}
		skips = append(skips, sk)
	}
	return skips, bad, nil
}

// blobOps appends the opcodes of definition g to buf, without FRAMEs and
// with every MEMOIZE an explicit LONG_BINPUT (the skeleton keeps the
// input's memo keys).
func blobOps(buf, data []byte, g segment) ([]byte, error) {
	w := g.memoAt
	for at := int(g.start); at < int(g.end); {
		n, ok := opSpan(data, at)
		if !ok || at+n > int(g.end) {
			return nil, newErr(ErrMalformed, int64(at), opName(data[at]), "unreadable opcode in a sequence")
		}
		switch data[at] {
		case opFrame:
		case opMemoize:
			buf = append(buf, opLongBinPut)
			buf = binary.LittleEndian.AppendUint32(buf, uint32(w))
			w++
		default:
			if _, write, ok := memoOp(data, at, n); ok && write {
				w++
			}
			buf = append(buf, data[at:at+n]...)
		}
		at += n
	}
	return buf, nil
}

// skip replaces the sequence at s.pos by its placeholder (run its
// definitions first), and goes on after it.
func (s *scanner) skip() error {
	sk := s.skips[0]
	s.skips = s.skips[1:]
	at := s.pos
	var repl []byte
	if len(sk.blob) > 0 {
		var err error
		if repl, err = s.scanBlob(sk.blob, at); err != nil {
			return err
		}
	}
	repl = append(repl, opBinInt)
	repl = binary.LittleEndian.AppendUint32(repl, uint32(int32(-1-sk.seq.id)))
	repl = append(repl, opBinPersID)
	s.pos = int(sk.seq.end)
	s.edits.append(edit{at, s.pos, repl})
	s.nmemo = int(sk.seq.memoEnd)
	s.inFrame = int(sk.seq.frameEnd)
	if s.memoFrom < 0 {
		s.memoFrom = at
	}
	return s.push(at, opEmptyList, sym{kind: symBuiltin})
}

// scanBlob runs the pre-pass over a sequence's definitions (its memo and
// stack are the input's) and returns them with the pre-pass's edits
// applied. An error is placed at the sequence's offset at.
func (s *scanner) scanBlob(blob []byte, at int) ([]byte, error) {
	data, pos, frame, edits := s.data, s.pos, s.inFrame, s.edits
	s.data, s.pos, s.inFrame, s.edits, s.blob = blob, 0, 0, chunked[edit]{}, true
	defer func() {
		s.data, s.pos, s.inFrame, s.edits, s.blob = data, pos, frame, edits, false
	}()
	for s.pos < len(s.data) {
		a := s.pos
		op := s.data[a]
		s.pos++
		s.lowStack, s.lowMark = len(s.stack), len(s.marks)
		err := s.step(a, op)
		if err == nil && op == opStop {
			err = s.fail(ErrMalformed, a, op, "STOP in a definition")
		}
		if err != nil {
			if e, ok := err.(*Error); ok {
				e.Offset = int64(at)
			}
			return nil, err
		}
	}
	out := make([]byte, 0, len(blob))
	prev := 0
	for i := range s.edits.len() {
		e := s.edits.at(i)
		out = append(out, blob[prev:e.at]...)
		out = append(out, e.repl...)
		prev = e.end
	}
	return append(out, blob[prev:]...), nil
}

// scanSkeleton is scan with the skip ranges.
func scanSkeleton(data []byte, opts Options, skips []skipRange) (res scanResult, err error) {
	s := newScanner(data, 0, opts)
	s.skips = skips
	if err := s.run(); err != nil {
		return res, err
	}
	return s.result(), nil
}
