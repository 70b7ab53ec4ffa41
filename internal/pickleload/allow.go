package pickleload

// The allowlist: which globals a pickle may name, how each may be used, and
// the gopickle FindClass hook that resolves them.

import (
	"strings"
	"time"
	"unicode"
)

// globalClass says how a global may be used.
type globalClass uint8

const (
	gRefused  globalClass = iota // never, wherever it appears
	gData                        // a class only constructed (NEWOBJ, copyreg._reconstructor) or passed as a value
	gCallable                    // an allowlisted global the loader implements; may be called
	gInert                       // a call records its arguments and yields an unsupported placeholder (pyarrow)
	gJoblib                      // joblib's NumpyArrayWrapper: constructed only, its state and array read statically (joblib.go)
)

// callFunc implements an allowlisted callable on already-decoded arguments.
// It never runs pickle code: it builds a Go value.
type callFunc func(args []any) (any, error)

// allowed holds the callables the loader implements, by "module.name".
// numpy 1.x (numpy.core) and 2.x (numpy._core) spellings are both listed.
var allowed = map[string]callFunc{}

func init() {
	for _, np := range []string{"numpy.core", "numpy._core"} {
		allowed[np+".multiarray._reconstruct"] = callReconstructArray
		allowed[np+".multiarray.scalar"] = callNumpyScalar
		allowed[np+".numeric._frombuffer"] = callFromBuffer
	}
	allowed["numpy.dtype"] = classCall("numpy", "dtype")
	allowed["numpy.ndarray"] = classCall("numpy", "ndarray")

	allowed["copyreg._reconstructor"] = callReconstructor
	allowed["copy_reg._reconstructor"] = callReconstructor
	allowed["copyreg.__newobj__"] = callNewObj
	allowed["copyreg.__newobj_ex__"] = callNewObjEx
	allowed["_codecs.encode"] = callCodecsEncode
	allowed["collections.OrderedDict"] = callDict
	allowed["collections.defaultdict"] = callDefaultDict
	for _, b := range []string{"builtins", "__builtin__"} {
		allowed[b+".set"] = callSet
		allowed[b+".frozenset"] = callSet
		allowed[b+".list"] = callSet
		allowed[b+".tuple"] = callTuple
		allowed[b+".dict"] = callDict
		allowed[b+".bytearray"] = callBytes
		allowed[b+".bytes"] = callBytes
		allowed[b+".slice"] = callSlice
		allowed[b+".object"] = classCall(b, "object")
		allowed[b+".getattr"] = callGetattr // only getattr(allowlisted class, name); see scanner.getattr
	}
	allowed["datetime.datetime"] = callDatetime
	allowed["datetime.date"] = callDate
	allowed["datetime.time"] = callTime
	allowed["datetime.timedelta"] = callTimedelta
	allowed["datetime.timezone"] = callTimezone
	allowed["decimal.Decimal"] = callDecimal
	allowed["pytz._p"] = callPytz
	allowed["pytz._UTC"] = func([]any) (any, error) { return &tzValue{loc: time.UTC}, nil }
	allowed["zoneinfo.ZoneInfo._unpickle"] = callZoneInfo
	allowed["dateutil.tz.tz.tzutc"] = func([]any) (any, error) { return &tzValue{loc: time.UTC}, nil }
	allowed["dateutil.tz.tz.tzoffset"] = callTzOffset

	allowed["pandas.core.indexes.base._new_Index"] = callNewIndex
	allowed["pandas.core.indexes.datetimes._new_DatetimeIndex"] = callNewIndex
	allowed["pandas.core.indexes.period._new_PeriodIndex"] = callNewIndex
	allowed["pandas._libs.internals._unpickle_block"] = callUnpickleBlock
	allowed["pandas._libs.arrays.__pyx_unpickle_NDArrayBacked"] = callPyxUnpickle
	allowed["pandas._libs.tslibs.timestamps._unpickle_timestamp"] = callUnpickleTimestamp
	allowed["pandas._libs.tslibs.timedeltas._timedelta_unpickle"] = callUnpickleTimedelta
	allowed["pandas._libs.tslibs.nattype.__nat_unpickle"] = func([]any) (any, error) { return nil, nil }
	allowed["pandas.core.internals.blocks.new_block"] = callNewBlock
}

// denied modules are refused wherever a name from them appears, even as a
// plain value: they have no business in a data file.
var deniedModules = []string{
	"os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "pickle", "_pickle",
	"marshal", "ctypes", "runpy", "code", "codeop", "pty", "commands", "platform", "io", "_io",
	"webbrowser", "multiprocessing", "threading", "signal", "pathlib", "tempfile", "glob", "asyncio",
	"types", "functools", "operator", "inspect", "gc", "imp", "timeit", "pdb", "bdb", "cProfile",
	"profile", "trace", "urllib", "http", "ftplib", "smtplib", "telnetlib", "xmlrpc", "numpy.testing",
	"numpy.f2py", "numpy.distutils", "numpy.ctypeslib", "pandas.io", "torch", "dill", "cloudpickle",
	"joblib", "_codecs_", "posixpath", "ntpath", "site", "sysconfig", "zipimport", "pkgutil",
}

