package batchclient

import (
	"context"
	"fmt"
	"math/bits"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	"github.com/embedstream/embedstream/internal/table"
)

// chunkOverhead and columnOverhead bound the encoded bytes of a chunk that
// do not depend on its rows (tags, lengths, sequence numbers).
const (
	chunkOverhead  = 48
	columnOverhead = 24
)

// sizer estimates the encoded size of a row cheaply: a constant for the
// fixed-width columns plus a per-value term for the variable ones.
type sizer struct {
	fixed    int
	variable []*table.Column
}

func newSizer(t *table.Table) sizer {
	var s sizer
	for _, c := range t.Columns {
		switch c.Type {
		case table.TypeDouble:
			s.fixed += 8
		case table.TypeBool:
			s.fixed++
		case table.TypeFloatVector:
			s.fixed += 4 * c.VectorDim
		default:
			s.variable = append(s.variable, c)
		}
		if len(c.Nulls) > 0 {
			s.fixed++ // a null index is a small varint; amortised over rows
		}
	}
	return s
}

func varintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

func stringLen(n int) int { return 1 + varintLen(uint64(n)) + n }

// row returns the estimated encoded size of row i.
func (s *sizer) row(i int) int {
	n := s.fixed
	for _, c := range s.variable {
		switch c.Type {
		case table.TypeString, table.TypeJSON:
			n += stringLen(len(c.Strings[i]))
		case table.TypeInt64, table.TypeTimestamp:
			n += varintLen(uint64(c.Int64s[i]))
		case table.TypeBytes:
			n += stringLen(len(c.Bytes[i]))
		case table.TypeStringList:
			inner := 0
			for _, v := range c.StringLists[i] {
				inner += stringLen(len(v))
			}
			n += stringLen(inner)
		}
	}
	return n
}

// total returns the estimated encoded size of the whole table.
func (s *sizer) total(t *table.Table) int64 {
	var n int64
	if len(s.variable) == 0 {
		return int64(s.fixed) * int64(t.NumRows)
	}
	for i := 0; i < t.NumRows; i++ {
		n += int64(s.row(i))
	}
	return n
}

// encodedChunk is one chunk request already encoded into a pooled buffer;
// the stream's codec hands the buffer to gRPC without encoding again.
type encodedChunk struct {
	data    mem.BufferSlice
	size    int
	records int
}

// chunker cuts a table into chunks of at most maxRecords records and about
// targetBytes encoded bytes, never above maxBytes.
type chunker struct {
	t           *table.Table
	sz          sizer
	maxRecords  int
	targetBytes int
	maxBytes    int
	pool        mem.BufferPool
}

// next encodes the chunk that starts at row lo, as chunk number seq, and
// returns it with the row after it.
func (k *chunker) next(lo int, seq uint64) (*encodedChunk, int, error) {
	budget := k.targetBytes - chunkOverhead - columnOverhead*len(k.t.Columns)
	hi, acc := lo, 0
	for hi < k.t.NumRows && hi-lo < k.maxRecords {
		s := k.sz.row(hi)
		if hi > lo && acc+s > budget {
			break
		}
		acc += s
		hi++
	}
	for {
		size := chunkSize(k.t, lo, hi, seq)
		if size > k.maxBytes {
			if hi-lo == 1 {
				return nil, 0, fmt.Errorf("%w: record %d encodes to %d bytes (limit %d)", ErrRecordTooLarge, lo, size, k.maxBytes)
			}
			hi = lo + (hi-lo)/2
			continue
		}
		buf := k.pool.Get(size)
		out, err := appendChunk((*buf)[:0], k.t, lo, hi, seq)
		if err != nil {
			k.pool.Put(buf)
			return nil, 0, fmt.Errorf("encode chunk %d: %w", seq, err)
		}
		if len(out) != size {
			k.pool.Put(buf)
			return nil, 0, fmt.Errorf("%w: chunk %d encoded to %d bytes, computed %d", ErrRejected, seq, len(out), size)
		}
		*buf = out
		return &encodedChunk{data: mem.BufferSlice{mem.NewBuffer(buf, k.pool)}, size: size, records: hi - lo}, hi, nil
	}
}

// produce encodes every chunk of the table in order and sends it on out,
// until the table is done, encoding fails or ctx ends. It closes out.
func (k *chunker) produce(ctx context.Context, out chan<- *encodedChunk) error {
	defer close(out)
	var seq uint64
	for lo := 0; lo < k.t.NumRows; seq++ {
		ch, hi, err := k.next(lo, seq)
		if err != nil {
			return err
		}
		select {
		case out <- ch:
		case <-ctx.Done():
			ch.data.Free()
			return nil
		}
		lo = hi
	}
	return nil
}

// passthroughCodec is the proto codec, except that an [*encodedChunk] goes
// out as the bytes it already holds. It lets chunks be encoded on the
// producer goroutine while the previous one is being written.
type passthroughCodec struct{ base encoding.CodecV2 }

func newPassthroughCodec() passthroughCodec {
	return passthroughCodec{base: encoding.GetCodecV2("proto")}
}

func (c passthroughCodec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(*encodedChunk); ok {
		return e.data, nil
	}
	return c.base.Marshal(v)
}

func (c passthroughCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return c.base.Unmarshal(data, v)
}

func (c passthroughCodec) Name() string { return c.base.Name() }
