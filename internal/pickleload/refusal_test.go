package pickleload_test

import (
	"errors"
	"testing"

	"github.com/embedstream/embedstream/internal/pickleload"
)

// TestPandasMethodsRefused: a pandas class is callable (its call records
// its arguments), a method of it is not, whether named by a dotted
// qualname or reached with getattr.
func TestPandasMethodsRefused(t *testing.T) {
	t.Parallel()
	for name, data := range map[string][]byte{
		"global_qualname": pickle(pReduce(pGlobal("pandas.core.frame", "DataFrame.to_pickle"), pStr("/tmp/x"))),
		"getattr":         pickle(pReduce(pReduce(pGlobal("builtins", "getattr"), pGlobal("pandas.core.frame", "DataFrame"), pStr("eval")), pStr("1"))),
		"lower_nested":    pickle(pReduce(pGlobal("pandas.core.frame", "DataFrame.Inner.run"))),
	} {
		if _, err := pickleload.Load(data, pickleload.Options{}); !errors.Is(err, pickleload.ErrRefused) {
			t.Errorf("%s: err = %v, want ErrRefused", name, err)
		}
	}
}

// TestCategoricalCodes: a category code that is not an int64 (a uint64
// above its range, a float) is malformed, never silently category 0.
func TestCategoricalCodes(t *testing.T) {
	t.Parallel()
	for name, codes := range map[string]pv{
		"uint64_above_int64": frombuffer(pBytes(int64s(-1)), dtype("u8", -1), shape(1)),
		"float_codes":        frombuffer(pBytes(int64s(0)), dtype("f8", -1), shape(1)),
	} {
		data := pickle(series(categorical(codes), pySlice(0, 1, 1), rangeIndex(0, 1, 1)))
		if _, err := pickleload.Load(data, pickleload.Options{}); !errors.Is(err, pickleload.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}
