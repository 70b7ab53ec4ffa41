package pickleload

// The allowlisted callables: each builds a Go value from decoded arguments;
// none runs pickle code.

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
	// zoneinfo and pytz zones resolve even where the host has no tz
	// database (distroless and scratch worker images).
	_ "time/tzdata"

	"github.com/nlpodyssey/gopickle/types"
)

func callReconstructArray(args []any) (any, error) {
	if len(args) < 1 {
		return nil, argErr("numpy _reconstruct", args)
	}
	name := "ndarray"
	if c, ok := args[0].(*dataClass); ok {
		name = c.name
	}
	return &pyObject{module: "numpy", name: name}, nil
}

func callReconstructor(args []any) (any, error) {
	if len(args) < 1 {
		return nil, argErr("copyreg._reconstructor", args)
	}
	switch c := args[0].(type) {
	case types.PyNewable:
		o, err := c.PyNew()
		if err != nil {
			return nil, err
		}
		if po, ok := o.(*pyObject); ok && len(args) >= 3 && args[2] != nil {
			po.args = []any{args[2]} // base.__init__(obj, state), e.g. a dict subclass
		}
		return o, nil
	}
	return nil, newErr(ErrMalformed, -1, "REDUCE", "copyreg._reconstructor of a non-class %T", args[0])
}

func callNewObj(args []any) (any, error) {
	if len(args) < 1 {
		return nil, argErr("copyreg.__newobj__", args)
	}
	if c, ok := args[0].(types.PyNewable); ok {
		return c.PyNew(args[1:]...)
	}
	return nil, newErr(ErrMalformed, -1, "REDUCE", "copyreg.__newobj__ of a non-class %T", args[0])
}

func callNewObjEx(args []any) (any, error) {
	if len(args) < 1 {
		return nil, argErr("copyreg.__newobj_ex__", args)
	}
	return callNewObj(args[:1])
}

func callCodecsEncode(args []any) (any, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, argErr("_codecs.encode", args)
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, newErr(ErrMalformed, -1, "REDUCE", "_codecs.encode of %T", args[0])
	}
	enc := "utf-8"
	if len(args) == 2 {
		enc, _ = args[1].(string)
	}
	switch strings.ToLower(strings.ReplaceAll(enc, "_", "-")) {
	case "latin1", "latin-1", "iso-8859-1", "iso8859-1":
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				return nil, newErr(ErrMalformed, -1, "REDUCE", "_codecs.encode: %U is not latin-1", r)
			}
			b = append(b, byte(r))
		}
		return b, nil
	case "utf-8", "utf8":
		return []byte(s), nil
	}
	return nil, newErr(ErrUnsupported, -1, "REDUCE", "_codecs.encode: encoding %q", enc)
}

func callDict(args []any) (any, error) {
	d := types.NewDict()
	if len(args) == 1 {
		switch v := args[0].(type) {
		case *types.Dict:
			return v, nil
		case *types.List:
			for _, kv := range *v {
				t, ok := kv.(*types.Tuple)
				if !ok || len(*t) != 2 {
					return nil, newErr(ErrMalformed, -1, "REDUCE", "dict() of a list of %T", kv)
				}
				d.Set((*t)[0], (*t)[1])
			}
		}
	}
	return d, nil
}

func callDefaultDict(args []any) (any, error) { return types.NewDict(), nil }

func callSet(args []any) (any, error) {
	if len(args) == 0 {
		return types.NewList(), nil
	}
	switch v := args[0].(type) {
	case *types.List:
		return v, nil
	case *types.Tuple:
		return types.NewListFromSlice(append([]any(nil), *v...)), nil
	}
	return nil, newErr(ErrUnsupported, -1, "REDUCE", "set/list of %T", args[0])
}

func callTuple(args []any) (any, error) {
	v, err := callSet(args)
	if err != nil {
		return nil, err
	}
	return types.NewTupleFromSlice(*v.(*types.List)), nil
}

