package pickleload_test

import (
	"errors"
	"math"
	"testing"

	"github.com/embedstream/embedstream/internal/pickleload"
)

// dtypeM8 is numpy.dtype("M8[unit]") with its datetime metadata.
func dtypeM8(unit string) pv {
	return pBuild(pReduce(pGlobal("numpy", "dtype"), pStr("M8"), pFalse, pTrue),
		pTuple(pInt(4), pStr("<"), pNone, pNone, pNone, pInt(-1), pInt(-1), pInt(0),
			pTuple(pDict(), pTuple(pBytes([]byte(unit)), pInt(1), pInt(1), pInt(1)))))
}

// TestDatetimeUnitOverflow: a datetime64 value whose microseconds leave
// the int64 range is an error, not a silently wrapped timestamp.
func TestDatetimeUnitOverflow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		unit string
		v    int64
		us   int64 // want, when ok
		ok   bool
	}{
		{unit: "D", v: 19_000, us: 19_000 * 86_400_000_000, ok: true},
		{unit: "D", v: math.MaxInt64 / 86_400_000_000 * 2},
		{unit: "s", v: math.MinInt64 / 2},
		{unit: "ms", v: math.MaxInt64 / 10},
	} {
		data := pickle(series(frombuffer(pBytes(int64s(tc.v)), dtypeM8(tc.unit), shape(1)), pySlice(0, 1, 1), rangeIndex(0, 1, 1)))
		tb, err := pickleload.Load(data, pickleload.Options{})
		if !tc.ok {
			if !errors.Is(err, pickleload.ErrMalformed) {
				t.Errorf("%d %s: err = %v, want ErrMalformed", tc.v, tc.unit, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%d %s: %v", tc.v, tc.unit, err)
		}
		if got := tb.Columns[0].Int64s[0]; got != tc.us {
			t.Errorf("%d %s: %d µs, want %d", tc.v, tc.unit, got, tc.us)
		}
	}
}

// TestColumnNamesOwnMemory: column names do not alias the input (a worker
// reuses its file buffers), unlike string values, which may.
func TestColumnNamesOwnMemory(t *testing.T) {
	t.Parallel()
	data := pickle(pList(pDict(pStr("name_in_input"), pStr("value"))))
	tb, err := pickleload.Load(data, pickleload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'Z'
	}
	if got := tb.Columns[0].Name; got != "name_in_input" {
		t.Errorf("after overwriting the input the column name is %q", got)
	}
}

// TestDictKeysByPythonEquality: keys Python deems equal (1, 1.0, True) are
// one key (first position, last value); different keys that print alike
// (1 and "1") are a duplicate column name, never silently merged.
func TestDictKeysByPythonEquality(t *testing.T) {
	t.Parallel()
	tb, err := pickleload.Load(pickle(pList(pDict(pInt(1), pStr("a"), pStr("x"), pInt(0), pFloat(1), pStr("b"), pTrue, pStr("c")))), pickleload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Columns) != 2 || tb.Columns[0].Name != "1" || tb.Columns[0].Strings[0] != "c" {
		t.Errorf("got %s", schemaString(tb))
	}
	for name, data := range map[string][]byte{
		"one_record":   pickle(pList(pDict(pInt(1), pStr("a"), pStr("1"), pStr("b")))),
		"two_records":  pickle(pList(pDict(pInt(1), pStr("a")), pDict(pStr("1"), pStr("b")))),
		"dict_columns": pickle(pDict(pInt(1), pList(pStr("a")), pStr("1"), pList(pStr("b")))),
		"many_keys":    pickle(pList(pDict(append(repeatKeys(40), pInt(1), pStr("a"), pStr("1"), pStr("b"))...))),
	} {
		if _, err := pickleload.Load(data, pickleload.Options{}); !errors.Is(err, pickleload.ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported (duplicate column name)", name, err)
		}
	}
}

// repeatKeys is n distinct str keys with int values, as pDict arguments.
func repeatKeys(n int) []pv {
	var kv []pv
	for i := range n {
		kv = append(kv, pStr("k"+strconvItoa(i)), pInt(int64(i)))
	}
	return kv
}

// TestDatetimeFieldRanges: datetime, date, timedelta and UTC offsets
// outside what Python allows are malformed (time.Date would normalize them
// silently; a huge year wraps int64 microseconds).
func TestDatetimeFieldRanges(t *testing.T) {
	t.Parallel()
	dt := func(args ...pv) pv { return pReduce(pGlobal("datetime", "datetime"), args...) }
	td := func(d, s, us int64) pv { return pReduce(pGlobal("datetime", "timedelta"), pInt(d), pInt(s), pInt(us)) }
	tz := func(off pv) pv { return pReduce(pGlobal("datetime", "timezone"), off) }
	rec := func(v pv) []byte { return pickle(pList(pDict(pStr("t"), v))) }
	for name, tc := range map[string]struct {
		data []byte
		ok   bool
	}{
		"leap_day":         {rec(dt(pInt(2020), pInt(2), pInt(29))), true},
		"offset_23h59":     {rec(dt(pInt(2020), pInt(1), pInt(1), pInt(0), pInt(0), pInt(0), pInt(0), tz(td(0, 86340, 0)))), true},
		"not_leap_day":     {rec(dt(pInt(2021), pInt(2), pInt(29))), false},
		"year_1e15":        {rec(dt(pInt(1_000_000_000_000_000), pInt(1), pInt(1))), false},
		"month_13":         {rec(dt(pInt(2020), pInt(13), pInt(1))), false},
		"hour_24":          {rec(dt(pInt(2020), pInt(1), pInt(1), pInt(24))), false},
		"date_day_0":       {rec(pReduce(pGlobal("datetime", "date"), pInt(2020), pInt(1), pInt(0))), false},
		"offset_24h":       {rec(dt(pInt(2020), pInt(1), pInt(1), pInt(0), pInt(0), pInt(0), pInt(0), tz(td(1, 0, 0)))), false},
		"offset_1e12_days": {rec(dt(pInt(2020), pInt(1), pInt(1), pInt(0), pInt(0), pInt(0), pInt(0), tz(td(1_000_000_000_000, 0, 0)))), false},
		"timedelta_1e9d":   {rec(td(999_999_999, 0, 0)), false},
		"pytz_offset_2d":   {rec(dt(pInt(2020), pInt(1), pInt(1), pInt(0), pInt(0), pInt(0), pInt(0), pReduce(pGlobal("pytz", "_p"), pStr("X"), pInt(172800), pInt(0), pStr("X")))), false},
	} {
		_, err := pickleload.Load(tc.data, pickleload.Options{})
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", name, err)
		case !tc.ok && !errors.Is(err, pickleload.ErrMalformed):
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}
