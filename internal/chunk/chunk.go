package chunk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"

	"google.golang.org/grpc/mem"

	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/table"
)

// Defaults of [Options]; a zero field takes these.
const (
	DefaultRecords  = 10000
	DefaultBytes    = 1 << 20
	DefaultMaxBytes = 4 << 20 // gRPC servers' default MaxRecvMsgSize
)

// framing is the room left under Options.MaxBytes for gRPC's own framing.
const framing = 64

// ErrRecordTooLarge (wrapping [sink.ErrRejected]) is returned for a record
// whose encoding alone exceeds the largest message that may be sent.
var ErrRecordTooLarge = fmt.Errorf("%w: record larger than the message size limit", sink.ErrRejected)

// ErrFault is returned when reading the source's memory faulted: its
// windows alias a mapped file that another process truncated while it was
// read. It is not a bad dataset: the file may be whole again by the next
// attempt (transient).
var ErrFault = errors.New("memory fault reading the dataset (the file changed while it was read)")

// Options bound the chunks an [Encoder] cuts.
type Options struct {
	// Records is the most records one chunk carries (<= 0:
	// [DefaultRecords]).
	Records int
	// Bytes is the target encoded size of one chunk (<= 0:
	// [DefaultBytes]); it is lowered to what MaxBytes allows.
	Bytes int64
	// MaxBytes is the largest message the transport accepts (<= 0:
	// [DefaultMaxBytes]): every chunk message stays 64 bytes under it,
	// room for gRPC's framing.
	MaxBytes int
}

// Start is where an encoding begins: the chunk numbered Sequence, starting
// at record Record of the dataset. The zero Start is the beginning. A
// resumed stream starts where the chunks already delivered end: Sequence
// is their count and Record the records they carried.
type Start struct {
	Sequence uint64
	Record   int
}

// Message is one IngestDataRequest, encoded: the metadata
// ([Encoder.Metadata]) or a chunk ([Encoder.Pipe]). A chunk's bytes sit in
// a pooled buffer, which goes back to its pool when the message is sent on
// a gRPC stream using [Codec] (gRPC frees it, whether the send succeeds or
// not) or when [Message.Free] is called; exactly one of the two must
// happen.
type Message struct {
	data mem.BufferSlice
	// Size is the encoded size in bytes.
	Size int
	// Sequence and FirstRecord are the chunk's sequence number and the
	// dataset's index of its first record; Records is how many it carries
	// (all zero for the metadata).
	Sequence    uint64
	FirstRecord int
	Records     int
}

// Free returns the message's buffer to its pool. The message must not be
// used afterwards, nor sent.
func (m *Message) Free() { m.data.Free() }

// Bytes returns a copy of the encoded message.
func (m *Message) Bytes() []byte { return m.data.Materialize() }

// Encoder encodes one dataset ([table.Source]) as IngestDataRequest
// messages: the metadata, then chunks cut by [Options]. It reads the
// source one window at a time (at most [table.Source.WindowRows] rows:
// the whole dataset for a [table.Table]) and cuts chunks inside each
// window, never across a window boundary. Boundaries depend only on the
// data, the options and the [Start], so a stream resumed at a chunk
// boundary goes on exactly as the first one did.
//
// An Encoder runs one [Encoder.Estimate] or [Encoder.Pipe] at a time; any
// number of encodings may run from one source with separate Encoders.
type Encoder struct {
	src         table.Source
	rows        int
	windowRows  int // rows per window, > 0 when rows > 0
	maxRecords  int
	targetBytes int
	maxBytes    int
	pool        mem.BufferPool

	// checked is the last window validated and where it starts, so that
	// Estimate and Pipe do not check a Table twice.
	checked   *table.Table
	checkedLo int
}

// NewEncoder returns an Encoder of src cutting chunks as opts says.
func NewEncoder(src table.Source, opts Options) *Encoder {
	e := &Encoder{
		src:         src,
		rows:        src.Rows(),
		windowRows:  src.WindowRows(),
		maxRecords:  opts.Records,
		targetBytes: int(min(opts.Bytes, math.MaxInt)),
		maxBytes:    opts.MaxBytes,
		pool:        mem.DefaultBufferPool(),
	}
	if e.windowRows <= 0 || e.windowRows > e.rows {
		e.windowRows = e.rows
	}
	if e.maxRecords <= 0 {
		e.maxRecords = DefaultRecords
	}
	if e.targetBytes <= 0 {
		e.targetBytes = DefaultBytes
	}
	if e.maxBytes <= 0 {
		e.maxBytes = DefaultMaxBytes
	}
	e.maxBytes -= framing
	e.targetBytes = min(e.targetBytes, e.maxBytes)
	return e
}

// checkStart refuses a start outside the dataset, or one that breaks the
// contract's rule: sequence 0 if and only if record 0.
func (e *Encoder) checkStart(from Start) error {
	if from.Record < 0 || from.Record > e.rows || (from.Sequence == 0) != (from.Record == 0) {
		return fmt.Errorf("chunk: %w: cannot start at chunk %d, record %d of %d", sink.ErrRejected, from.Sequence, from.Record, e.rows)
	}
	return nil
}