func callBytes(args []any) (any, error) {
	if len(args) == 0 {
		return []byte{}, nil
	}
	switch v := args[0].(type) {
	case []byte:
		return v, nil
	case *types.ByteArray:
		return []byte(*v), nil
	case string:
		return callCodecsEncode(args)
	case *types.List:
		b := make([]byte, len(*v))
		for i, x := range *v {
			n, ok := x.(int)
			if !ok || n < 0 || n > 255 {
				return nil, newErr(ErrMalformed, -1, "REDUCE", "bytes() of a non-byte list")
			}
			b[i] = byte(n)
		}
		return b, nil
	}
	return nil, newErr(ErrUnsupported, -1, "REDUCE", "bytes/bytearray of %T", args[0])
}

// pySlice is builtins.slice (pandas block placements).
type pySlice struct{ start, stop, step any }

func callSlice(args []any) (any, error) {
	s := &pySlice{}
	switch len(args) {
	case 1:
		s.stop = args[0]
	case 2:
		s.start, s.stop = args[0], args[1]
	case 3:
		s.start, s.stop, s.step = args[0], args[1], args[2]
	default:
		return nil, argErr("slice", args)
	}
	return s, nil
}

// timeValue is a point in time: microseconds since the epoch, UTC.
type timeValue struct{ us int64 }

// dateValue is a datetime.date (midnight UTC of that day, as microseconds).
type dateValue struct{ us int64 }

// durationValue is a timedelta in microseconds.
type durationValue struct{ us int64 }

// tzValue is a tzinfo: a location, or a fixed offset.
type tzValue struct {
	loc *time.Location
}

// decimalValue is a decimal.Decimal's text, parsed once on first use.
type decimalValue struct {
	text   string
	f      float64
	ok     bool // text parsed as a number (or a NaN)
	parsed bool
}

// float returns the nearest float64 (NaN for the Decimal NaNs); false when
// the text is not a number.
func (d *decimalValue) float() (float64, bool) {
	if !d.parsed {
		d.f, d.ok = decimalFloat(d.text)
		d.parsed = true
	}
	return d.f, d.ok
}

// timeOfDay is a datetime.time, kept as text "HH:MM:SS[.ffffff]".
type timeOfDay struct{ text string }

func bytesArg(v any) ([]byte, bool) {
	switch b := v.(type) {
	case []byte:
		return b, true
	case *types.ByteArray:
		return []byte(*b), true
	case string: // Python 2 str or a latin-1 text from protocol 0
		out := make([]byte, 0, len(b))
		for _, r := range b {
			if r > 0xff {
				return nil, false
			}
			out = append(out, byte(r))
		}
		return out, true
	}
	return nil, false
}

func tzArg(args []any, i int) (*time.Location, error) {
	if len(args) <= i || args[i] == nil {
		return nil, nil
	}
	switch t := args[i].(type) {
	case *tzValue:
		return t.loc, nil
	}
	return nil, newErr(ErrUnsupported, -1, "REDUCE", "time zone of type %s", typeName(args[i]))
}

// maxDurationDays: the days of a timedelta whose microseconds fit int64.
const maxDurationDays = math.MaxInt64 / 86_400_000_000

// checkDatetime refuses fields Python's datetime refuses (year 1..9999,
// real months and days, h:m:s.us in range): time.Date would normalize
// them silently, and a huge year wraps int64 microseconds.
func checkDatetime(year, month, day, hour, minute, sec, us int) error {
	if year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 ||
		day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 || us < 0 || us > 999_999 {
		return newErr(ErrMalformed, -1, "REDUCE", "datetime %d-%d-%d %d:%d:%d.%d out of range", year, month, day, hour, minute, sec, us)
	}
	return nil
}

// checkOffset refuses a UTC offset Python refuses (|offset| < 24 h).
func checkOffset(sec int) error {
	if sec <= -86400 || sec >= 86400 {
		return newErr(ErrMalformed, -1, "REDUCE", "UTC offset of %d s out of range", sec)
	}
	return nil
}

