package pickleload

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/table"
)

// genReuseRecords writes a protocol-5 list of rows records (dicts) the way
// pickle.dump writes them: a short and a long str, a shared (memo-read)
// str, bytes and a list of dim floats per record, in APPENDS batches of
// 1000. It is read by the fast path (no calls).
func genReuseRecords(rows, dim int) ([]byte, error) {
	var buf bytes.Buffer
	p := newPickler(&buf)
	p.op(opEmptyList)
	p.memoize()
	long := strings.Repeat("a long text, persisted and read in place ", 3)
	for r := range rows {
		if r%1000 == 0 {
			p.op(opMark)
		}
		p.op(opEmptyDict)
		p.memoize()
		p.op(opMark)
		p.str("id", true)
		p.str(fmt.Sprintf("J%06d", r), false)
		p.str("text", true)
		p.str(fmt.Sprintf("%d %s", r, long[:64+r%40]), false)
		p.str("title", true)
		p.str(genTitles[r*5%len(genTitles)], true)
		p.str("blob", true)
		b := bytes.Repeat([]byte{byte(r)}, 70+r%9)
		p.frame = append(p.frame, opShortBinBytes, byte(len(b)))
		p.frame = append(p.frame, b...)
		p.memoize()
		p.str("vec", true)
		p.op(opEmptyList)
		p.memoize()
		p.op(opMark)
		for j := range dim {
			p.frame = append(p.frame, opBinFloat)
			p.frame = binary.BigEndian.AppendUint64(p.frame, math.Float64bits(float64((r+j)%89)/89))
		}
		p.op(opAppends)
		p.op(opSetItems)
		if r%1000 == 999 || r == rows-1 {
			p.op(opAppends)
		}
	}
	if err := p.close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// TestWindowBuffersReused: the buffers windows are decoded from are handed
// back for reuse, overwritten (tune.poison), as soon as the window's table
// is built; every window kept until all are read, and windows read
// concurrently meanwhile, must still equal Load's rows. A table holding a
// string, bytes or a vector of a handed-back buffer would read the
// overwriting bytes.
func TestWindowBuffersReused(t *testing.T) {
	t.Parallel()
	var frame bytes.Buffer
	if err := genRecruitFrame(&frame, 2500, 16); err != nil {
		t.Fatal(err)
	}
	records, err := genReuseRecords(3000, 24)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"frame": frame.Bytes(), "records": records} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, err := Load(data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, tune := range []lazyTuning{{minItems: 64, step: 16, windowRows: 300}, {minItems: 2, step: 3, windowRows: 7, passItems: 11}} {
				tune.force, tune.poison = true, true
				checkReuse(t, data, want, tune)
			}
		})
	}
}

func checkReuse(t *testing.T, data []byte, want *table.Table, tune lazyTuning) {
	t.Helper()
	src, err := open(data, Options{}, tune)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*lazySource); !ok {
		t.Fatalf("%+v: not read lazily", tune)
	}
	if fmt.Sprint(src.Schema()) != fmt.Sprint(want.Schema()) {
		t.Fatalf("%+v: schema %v, want %v", tune, src.Schema(), want.Schema())
	}
	type window struct {
		lo, hi int
		t      *table.Table
	}
	var kept []window
	for lo := 0; lo < src.Rows(); lo += tune.windowRows {
		hi := min(src.Rows(), lo+tune.windowRows)
		w, err := src.Window(lo, hi, nil)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, window{lo, hi, w})
	}
	// more decodes, at the same time, reusing the buffers again
	var wg sync.WaitGroup
	for k := range 4 {
		wg.Go(func() {
			lo := k * src.Rows() / 5
			w, err := src.Window(lo, src.Rows(), []int{1, 0})
			if err != nil {
				t.Error(err)
				return
			}
			if g, e := jsonOf(t, w), jsonOf(t, pick(want.Slice(lo, src.Rows()), 1, 0)); !bytes.Equal(g, e) {
				t.Errorf("%+v: concurrent window from %d differs from Load", tune, lo)
			}
		})
	}
	wg.Wait()
	for _, w := range kept {
		if g, e := jsonOf(t, w.t), jsonOf(t, want.Slice(w.lo, w.hi)); !bytes.Equal(g, e) {
			t.Fatalf("%+v: window [%d, %d), read before the others, differs from Load\ngot  %.300s\nwant %.300s", tune, w.lo, w.hi, g, e)
		}
	}
}

func jsonOf(t *testing.T, tb *table.Table) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := canonical.WriteTable(&b, tb); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pick returns the columns cols of tb.
func pick(tb *table.Table, cols ...int) *table.Table {
	out := &table.Table{NumRows: tb.NumRows}
	for _, c := range cols {
		out.Columns = append(out.Columns, tb.Columns[c])
	}
	return out
}