// window returns the window holding record r (< e.rows) and the records
// it spans, [lo, hi), checked against the table invariants.
func (e *Encoder) window(r int) (w *table.Table, lo, hi int, err error) {
	lo = r / e.windowRows * e.windowRows
	hi = min(lo+e.windowRows, e.rows)
	w, err = e.src.Window(lo, hi, nil)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("chunk: read records [%d, %d): %w", lo, hi, err)
	}
	if w == e.checked && lo == e.checkedLo {
		return w, lo, hi, nil
	}
	if w.NumRows != hi-lo {
		return nil, 0, 0, fmt.Errorf("chunk: %w: window [%d, %d) holds %d rows", sink.ErrRejected, lo, hi, w.NumRows)
	}
	if err := w.Validate(); err != nil {
		return nil, 0, 0, fmt.Errorf("chunk: %w: records [%d, %d): %w", sink.ErrRejected, lo, hi, err)
	}
	e.checked, e.checkedLo = w, lo
	return w, lo, hi, nil
}

// Estimate returns about how many bytes the chunks from from on encode to
// (from the sizes of their values, not by encoding them), e.g. to set a
// deadline. It reads every window from there on once. Errors wrap
// [sink.ErrRejected] for a start outside the dataset or a window breaking
// the table invariants, or are the source's.
func (e *Encoder) Estimate(from Start) (int64, error) {
	if err := e.checkStart(from); err != nil {
		return 0, err
	}
	var n int64
	for r := from.Record; r < e.rows; {
		w, lo, hi, err := e.window(r)
		if err != nil {
			return 0, err
		}
		sz := newSizer(w)
		n += sz.total(r-lo, hi-lo)
		r = hi
	}
	return n, nil
}

// Pipe encodes the chunks from from on, in order, and hands each to send,
// one chunk ahead: the next chunk is encoded on another goroutine while
// send writes the previous one. send is called on Pipe's goroutine and owns
// the message it is given (see [Message]).
//
// Pipe returns nil once every chunk has been sent; send's error, as it is,
// when send fails (e.g. io.EOF from a gRPC stream the server ended); an
// encoding error ([ErrRecordTooLarge], or another wrapping
// [sink.ErrRejected]; or the source's); [ErrFault] when reading the
// source faulted; or, when ctx ends first, an error wrapping its cause.
// It returns only once its encoding goroutine has
// ended and freed what it built, also when send panics.
func (e *Encoder) Pipe(ctx context.Context, from Start, send func(*Message) error) error {
	if err := e.checkStart(from); err != nil {
		return err
	}
	pctx, stop := context.WithCancel(ctx)
	out := make(chan *Message, 1)
	done := make(chan struct{})
	var produceErr error
	go func() {
		defer close(done)
		produceErr = e.produce(pctx, from, out)
	}()
	defer func() {
		stop()
		for m := range out { // unblock the producer and free what it built
			m.Free()
		}
		<-done
	}()
	for m := range out {
		if err := send(m); err != nil {
			return err
		}
	}
	<-done
	if produceErr != nil {
		return produceErr
	}
	if ctx.Err() != nil {
		return fmt.Errorf("chunk: %w", context.Cause(ctx))
	}
	return nil
}

// produce encodes every chunk from from on and sends it on out, until the
// dataset is done, encoding fails or ctx ends. It closes out. A memory
// fault reading the source (a mapped file truncated under it, with
// runtime/debug.SetPanicOnFault on this goroutine) is [ErrFault], not a
// crash.
func (e *Encoder) produce(ctx context.Context, from Start, out chan<- *Message) (err error) {
	defer close(out)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			re, ok := v.(runtime.Error)
			if f, isFault := re.(interface{ Addr() uintptr }); ok && isFault {
				err = fmt.Errorf("chunk: %w (at address %#x): %v", ErrFault, f.Addr(), re)
				return
			}
			panic(v)
		}
	}()
	seq := from.Sequence
	for r := from.Record; r < e.rows; {
		w, lo, hi, err := e.window(r)
		if err != nil {
			return err
		}
		sz := newSizer(w)
		for r < hi {
			m, err := e.next(w, &sz, r-lo, lo, seq)
			if err != nil {
				return err
			}
			select {
			case out <- m:
			case <-ctx.Done():
				m.Free()
				return nil
			}
			r += m.Records
			seq++
		}
	}
	return nil
}

// next encodes the chunk that starts at row lo of window w (record base+lo
// of the dataset) as chunk number seq.
func (e *Encoder) next(w *table.Table, sz *sizer, lo, base int, seq uint64) (*Message, error) {
	budget := e.targetBytes - chunkOverhead - columnOverhead*len(w.Columns)
	hi, acc := lo, 0
	for hi < w.NumRows && hi-lo < e.maxRecords {
		s := sz.row(hi)
		if hi > lo && acc+s > budget {
			break
		}
		acc += s
		hi++
	}
	first := uint64(base + lo)
	for {
		size := chunkSize(w, lo, hi, seq, first)
		if size > e.maxBytes {
			if hi-lo == 1 {
				return nil, fmt.Errorf("%w: record %d encodes to %d bytes (limit %d)", ErrRecordTooLarge, first, size, e.maxBytes)
			}
			hi = lo + (hi-lo)/2
			continue
		}
		buf := e.pool.Get(size)
		out, err := appendChunk((*buf)[:0], w, lo, hi, seq, first)
		if err != nil {
			e.pool.Put(buf)
			return nil, fmt.Errorf("encode chunk %d: %w", seq, err)
		}
		if len(out) != size {
			e.pool.Put(buf)
			return nil, fmt.Errorf("%w: chunk %d encoded to %d bytes, computed %d", sink.ErrRejected, seq, len(out), size)
		}
		*buf = out
		return &Message{
			data:        mem.BufferSlice{mem.NewBuffer(buf, e.pool)},
			Size:        size,
			Sequence:    seq,
			FirstRecord: int(first),
			Records:     hi - lo,
		}, nil
	}
}