func callDatetime(args []any) (any, error) {
	if len(args) >= 1 {
		if b, ok := bytesArg(args[0]); ok && len(b) == 10 {
			year := int(b[0])<<8 | int(b[1])
			month := int(b[2] & 0x7f) // high bit is fold
			day, hour, minute, sec := int(b[3]), int(b[4]), int(b[5]), int(b[6])
			us := int(b[7])<<16 | int(b[8])<<8 | int(b[9])
			if err := checkDatetime(year, month, day, hour, minute, sec, us); err != nil {
				return nil, err
			}
			loc, err := tzArg(args, 1)
			if err != nil {
				return nil, err
			}
			if loc == nil {
				loc = time.UTC
			}
			t := time.Date(year, time.Month(month), day, hour, minute, sec, us*1000, loc)
			return &timeValue{us: t.UnixMicro()}, nil
		}
	}
	// datetime(year, month, day, ...) with integer arguments
	if len(args) >= 3 {
		var f [7]int
		for i := 0; i < 7 && i < len(args); i++ {
			n, ok := args[i].(int)
			if !ok {
				if i >= 3 && args[i] == nil {
					break
				}
				if _, isTz := args[i].(*tzValue); isTz {
					break
				}
				return nil, argErr("datetime.datetime", args)
			}
			f[i] = n
		}
		if err := checkDatetime(f[0], f[1], f[2], f[3], f[4], f[5], f[6]); err != nil {
			return nil, err
		}
		loc := time.UTC
		if tz, ok := args[len(args)-1].(*tzValue); ok {
			loc = tz.loc
		}
		t := time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], f[6]*1000, loc)
		return &timeValue{us: t.UnixMicro()}, nil
	}
	return nil, argErr("datetime.datetime", args)
}

func callDate(args []any) (any, error) {
	if len(args) == 1 {
		if b, ok := bytesArg(args[0]); ok && len(b) == 4 {
			if err := checkDatetime(int(b[0])<<8|int(b[1]), int(b[2]), int(b[3]), 0, 0, 0, 0); err != nil {
				return nil, err
			}
			t := time.Date(int(b[0])<<8|int(b[1]), time.Month(b[2]), int(b[3]), 0, 0, 0, 0, time.UTC)
			return &dateValue{us: t.UnixMicro()}, nil
		}
	}
	if len(args) == 3 {
		y, ok1 := args[0].(int)
		m, ok2 := args[1].(int)
		d, ok3 := args[2].(int)
		if ok1 && ok2 && ok3 {
			if err := checkDatetime(y, m, d, 0, 0, 0, 0); err != nil {
				return nil, err
			}
			return &dateValue{us: time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).UnixMicro()}, nil
		}
	}
	return nil, argErr("datetime.date", args)
}

func callTime(args []any) (any, error) {
	if len(args) >= 1 {
		if b, ok := bytesArg(args[0]); ok && len(b) == 6 {
			us := int(b[3])<<16 | int(b[4])<<8 | int(b[5])
			text := fmt.Sprintf("%02d:%02d:%02d", b[0]&0x7f, b[1], b[2])
			if us != 0 {
				text += fmt.Sprintf(".%06d", us)
			}
			return &timeOfDay{text: text}, nil
		}
	}
	return nil, argErr("datetime.time", args)
}

func callTimedelta(args []any) (any, error) {
	var f [3]int
	for i := 0; i < len(args) && i < 3; i++ {
		n, ok := args[i].(int)
		if !ok {
			return nil, argErr("datetime.timedelta", args)
		}
		f[i] = n
	}
	// Python pickles a normalized timedelta; its days must also fit int64
	// microseconds (Python allows 999999999 days, far beyond).
	if f[0] < -maxDurationDays || f[0] > maxDurationDays || f[1] < 0 || f[1] >= 86400 || f[2] < 0 || f[2] >= 1e6 {
		return nil, newErr(ErrMalformed, -1, "REDUCE", "datetime.timedelta(%d, %d, %d) out of range", f[0], f[1], f[2])
	}
	return &durationValue{us: (int64(f[0])*86400+int64(f[1]))*1e6 + int64(f[2])}, nil
}

func callTimezone(args []any) (any, error) {
	if len(args) < 1 {
		return nil, argErr("datetime.timezone", args)
	}
	d, ok := args[0].(*durationValue)
	if !ok {
		return nil, argErr("datetime.timezone", args)
	}
	name := ""
	if len(args) > 1 {
		name, _ = args[1].(string)
	}
	if d.us == 0 && name == "" {
		return &tzValue{loc: time.UTC}, nil
	}
	if err := checkOffset(int(d.us / 1e6)); err != nil {
		return nil, err
	}
	return &tzValue{loc: time.FixedZone(name, int(d.us/1e6))}, nil
}

