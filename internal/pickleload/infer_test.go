package pickleload

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/embedstream/embedstream/internal/table"
)

// TestInferMerge: inferring a column window by window and merging gives
// what inferring it at once gives, wherever the windows are cut.
func TestInferMerge(t *testing.T) {
	t.Parallel()
	huge := new(big.Int).Lsh(big.NewInt(1), 2000)
	vec := func(fs ...float64) any { return types.NewListFromSlice([]any{fs[0], fs[1]}) }
	pool := []any{nil, true, 1, int64(2), huge, new(big.Int).Lsh(big.NewInt(1), 80), 1.5, math.Inf(1), math.NaN(), "s",
		[]byte("b"), &timeValue{us: 5}, types.NewListFromSlice([]any{"a"}), types.NewListFromSlice(nil),
		vec(1, 2), vec(math.NaN(), math.NaN()), vec(1, math.Inf(1)), types.NewListFromSlice([]any{1.0}),
		types.NewDict(), complexValue{}, badElem{}}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 3000 {
		vals := make([]any, 1+r.IntN(12))
		for i := range vals {
			vals[i] = pool[r.IntN(len(pool))]
			if n%3 == 0 && r.IntN(2) == 0 {
				vals[i] = pool[14+r.IntN(4)] // mostly vectors
			}
		}
		whole := newColInfer()
		_ = newConv(Options{}.withDefaults(0)).inferCells(&whole, "c", append([]any(nil), vals...), 0, true)
		merged := newColInfer()
		for lo := 0; lo < len(vals); {
			hi := lo + 1 + r.IntN(len(vals)-lo)
			w := newColInfer()
			_ = newConv(Options{}.withDefaults(0)).inferCells(&w, "c", append([]any(nil), vals[lo:hi]...), lo, true)
			merged.merge(&w)
			lo = hi
		}
		f1, v1, e1 := whole.finish("c")
		f2, v2, e2 := merged.finish("c")
		if fmt.Sprint(f1, v1, e1) != fmt.Sprint(f2, v2, e2) {
			t.Fatalf("%v: whole %v %v %v, merged %v %v %v", vals, f1, v1, e1, f2, v2, e2)
		}
		// and the eager build agrees with the inferred field and errors
		col, err := newConv(Options{}.withDefaults(0)).buildColumn("c", append([]any(nil), vals...))
		if err == nil {
			err = finiteVectors(tableOf(col))
		}
		switch {
		case e1 != nil || v1 != nil:
			want := e1
			if want == nil {
				want = v1
			}
			if err == nil || err.Error() != want.Error() {
				t.Fatalf("%v: buildColumn err %v, inferred %v", vals, err, want)
			}
		case err != nil:
			t.Fatalf("%v: buildColumn err %v, inferred none", vals, err)
		case col.Field != f1:
			t.Fatalf("%v: buildColumn field %+v, inferred %+v", vals, col.Field, f1)
		}
	}
}

func tableOf(col *table.Column) *table.Table {
	return &table.Table{Columns: []*table.Column{col}, NumRows: col.Len()}
}