// classifyGlobal decides how module.name may be used.
func classifyGlobal(module, name string) globalClass {
	full := module + "." + name
	if _, ok := allowed[full]; ok {
		return gCallable
	}
	if module == jbModule && name == jbName {
		return gJoblib
	}
	for _, d := range deniedModules {
		if module == d || strings.HasPrefix(module, d+".") {
			return gRefused
		}
	}
	switch module {
	case "builtins", "__builtin__", "copyreg", "copy_reg", "_codecs", "numpy", "datetime", "decimal", "collections":
		// Names of these modules not implemented above are refused: they
		// hold eval, getattr, __import__, open, ...
		if module == "numpy" && (isClassName(name) || name == "memmap") {
			return gData // numpy.ndarray subclasses (memmap: a joblib array's class), numpy.float64 as a value
		}
		return gRefused
	}
	if strings.HasPrefix(module, "pyarrow") {
		return gInert
	}
	if module == "pandas._libs.missing" && name == "NA" {
		return gData
	}
	if (module == "pandas" || strings.HasPrefix(module, "pandas.")) && isClassName(name) {
		// pandas classes (DataFrame, BlockManager, IntegerArray, dtypes,
		// indexes, ...): calling one records its arguments.
		return gCallable
	}
	if strings.HasPrefix(module, "numpy") || module == "pandas" || strings.HasPrefix(module, "pandas.") {
		return gRefused // numpy/pandas functions we do not implement
	}
	// Anything else (a dataclass, a pydantic model, a simple class) may
	// only be constructed with __new__ or passed as a value; the pre-pass
	// refuses calling it.
	return gData
}

// isClassName reports whether name looks like a class: an identifier
// starting with an upper-case letter, or a dotted qualname of such
// identifiers (a nested class). A method's qualname ("DataFrame.eval",
// "DataFrame.to_pickle") is not a class name.
func isClassName(name string) bool {
	if name == "" {
		return false
	}
	for _, part := range strings.Split(name, ".") {
		if part == "" {
			return false
		}
		for i, r := range part {
			if i == 0 && !unicode.IsUpper(r) {
				return false
			}
			if !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
				return false
			}
		}
	}
	return true
}

// findClass is gopickle's FindClass hook. The pre-pass has already refused
// names outside the allowlist; this is the second line.
func findClass(module, name string) (any, error) {
	switch classifyGlobal(module, name) {
	case gCallable:
		fn := allowed[module+"."+name]
		if fn == nil {
			fn = classCall(module, name)
		}
		return &knownGlobal{module: module, name: name, call: fn}, nil
	case gInert:
		return &knownGlobal{module: module, name: name, call: inertCall(module, name)}, nil
	case gJoblib:
		return jbClass{}, nil
	case gData:
		if module == "pandas._libs.missing" && name == "NA" {
			return pdNA{}, nil
		}
		return &dataClass{module: module, name: name}, nil
	}
	return nil, newErr(ErrRefused, -1, "", "global %s.%s is not allowed", module, name)
}

// knownGlobal is an allowlisted global.
type knownGlobal struct {
	module, name string
	call         callFunc
}

// Call implements types.Callable.
func (g *knownGlobal) Call(args ...any) (any, error) {
	touchArgs(args)
	return g.call(args)
}

// PyNew implements types.PyNewable (cls.__new__ records the arguments).
func (g *knownGlobal) PyNew(args ...any) (any, error) {
	touchArgs(args)
	return &pyObject{module: g.module, name: g.name, args: args}, nil
}

// dataClass is a class the loader does not know, allowed only as a data
// holder: it can be constructed with __new__ (no code runs) but not called.
type dataClass struct{ module, name string }

// PyNew implements types.PyNewable.
func (c *dataClass) PyNew(args ...any) (any, error) {
	touchArgs(args)
	return &pyObject{module: c.module, name: c.name, args: args}, nil
}

// pyObject is an instance of a Python class: its class name, constructor
// arguments and the state BUILD gave it.
type pyObject struct {
	module, name string
	args         []any
	state        any
	hasState     bool
	inert        bool       // a pyarrow placeholder
	dtype        *dtype     // numpy.dtype objects: the parsed dtype, once BUILD has run
	arr          *ndarray   // numpy.ndarray objects: the decoded array, once BUILD has run
	jw           *jbWrapper // a joblib array wrapper (until its data makes it the array)
}

// PySetState implements types.PyStateSettable: BUILD stores the state.
func (o *pyObject) PySetState(state any) error {
	if o.jw != nil {
		return o.jw.set(o, state)
	}
	o.state, o.hasState, o.dtype, o.arr = state, true, nil, nil
	return nil
}

func (o *pyObject) qualname() string { return o.module + "." + o.name }

// pdNA is pandas.NA.
type pdNA struct{}

func classCall(module, name string) callFunc {
	return func(args []any) (any, error) {
		return &pyObject{module: module, name: name, args: args}, nil
	}
}

func inertCall(module, name string) callFunc {
	return func(args []any) (any, error) {
		return &pyObject{module: module, name: name, args: args, inert: true}, nil
	}
}

func argErr(fn string, args []any) error {
	return newErr(ErrMalformed, -1, "REDUCE", "%s: unexpected arguments (%d)", fn, len(args))
}

func callGetattr(args []any) (any, error) {
	if len(args) == 2 {
		name, ok := args[1].(string)
		var module, cls string
		switch c := args[0].(type) {
		case *knownGlobal:
			module, cls = c.module, c.name
		case *dataClass:
			module, cls = c.module, c.name
		}
		if ok && module != "" && classifyGlobal(module, cls+"."+name) == gCallable {
			return findClass(module, cls+"."+name)
		}
	}
	return nil, newErr(ErrRefused, -1, "REDUCE", "call of builtins.getattr on anything but an allowlisted class method")
}