func callPytz(args []any) (any, error) {
	if len(args) < 1 {
		return nil, argErr("pytz._p", args)
	}
	zone, _ := args[0].(string)
	if len(args) >= 2 {
		// (zone, utcoffset seconds, dst seconds, tzname): a localized
		// pytz zone carries its offset.
		if off, ok := args[1].(int); ok {
			if err := checkOffset(off); err != nil {
				return nil, err
			}
			return &tzValue{loc: time.FixedZone(zone, off)}, nil
		}
	}
	if zone == "UTC" {
		return &tzValue{loc: time.UTC}, nil
	}
	return loadZone(zone)
}

func callZoneInfo(args []any) (any, error) {
	if len(args) < 1 {
		return nil, argErr("zoneinfo.ZoneInfo._unpickle", args)
	}
	zone, _ := args[0].(string)
	return loadZone(zone)
}

func loadZone(zone string) (any, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, newErr(ErrUnsupported, -1, "REDUCE", "time zone %q is not known here", zone)
	}
	return &tzValue{loc: loc}, nil
}

func callTzOffset(args []any) (any, error) {
	if len(args) != 2 {
		return nil, argErr("dateutil tzoffset", args)
	}
	name, _ := args[0].(string)
	switch off := args[1].(type) {
	case int:
		if err := checkOffset(off); err != nil {
			return nil, err
		}
		return &tzValue{loc: time.FixedZone(name, off)}, nil
	case *durationValue:
		if err := checkOffset(int(off.us / 1e6)); err != nil {
			return nil, err
		}
		return &tzValue{loc: time.FixedZone(name, int(off.us/1e6))}, nil
	}
	return nil, argErr("dateutil tzoffset", args)
}

func callDecimal(args []any) (any, error) {
	if len(args) != 1 {
		return nil, argErr("decimal.Decimal", args)
	}
	switch v := args[0].(type) {
	case string:
		return &decimalValue{text: v}, nil
	case int:
		return &decimalValue{text: fmt.Sprint(v)}, nil
	}
	return nil, newErr(ErrUnsupported, -1, "REDUCE", "decimal.Decimal of %s", typeName(args[0]))
}

// pandas

func callNewIndex(args []any) (any, error) {
	if len(args) < 1 {
		return nil, argErr("pandas _new_Index", args)
	}
	o := &pyObject{module: "pandas", name: "Index"}
	switch c := args[0].(type) {
	case *knownGlobal:
		o.module, o.name = c.module, c.name
	case *dataClass:
		o.module, o.name = c.module, c.name
	}
	if len(args) >= 2 {
		o.state, o.hasState = args[1], true
	}
	return o, nil
}

// pdBlock is a pandas block: values and the column positions they fill.
type pdBlock struct {
	values    any
	placement any
}

func callUnpickleBlock(args []any) (any, error) {
	if len(args) < 2 {
		return nil, argErr("pandas _unpickle_block", args)
	}
	return &pdBlock{values: args[0], placement: args[1]}, nil
}

func callNewBlock(args []any) (any, error) { return callUnpickleBlock(args) }

func callPyxUnpickle(args []any) (any, error) {
	if len(args) < 1 {
		return nil, argErr("pandas __pyx_unpickle_NDArrayBacked", args)
	}
	o := &pyObject{module: "pandas", name: "NDArrayBacked"}
	switch c := args[0].(type) {
	case *knownGlobal:
		o.module, o.name = c.module, c.name
	case *dataClass:
		o.module, o.name = c.module, c.name
	}
	if len(args) >= 3 && args[2] != nil {
		o.state, o.hasState = args[2], true
	}
	return o, nil
}

// unitToMicros converts v in numpy datetime unit code reso (NPY_DATETIMEUNIT:
// 7 s, 8 ms, 9 us, 10 ns) to microseconds (truncating toward -inf).
func unitToMicros(v int64, reso int) int64 {
	switch reso {
	case 7:
		return v * 1e6
	case 8:
		return v * 1e3
	case 9:
		return v
	case 11:
		return floorDiv(v, 1e6)
	case 12:
		return floorDiv(v, 1e9)
	}
	return floorDiv(v, 1000)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func callUnpickleTimestamp(args []any) (any, error) {
	if len(args) < 1 {
		return nil, argErr("pandas _unpickle_timestamp", args)
	}
	v, ok := toInt64(args[0])
	if !ok {
		return nil, argErr("pandas _unpickle_timestamp", args)
	}
	reso := 10
	if len(args) >= 4 {
		if r, ok := args[3].(int); ok {
			reso = r
		}
	}
	if v == math.MinInt64 {
		return nil, nil // NaT
	}
	return &timeValue{us: unitToMicros(v, reso)}, nil
}

func callUnpickleTimedelta(args []any) (any, error) {
	if len(args) < 1 {
		return nil, argErr("pandas _timedelta_unpickle", args)
	}
	v, ok := toInt64(args[0])
	if !ok {
		return nil, argErr("pandas _timedelta_unpickle", args)
	}
	reso := 10
	if len(args) >= 2 {
		if r, ok := args[1].(int); ok {
			reso = r
		}
	}
	if v == math.MinInt64 {
		return nil, nil
	}
	return &durationValue{us: unitToMicros(v, reso)}, nil
}

func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case bool:
		if n {
			return 1, true
		}
		return 0, true
	case *big.Int:
		if n.IsInt64() {
			return n.Int64(), true
		}
	}
	return 0, false
}

func callNumpyScalar(args []any) (any, error) {
	if len(args) < 1 {
		return nil, argErr("numpy scalar", args)
	}
	dt, err := parseDtype(args[0])
	if err != nil {
		return nil, err
	}
	if dt.kind == 'O' {
		if len(args) > 1 {
			return args[1], nil
		}
		return nil, nil
	}
	if len(args) < 2 {
		return nil, argErr("numpy scalar", args)
	}
	b, ok := bytesArg(args[1])
	if !ok || len(b) != dt.size {
		return nil, newErr(ErrMalformed, -1, "REDUCE", "numpy scalar of %d bytes for dtype %s", len(b), dt.str)
	}
	arr := &ndarray{dtype: dt, shape: []int{1}, raw: b}
	return arr.at(0), nil
}

func callFromBuffer(args []any) (any, error) {
	if len(args) < 3 {
		return nil, argErr("numpy _frombuffer", args)
	}
	b, ok := bytesArg(args[0])
	if !ok {
		return nil, newErr(ErrMalformed, -1, "REDUCE", "numpy _frombuffer of %s", typeName(args[0]))
	}
	dt, err := parseDtype(args[1])
	if err != nil {
		return nil, err
	}
	shape, err := parseShape(args[2])
	if err != nil {
		return nil, err
	}
	fortran := false
	if len(args) >= 4 {
		if o, _ := args[3].(string); o == "F" {
			fortran = true
		}
	}
	a := &ndarray{dtype: dt, shape: shape, fortran: fortran, raw: b}
	if err := a.check(); err != nil {
		return nil, err
	}
	return a, nil
}

func typeName(v any) string {
	switch o := v.(type) {
	case nil:
		return "None"
	case *pyObject:
		return o.qualname()
	case *dataClass:
		return o.module + "." + o.name
	case *knownGlobal:
		return o.module + "." + o.name
	case jbClass:
		return jbModule + "." + jbName
	case int, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *types.ByteArray:
		return "bytearray"
	case *types.List, *vmList:
		return "list"
	case *lazySeq:
		o.misused = true
		return "list"
	case *types.Tuple:
		return "tuple"
	case *types.Dict, *types.OrderedDict:
		return "dict"
	case *ndarray:
		return "numpy.ndarray"
	case *timeValue:
		return "datetime"
	case *dateValue:
		return "date"
	case *durationValue:
		return "timedelta"
	case *decimalValue:
		return "decimal.Decimal"
	case *tzValue:
		return "tzinfo"
	case bool:
		return "bool"
	}
	return fmt.Sprintf("%T", v)
}
