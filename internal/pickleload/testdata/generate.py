#!/usr/bin/python3
"""Fixture generator for internal/pickleload (and the shipped samples in data/).

Run with Debian's python3 (pandas 1.5.3, numpy 1.24), never the pyenv one:

    /usr/bin/python3 internal/pickleload/testdata/generate.py            # fixtures/, hostile/
    /usr/bin/python3 internal/pickleload/testdata/generate.py --samples data
    /usr/bin/python3 internal/pickleload/testdata/generate.py --bench 100000 /tmp/bench
    /usr/bin/python3 internal/pickleload/testdata/generate.py --conformance ../shared/pickle-corpus
    /usr/bin/python3 internal/pickleload/testdata/generate.py --formats         # formats/

Python is the oracle: every expected output (<name>.jsonl, <name>.schema.json,
<name>.error.txt) is computed here from the Python values, following
../shared/CANONICAL.md and the type-inference table of issue 3, independently
of the Go code. The output is deterministic (fixed seeds, PYTHONHASHSEED=0).

Files per fixture <name>.pkl:
  <name>.jsonl        expected canonical JSONL (the load must succeed)
  <name>.schema.json  optional: expected fields [{name, type, vector_dim?, nullable?}]
                      ("nullable" is present only where a column holds nulls)
  <name>.error.txt    the load must fail: line 1 = accepted error classes
                      separated by "|" (invalid, refused, limit, unsupported,
                      malformed), line 2 = a substring the message must contain
                      (may be empty)
"""

import base64
import collections
import dataclasses
import datetime as dt
import decimal
import io
import json
import math
import os
import pickle
import pickletools
import random
import struct
import sys
import types

if os.environ.get("PYTHONHASHSEED") != "0":
    # Set iteration order of str sets depends on the hash seed; pin it.
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# Documented loader decisions the expectations depend on (internal/pickleload
# doc.go). uint64 values above int64's range: "error" or "double".
UINT64_OVERFLOW = "error"
# decimal.Decimal values: "double" or "string".
DECIMAL_AS = "double"
# The column name of an unnamed Series (and of a 1-D array).
UNNAMED_SERIES = "value"


# ---------------------------------------------------------------------------
# Canonical JSON (../shared/CANONICAL.md), computed from Python values.
# ---------------------------------------------------------------------------

class ExpectError(Exception):
    """The Python-side inference says the load must fail."""

    def __init__(self, classes, substring):
        super().__init__(substring)
        self.classes = classes
        self.substring = substring


EPOCH = dt.datetime(1970, 1, 1)


def is_null(v):
    if v is None or v is pd.NaT or v is pd.NA:
        return True
    if isinstance(v, (float, np.floating)) and math.isnan(v):
        return True
    if isinstance(v, np.datetime64) and np.isnat(v):
        return True
    return False


def ts_micros(v):
    """Microseconds since the epoch (UTC) of a datetime-like value."""
    if isinstance(v, pd.Timestamp):
        ns = v.value  # UTC nanoseconds for tz-aware and naive alike
        return ns // 1000
    if isinstance(v, np.datetime64):
        return int(v.astype("datetime64[us]").astype(np.int64))
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        d = v - EPOCH
        return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds
    if isinstance(v, dt.date):
        return (v - EPOCH.date()).days * 86400 * 1_000_000
    raise TypeError(v)


def fmt_ts(us):
    t = EPOCH + dt.timedelta(microseconds=us)
    # Not strftime: glibc's %Y does not pad years below 1000.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond)


def f32(x):
    """Shortest text of a float32, read back as a Python float."""
    return float(repr(np.float32(x)))


def kind(v):
    """The inference kind of one non-null value."""
    if isinstance(v, (bool, np.bool_)):
        return ("bool",)
    if isinstance(v, (int, np.integer)):
        return ("int",)
    if isinstance(v, (float, np.floating)):
        return ("float",)
    if isinstance(v, decimal.Decimal):
        return ("float",) if DECIMAL_AS == "double" else ("str",)
    if isinstance(v, str):
        return ("str",)
    if isinstance(v, (dt.datetime, dt.date, pd.Timestamp, np.datetime64)):
        return ("ts",)
    if isinstance(v, (bytes, bytearray)):
        return ("bytes",)
    if isinstance(v, np.ndarray):
        if v.ndim == 1 and v.dtype.kind in "fiu":
            return ("vec", len(v))
        return ("json",)
    if isinstance(v, (list, tuple, set, frozenset)):
        items = list(v)
        if all(isinstance(x, str) for x in items):
            return ("strlist",)
        if all(isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))
               for x in items):
            return ("vec", len(items))
        return ("json",)
    return ("json",)


def to_json(v):
    """A Python value as the JSON value it becomes in a JSON column."""
    if is_null(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, np.float32):
        return f32(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, (dt.datetime, dt.date, pd.Timestamp, np.datetime64)):
        return fmt_ts(ts_micros(v))  # RFC 3339 UTC, as in TIMESTAMP columns (doc.go)
    if isinstance(v, np.ndarray):
        return [to_json(x) for x in v.tolist()] if v.dtype != np.float32 else [f32(x) for x in v]
    if isinstance(v, (list, tuple, set, frozenset)):
        return [to_json(x) for x in v]
    if isinstance(v, dict):
        return {str(k): to_json(x) for k, x in v.items()}
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode()  # base64 text, as in BYTES columns (doc.go)
    raise TypeError("no JSON form for %r" % (v,))


class Col:
    """An expected column: name, canonical type, vector dim, canonical values."""

    def __init__(self, name, typ, values, dim=0):
        self.name, self.type, self.values, self.dim = name, typ, values, dim

    @property
    def nullable(self):
        return any(v is None for v in self.values)


def infer_column(name, values):
    """Expected column of a list of Python values, by issue 3's inference."""
    kinds = {}
    for row, v in enumerate(values):
        if is_null(v):
            continue
        k = kind(v)
        kinds.setdefault(k[0], []).append((row, k))
    ks = set(kinds)
    if not values:
        return Col(name, "JSON", [])  # no rows: nothing to check but the count
    if not ks:
        return Col(name, "JSON", [None] * len(values))  # all null: JSON (doc.go)
    if ks == {"vec"}:
        dims = {}
        for row, k in kinds["vec"]:
            dims.setdefault(k[1], row)
        if len(dims) > 1:
            first = kinds["vec"][0][1][1]
            bad = min(r for d, r in dims.items() if d != first)
            raise ExpectError(["invalid"], name)
        dim = kinds["vec"][0][1][1]
        if dim == 0:
            raise ValueError("column %r: zero-length vectors" % name)
        return Col(name, "FLOAT_VECTOR",
                   [None if is_null(v) else [f32(x) for x in list(v)] for v in values], dim)
    if ks == {"bool"}:
        return Col(name, "BOOL", [None if is_null(v) else bool(v) for v in values])
    if ks == {"int"}:
        return Col(name, "INT64", [None if is_null(v) else int(v) for v in values])
    if ks <= {"int", "float"}:
        return Col(name, "DOUBLE", [None if is_null(v) or math.isinf(float(v)) else float(v) for v in values])
    if ks == {"str"}:
        return Col(name, "STRING", [None if is_null(v) else str(v) for v in values])
    if ks == {"ts"}:
        return Col(name, "TIMESTAMP", [None if is_null(v) else fmt_ts(ts_micros(v)) for v in values])
    if ks == {"bytes"}:
        return Col(name, "BYTES", [None if is_null(v) else base64.b64encode(bytes(v)).decode() for v in values])
    if ks == {"strlist"}:
        return Col(name, "STRING_LIST", [None if is_null(v) else [str(x) for x in v] for v in values])
    return Col(name, "JSON", [None if is_null(v) else to_json(v) for v in values])


def column_from_series(name, s):
    """Expected column of a pandas Series (or Index) by its dtype."""
    dtype = s.dtype
    vals = list(s)
    if isinstance(dtype, pd.CategoricalDtype):
        vals = [None if is_null(v) else v for v in s.astype(object)]
        return infer_column(name, vals)
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        ns = [None if is_null(v) else pd.Timestamp(v).value for v in vals]
        return Col(name, "TIMESTAMP", [None if v is None else fmt_ts(v // 1000) for v in ns])
    if isinstance(dtype, pd.Int64Dtype) or str(dtype) in ("Int8", "Int16", "Int32", "Int64",
                                                       "UInt8", "UInt16", "UInt32", "UInt64"):
        return Col(name, "INT64", [None if is_null(v) else int(v) for v in vals])
    if str(dtype) in ("Float32", "Float64"):
        return Col(name, "DOUBLE", [None if is_null(v) else float(v) for v in vals])
    if str(dtype) == "boolean":
        return Col(name, "BOOL", [None if is_null(v) else bool(v) for v in vals])
    if str(dtype) == "string":
        return Col(name, "STRING", [None if is_null(v) else str(v) for v in vals])
    if isinstance(dtype, np.dtype):
        if dtype.kind in "iu":
            out = [int(v) for v in vals]
            if dtype.kind == "u" and any(v > 2**63 - 1 for v in out):
                if UINT64_OVERFLOW == "error":
                    raise ExpectError(["invalid", "unsupported"], name)
                return Col(name, "DOUBLE", [float(v) for v in out])
            return Col(name, "INT64", out)
        if dtype.kind == "f":
            if dtype == np.float32:
                return Col(name, "DOUBLE", [None if math.isnan(v) or math.isinf(v) else float(np.float32(v)) for v in vals])
            return Col(name, "DOUBLE", [None if math.isnan(v) or math.isinf(v) else float(v) for v in vals])
        if dtype.kind == "b":
            return Col(name, "BOOL", [bool(v) for v in vals])
        if dtype.kind == "O":
            return infer_column(name, vals)
        if dtype.kind == "U":
            return Col(name, "STRING", [str(v) for v in vals])
        if dtype.kind == "S":
            return Col(name, "BYTES", [base64.b64encode(bytes(v)).decode() for v in vals])
    raise ValueError("column %r: dtype %s has no expectation" % (name, dtype))


def expect_frame(df):
    cols = []
    if not isinstance(df.index, pd.RangeIndex):
        if isinstance(df.index, pd.MultiIndex):
            # One leading column per level, "level_i" when unnamed (doc.go).
            for i, lname in enumerate(df.index.names):
                name = lname if lname is not None else "level_%d" % i
                cols.append(column_from_series(str(name), pd.Series(df.index.get_level_values(i))))
        else:
            name = df.index.name if df.index.name is not None else "index"
            cols.append(column_from_series(str(name), pd.Series(df.index)))
    if len(set(map(str, df.columns))) != len(df.columns):
        raise ExpectError(["invalid"], "duplicate")
    for c in df.columns:
        cols.append(column_from_series(str(c), df[c]))
    return cols, len(df)


def expect_series(s):
    if s.name is None:
        s = s.rename(UNNAMED_SERIES)
    return expect_frame(s.to_frame())


def expect_records(records):
    keys = []
    for r in records:
        for k in r:
            if k not in keys:
                keys.append(k)
    cols = [infer_column(str(k), [r.get(k) for r in records]) for k in keys]
    return cols, len(records)


def expect_columns(d):
    lens = set()
    cols = []
    for k, v in d.items():
        if isinstance(v, np.ndarray) and v.ndim == 2:
            lens.add(v.shape[0])
            cols.append(Col(str(k), "FLOAT_VECTOR", [[f32(x) for x in row] for row in v], v.shape[1]))
        else:
            vals = list(v)
            lens.add(len(vals))
            if isinstance(v, np.ndarray):
                cols.append(column_from_series(str(k), pd.Series(v)))
            else:
                cols.append(infer_column(str(k), vals))
    if len(lens) > 1:
        raise ExpectError(["invalid"], "length")
    return cols, lens.pop() if lens else 0


def expect_matrix(a):
    return [Col("embedding", "FLOAT_VECTOR", [[f32(x) for x in row] for row in a], a.shape[1])], a.shape[0]


def jsonl(cols, nrows):
    out = io.StringIO()
    for r in range(nrows):
        rec = {}
        for c in cols:
            rec[c.name] = c.values[r]
        out.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":"), allow_nan=False))
        out.write("\n")
    return out.getvalue()


def schema(cols):
    fs = []
    for c in cols:
        f = {"name": c.name, "type": c.type}
        if c.type == "FLOAT_VECTOR":
            f["vector_dim"] = c.dim
        if c.nullable:
            f["nullable"] = True
        fs.append(f)
    return json.dumps(fs, ensure_ascii=False, indent=1) + "\n"


# ---------------------------------------------------------------------------
# Writing fixtures
# ---------------------------------------------------------------------------

class Writer:
    def __init__(self, outdir, check=False):
        self.outdir = outdir
        self.check = check
        os.makedirs(outdir, exist_ok=True)
        self.count = 0

    def raw(self, name, data, expect=None, error=None, with_schema=True, check=False):
        """Writes <name>.pkl plus its expectation: expect is a thunk returning
        (cols, nrows); error is (classes, substring)."""
        if check or self.check:
            crosscheck(name, data, error)
        path = os.path.join(self.outdir, name + ".pkl")
        with open(path, "wb") as f:
            f.write(data)
        self.count += 1
        for ext in (".jsonl", ".schema.json", ".error.txt"):
            p = os.path.join(self.outdir, name + ext)
            if os.path.exists(p):
                os.remove(p)
        if error is None and expect is not None:
            try:
                cols, n = expect()
            except ExpectError as e:
                error = (e.classes, e.substring)
            else:
                with open(os.path.join(self.outdir, name + ".jsonl"), "w", encoding="utf-8") as f:
                    f.write(jsonl(cols, n))
                if with_schema:
                    with open(os.path.join(self.outdir, name + ".schema.json"), "w", encoding="utf-8") as f:
                        f.write(schema(cols))
        if error is not None:
            with open(os.path.join(self.outdir, name + ".error.txt"), "w", encoding="utf-8") as f:
                f.write("|".join(error[0]) + "\n" + error[1] + "\n")

    def obj(self, name, obj, protocol=4, expect=None, error=None, with_schema=True):
        data = pickle.dumps(obj, protocol=protocol)
        if expect is None and error is None:
            expect = lambda: expect_any(obj)  # noqa: E731
            # The expectation must hold for what was pickled, not only for
            # the object in hand: derive it again from the round trip.
            try:
                a, b = jsonl(*expect_any(obj)), jsonl(*expect_any(pickle.loads(data)))
                assert a == b, "%s: expectation differs after a pickle round trip" % name
            except ExpectError:
                pass
        self.raw(name, data, expect=expect, error=error, with_schema=with_schema)
        return data

    def frame(self, name, df, protocol=4, **kw):
        # df.to_pickle is pickle.dump with the given protocol.
        buf = io.BytesIO()
        df.to_pickle(buf, compression=None, protocol=protocol)
        if "expect" not in kw and "error" not in kw:
            back = pd.read_pickle(io.BytesIO(buf.getvalue()), compression=None)
            try:
                assert jsonl(*expect_any(df)) == jsonl(*expect_any(back)), name
            except ExpectError:
                pass
        self.raw(name, buf.getvalue(), expect=kw.pop("expect", lambda: expect_any(df)), **kw)
        return buf.getvalue()


class NoGlobals(pickle.Unpickler):
    """CPython's unpickler with every global refused: safe on hostile bytes."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError("global %s.%s refused" % (module, name))


def crosscheck(name, data, error):
    """Hostile fixtures: CPython (with globals refused) must agree that a
    malformed one fails and a valid one loads, reading pickle after pickle
    as the loader does (appended pickles; zero bytes at the end pad)."""
    try:
        f = io.BytesIO(data)
        NoGlobals(f).load()
        while any(data[f.tell():]):
            NoGlobals(f).load()
        ok = True
    except RecursionError:
        ok = False
    except Exception:
        ok = False
    if error is None and not ok:
        raise AssertionError("%s: expected valid, CPython fails" % name)
    if error is not None and error[0] == ["malformed"] and ok:
        raise AssertionError("%s: expected malformed, CPython loads it" % name)


def expect_any(obj):
    if isinstance(obj, pd.DataFrame):
        return expect_frame(obj)
    if isinstance(obj, pd.Series):
        return expect_series(obj)
    if isinstance(obj, np.ndarray):
        return expect_matrix(obj)
    if isinstance(obj, dict):
        return expect_columns(obj)
    if isinstance(obj, (list, tuple)):
        return expect_records([state_dict(r) for r in obj])
    raise ValueError(type(obj))


def state_dict(r):
    """The field dict of a record: a dict, or an object's __dict__ (pydantic
    state shapes unwrapped)."""
    if isinstance(r, dict):
        return r
    st = r.__getstate__() if hasattr(type(r), "__getstate__") and type(r).__getstate__ is not object.__getstate__ else r.__dict__
    if isinstance(st, dict) and "__dict__" in st:
        return st["__dict__"]
    return st


# Classes in a module that looks like a user's (pickle records module.qualname).
app = types.ModuleType("app")
models = types.ModuleType("app.models")
app.models = models
sys.modules["app"] = app
sys.modules["app.models"] = models


def in_models(cls):
    cls.__module__ = "app.models"
    setattr(models, cls.__name__, cls)
    return cls


@in_models
@dataclasses.dataclass
class JobPosting:
    posting_id: int
    title: str
    tags: list
    score: float


@in_models
class Plain:
    def __init__(self, **kw):
        self.__dict__.update(kw)


@in_models
class PydanticV1Like:
    """Pickles like a pydantic v1 BaseModel: state {'__dict__', '__fields_set__'}."""

    __slots__ = ("__dict__", "__fields_set__")

    def __init__(self, **kw):
        object.__setattr__(self, "__dict__", dict(kw))
        object.__setattr__(self, "__fields_set__", set(kw))

    def __getstate__(self):
        return {"__dict__": self.__dict__, "__fields_set__": self.__fields_set__}

    def __setstate__(self, state):
        object.__setattr__(self, "__dict__", state["__dict__"])
        object.__setattr__(self, "__fields_set__", state["__fields_set__"])


@in_models
class PydanticV2Like:
    """Pickles like a pydantic v2 BaseModel."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __getstate__(self):
        return {
            "__dict__": self.__dict__,
            "__pydantic_extra__": None,
            "__pydantic_fields_set__": set(self.__dict__),
            "__pydantic_private__": None,
        }

    def __setstate__(self, state):
        self.__dict__.update(state["__dict__"])


KOREAN = ["백엔드 개발자", "데이터 엔지니어", "머신러닝 엔지니어", "프론트엔드 개발자", "DevOps 엔지니어",
          "Backend Engineer", "Data Scientist", "ML Engineer", "Frontend Developer", "SRE"]
EMOJI = ["🚀", "😀", "👩‍💻", "🇰🇷", "✨"]


# --- Arrow-backed columns, emulated (pyarrow is not installed here) --------
# pandas 2.x pickles a string[pyarrow] column as an ArrowStringArray whose
# state holds pyarrow objects, rebuilt by pyarrow.lib functions. The fake
# pyarrow.lib below makes pickle write the same global references.

pyarrow = types.ModuleType("pyarrow")
palib = types.ModuleType("pyarrow.lib")
pyarrow.lib = palib
sys.modules["pyarrow"] = pyarrow
sys.modules["pyarrow.lib"] = palib


def _pa_function(name):
    def f(*args):
        raise RuntimeError("never called")
    f.__name__ = f.__qualname__ = name
    f.__module__ = "pyarrow.lib"
    setattr(palib, name, f)
    return f


_pa_function("chunked_array")
_pa_function("_restore_array")
_pa_function("type_for_alias")
_pa_function("py_buffer")


class _PaType:
    def __init__(self, alias):
        self.alias = alias

    def __reduce__(self):
        return palib.type_for_alias, (self.alias,)


class _PaBuffer:
    def __init__(self, b):
        self.b = b

    def __reduce__(self):
        return palib.py_buffer, (self.b,)


class _PaArray:
    def __init__(self, values):
        self.values = values

    def __reduce__(self):
        data = "".join(v or "" for v in self.values).encode()
        offsets, n = [0], 0
        for v in self.values:
            n += len((v or "").encode())
            offsets.append(n)
        validity = bytes([sum(1 << i for i, v in enumerate(self.values) if v is not None)])
        return palib._restore_array, ((_PaType("string"), len(self.values), self.values.count(None), 0,
                                       [_PaBuffer(validity), _PaBuffer(struct.pack("<%di" % len(offsets), *offsets)),
                                        _PaBuffer(data)], [], None),)


class _PaChunked:
    def __init__(self, values):
        self.values = values

    def __reduce__(self):
        return palib.chunked_array, ([_PaArray(self.values)], _PaType("string"))


class ArrowPickler(pickle.Pickler):
    """Pickles pandas StringArrays as pandas 2.x pickles string[pyarrow]."""

    def reducer_override(self, obj):
        from pandas.core.arrays.string_ import StringArray, StringDtype
        from pandas.core.arrays.string_arrow import ArrowStringArray
        import copyreg
        if isinstance(obj, StringArray):
            dtype = object.__new__(StringDtype)
            dtype.__dict__["storage"] = "pyarrow"
            vals = [None if is_null(v) else v for v in obj]
            return copyreg._reconstructor, (ArrowStringArray, object, None), {"_pa_array": _PaChunked(vals), "_dtype": dtype}
        return NotImplemented


class Numpy2PathPickler(pickle._Pickler):
    """Writes numpy's globals under numpy 2's module paths (numpy._core...),
    as a numpy 2.x environment pickles them (protocol 4/5 only)."""

    REMAP = {"numpy.core.multiarray": "numpy._core.multiarray", "numpy.core.numeric": "numpy._core.numeric"}

    def save_global(self, obj, name=None):
        if name is None:
            name = getattr(obj, "__qualname__", None) or obj.__name__
        module = pickle.whichmodule(obj, name)
        if module not in self.REMAP:
            return super().save_global(obj, name)
        self.save(self.REMAP[module])
        self.save(name)
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)

    # The dispatch table holds the base class's save_global: point it here.
    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[types.FunctionType] = save_global
    dispatch[type] = save_global


def numpy2_pickle(obj, protocol=4):
    buf = io.BytesIO()
    Numpy2PathPickler(buf, protocol=protocol).dump(obj)
    data = buf.getvalue()
    assert b"numpy._core" in data, "no numpy global remapped"
    import re
    left = set(re.findall(rb"numpy\.core[\w.]*", data))
    assert not left, left
    return data


def arrow_pickle(obj):
    buf = io.BytesIO()
    ArrowPickler(buf, protocol=5).dump(obj)
    return buf.getvalue()


def small_frame(seed=1, rows=5):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(1, rows + 1, dtype=np.int64),
        "name": [KOREAN[i % len(KOREAN)] + " " + EMOJI[i % len(EMOJI)] for i in range(rows)],
        "score": np.round(rng.random(rows), 6),
        "active": [i % 2 == 0 for i in range(rows)],
        "created_at": pd.to_datetime(["2025-01-01T00:00:00"] * rows) + pd.to_timedelta(np.arange(rows) * 3601, unit="s"),
    })


def small_records(rows=5):
    return [{"id": i + 1, "name": KOREAN[i % len(KOREAN)] + EMOJI[i % len(EMOJI)], "score": i * 0.25,
             "tags": ["go", "python"][: i % 3], "when": dt.datetime(2025, 3, 1, 12, 0, i)} for i in range(rows)]


def gen_fixtures(w):
    rng = np.random.default_rng(42)

    # --- records shapes ---------------------------------------------------
    w.obj("records_basic", [
        {"id": 1, "name": "alice", "score": 1.5, "ok": True},
        {"id": 2, "name": "bob", "score": 2.0, "ok": False},
        {"id": 3, "name": "carol", "score": -0.125, "ok": True},
    ])
    w.obj("records_missing_keys", [
        {"id": 1, "a": "x"},
        {"id": 2, "b": 20},
        {"id": 3, "a": "z", "c": [1.0, 2.0]},
        {"c": [3.0, 4.0], "id": 4},
    ])
    w.obj("records_tuple", tuple(small_records(4)))
    w.obj("records_unicode", [
        {"text": "안녕하세요, 세계", "emoji": "🚀✨👩‍💻", "mixed": "Go 언어 😀 \"quoted\"\n\ttab"},
        {"text": "데이터 엔지니어", "emoji": "🇰🇷", "mixed": "\u2028line sep\u2029 and \\ backslash"},
        {"text": "", "emoji": "\x00\x01 control", "mixed": "ÿ latin-1 é ü"},
    ])
    w.obj("records_empty", [])
    w.obj("records_values", [
        {"dt": dt.datetime(2025, 12, 12, 9, 30), "d": dt.date(2024, 2, 29),
         "dtz": dt.datetime(2025, 1, 1, 9, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=9))),
         "b": b"\x00\x01\xffbytes", "ba": bytearray(b"bytearray"), "s": {"x"}, "fs": frozenset({"y"})},
        {"dt": dt.datetime(1969, 7, 20, 20, 17, 40), "d": dt.date(1970, 1, 1),
         "dtz": dt.datetime(2025, 6, 30, 23, 59, 59, tzinfo=dt.timezone.utc),
         "b": b"", "ba": bytearray(), "s": set(), "fs": frozenset()},
        {"dt": None, "d": None, "dtz": None, "b": None, "ba": None, "s": None, "fs": None},
    ])
    w.obj("records_datetime_extremes", [{"t": dt.datetime(1, 1, 1)}, {"t": dt.datetime(9999, 12, 31, 23, 59, 59, 999999)},
                                        {"t": dt.date(999, 12, 31)}, {"t": dt.datetime(1970, 1, 1, 0, 0, 0, 1)}])
    import pytz
    import zoneinfo
    seoul = pytz.timezone("Asia/Seoul")
    ny = pytz.timezone("America/New_York")
    w.obj("records_tz_pytz", [{"t": seoul.localize(dt.datetime(2025, 12, 12, 9, 30))},
                              {"t": ny.localize(dt.datetime(2025, 7, 4, 12, 0))},
                              {"t": ny.localize(dt.datetime(2025, 1, 4, 12, 0))},
                              {"t": pytz.utc.localize(dt.datetime(2025, 1, 1))}])
    w.obj("records_tz_zoneinfo", [{"t": dt.datetime(2025, 12, 12, 9, 30, tzinfo=zoneinfo.ZoneInfo("Asia/Seoul"))},
                                  {"t": dt.datetime(2025, 7, 4, 12, 0, tzinfo=zoneinfo.ZoneInfo("America/New_York"))},
                                  {"t": dt.datetime(2025, 1, 4, 12, 0, tzinfo=zoneinfo.ZoneInfo("America/New_York"))}])
    w.obj("records_tz_timestamp", [{"t": pd.Timestamp("2025-12-12 09:30", tz="Asia/Seoul")},
                                   {"t": pd.Timestamp("2025-07-04 12:00", tz="America/New_York")}])
    w.obj("records_decimal", [{"price": decimal.Decimal("12.50")}, {"price": decimal.Decimal("-0.001")},
                              {"price": None}])
    w.obj("records_sets", [{"tags": {"go", "rust", "python"}}, {"tags": frozenset({"k8s"})}])

    # --- type inference ----------------------------------------------------
    w.obj("infer_int_float_double", [{"v": 1}, {"v": 2.5}, {"v": None}, {"v": -3}])
    w.obj("infer_int64_exact", [{"v": 9007199254740993}, {"v": -9223372036854775808}, {"v": 9223372036854775807}])
    w.obj("infer_nan_none_null", [{"v": 1.0}, {"v": float("nan")}, {"v": None}, {"v": float("inf")}])
    w.obj("infer_mixed_json", [{"v": 1}, {"v": "a"}, {"v": 2.5}, {"v": None}, {"v": [1, "x"]},
                               {"v": {"k": 1, "nested": {"z": [True, None]}}}, {"v": True}])
    w.obj("infer_nested_dict_json", [{"meta": {"b": 1, "a": [1, 2], "c": {"d": "e"}}}, {"meta": {}}])
    w.obj("infer_string_list", [{"skills": ["go", "grpc"]}, {"skills": []}, {"skills": None}, {"skills": ("nats",)}])
    w.obj("infer_vector_lists", [{"embedding": [0.1, 0.2, 0.3]}, {"embedding": [1, 2, 3]}, {"embedding": None}])
    w.obj("infer_vector_arrays", [{"embedding": rng.standard_normal(4).astype(np.float32)} for _ in range(3)])
    w.obj("infer_vector_f64_arrays", [{"embedding": rng.standard_normal(3)} for _ in range(3)])
    w.obj("infer_vector_ragged", [{"embedding": [0.1, 0.2]}, {"embedding": [0.1, 0.2]}, {"embedding": [0.1, 0.2, 0.3]}],
          error=(["invalid"], "embedding"))
    w.obj("infer_bigint_with_float", [{"v": 1.5}, {"v": 2 ** 70}, {"v": -(2 ** 64)}])
    w.obj("infer_all_null", [{"a": None, "b": 1}, {"a": float("nan"), "b": 2}])
    w.obj("records_non_str_keys", [{1: "one", "b": 2, True: "t", (1, 2): 0.5}])
    w.obj("infer_bool", [{"v": True}, {"v": None}, {"v": False}])
    w.obj("infer_timestamps_mixed", [{"v": dt.datetime(2025, 1, 2, 3, 4, 5, 6)}, {"v": pd.Timestamp("2025-01-02 03:04:05.000007")},
                                     {"v": dt.date(2025, 1, 2)}, {"v": pd.NaT}])

    # --- columnar dicts and matrices ---------------------------------------
    w.obj("columns_dict", {"id": [1, 2, 3], "name": ["a", "b", "c"], "score": [0.5, None, 1.5]})
    w.obj("columns_dict_arrays", {"id": np.array([10, 20, 30], dtype=np.int32),
                                  "x": np.array([1.5, np.nan, 3.0]), "flag": np.array([True, False, True])})
    emb = rng.standard_normal((4, 8)).astype(np.float32)
    w.obj("columns_embedding_matrix", {"ids": ["a", "b", "c", "d"], "embeddings": emb, "n": [1, 2, 3, 4]})
    # A dict with no sequence values is one record (doc.go).
    w.obj("columns_single_record", {"id": 7, "name": "단일", "score": 0.5},
          expect=lambda: expect_records([{"id": 7, "name": "단일", "score": 0.5}]))
    w.obj("object_single_record", Plain(id=1, title="x"), expect=lambda: expect_records([{"id": 1, "title": "x"}]))
    w.obj("columns_unequal", {"a": [1, 2, 3], "b": [1, 2]}, error=(["invalid"], ""))
    w.obj("ndarray_f32", rng.standard_normal((6, 16)).astype(np.float32))
    w.obj("ndarray_f64", rng.standard_normal((5, 7)))
    w.obj("ndarray_f32_fortran", np.asfortranarray(rng.standard_normal((5, 3)).astype(np.float32)))
    w.obj("ndarray_f32_bigendian", rng.standard_normal((3, 4)).astype(">f4"))
    w.obj("ndarray_zero_rows", np.zeros((0, 384), dtype=np.float32), expect=lambda: ([], 0), with_schema=False)
    w.obj("ndarray_3d", np.zeros((2, 2, 2), dtype=np.float32), error=(["invalid", "unsupported"], ""))
    w.obj("ndarray_f32_p5", rng.standard_normal((4, 8)).astype(np.float32), protocol=5)
    oob = []
    w.raw("ndarray_out_of_band", pickle.dumps(np.ones((2, 2), dtype=np.float32), protocol=5, buffer_callback=oob.append),
          error=(["invalid"], ""))

    # --- objects with __dict__ ----------------------------------------------
    w.obj("objects_dataclass", [JobPosting(1, "백엔드", ["go"], 0.5), JobPosting(2, "SRE", ["k8s", "nats"], 1.0)])
    w.obj("objects_dataclass_p0", [JobPosting(1, "Backend", ["go"], 0.5), JobPosting(2, "SRE", [], 1.0)], protocol=0)
    w.obj("objects_dataclass_p2", [JobPosting(1, "Backend", ["go"], 0.5), JobPosting(2, "SRE", [], 1.0)], protocol=2)
    w.obj("objects_plain", [Plain(a=1, b="x"), Plain(a=2, b="y", c=True)])
    w.obj("objects_pydantic_v1", [PydanticV1Like(id=1, title="a", tags=["x"]), PydanticV1Like(id=2, title="b", tags=[])])
    w.obj("objects_pydantic_v2", [PydanticV2Like(id=1, title="가", created=dt.datetime(2025, 5, 5)),
                                  PydanticV2Like(id=2, title="나", created=dt.datetime(2025, 5, 6))])

    # --- DataFrames: dtypes ---------------------------------------------------
    n = 6
    df = pd.DataFrame({
        "i8": np.array([-128, 127, 0, 1, -1, 5], dtype=np.int8),
        "i16": np.array([-32768, 32767, 0, 1, -1, 5], dtype=np.int16),
        "i32": np.array([-2**31, 2**31 - 1, 0, 1, -1, 5], dtype=np.int32),
        "i64": np.array([-2**63, 2**63 - 1, 9007199254740993, 1, -1, 5], dtype=np.int64),
        "u8": np.array([0, 255, 1, 2, 3, 4], dtype=np.uint8),
        "u16": np.array([0, 65535, 1, 2, 3, 4], dtype=np.uint16),
        "u32": np.array([0, 2**32 - 1, 1, 2, 3, 4], dtype=np.uint32),
        "u64": np.array([0, 2**63 - 1, 1, 2, 3, 4], dtype=np.uint64),
    })
    w.frame("df_ints", df)
    w.frame("df_uint64_overflow", pd.DataFrame({"u64": np.array([1, 2**64 - 1], dtype=np.uint64)}))
    w.frame("df_floats", pd.DataFrame({
        "f32": np.array([0.1, -1.5, np.nan, 3.4028235e38, 1e-7, 0.0], dtype=np.float32),
        "f64": np.array([0.1, np.nan, -2.5e-300, 1e300, np.inf, 1.0]),
    }))
    w.frame("df_bool", pd.DataFrame({"b": [True, False, True, True, False, False]}))
    w.frame("df_object", pd.DataFrame({
        "s": ["a", None, "한국어", "😀", "", "z"],
        "strlist": [["a"], ["b", "c"], [], None, ["한"], ["😀"]],
        "vec": [np.arange(3, dtype=np.float32) + i for i in range(n)],
        "veclist": [[float(i), 0.5, -1.0] for i in range(n)],
        "nested": [{"k": i, "v": [i, "x"]} for i in range(n)],
    }))
    w.frame("df_datetime_naive", pd.DataFrame({"t": pd.to_datetime(
        ["2025-12-12 09:30:00", None, "1970-01-01", "1900-03-04 05:06:07.123456", "2262-04-11", "2000-02-29 23:59:59.999999"])}))
    # Sub-microsecond parts are floored (as Timestamp.to_pydatetime and %f do), before 1970 too.
    ns = pd.to_datetime(np.array([-1, 999, 1500, -1500, 1_000_000_999], dtype=np.int64))
    w.frame("df_datetime_nanoseconds", pd.DataFrame({"t": ns}))
    w.obj("records_timestamp_nanoseconds", [{"t": pd.Timestamp(x)} for x in ns])
    w.frame("df_datetime_tz", pd.DataFrame({
        "seoul": pd.to_datetime(["2025-12-12 09:30:00", None, "2025-01-01 00:00:00"]).tz_localize("Asia/Seoul"),
        "utc": pd.to_datetime(["2025-12-12 09:30:00", "2025-06-01", None]).tz_localize("UTC"),
        "ny": pd.to_datetime(["2025-03-09 01:30:00", "2025-11-02 12:00", "2025-07-04"]).tz_localize("America/New_York"),
    }))
    w.frame("df_category", pd.DataFrame({
        "c": pd.Categorical(["서울", "부산", None, "서울", "대전"]),
        "ci": pd.Categorical([3, 1, 2, 3, None]),
    }))
    w.frame("df_category_many", pd.DataFrame({"c": pd.Categorical(["v%d" % (i % 300) for i in range(600)])}))
    w.frame("df_nullable", pd.DataFrame({
        "I": pd.array([1, None, -3, 2**62], dtype="Int64"),
        "B": pd.array([True, None, False, True], dtype="boolean"),
        "S": pd.array(["a", None, "가", "😀"], dtype="string"),
        "I8": pd.array([1, None, 3, 4], dtype="Int8"),
    }))
    w.raw("df_arrow_string", arrow_pickle(pd.DataFrame({"id": [1, 2, 3], "s_arrow": pd.array(["a", None, "c"], dtype="string")})),
          error=(["unsupported"], "s_arrow"))
    w.frame("df_float16_Float64", pd.DataFrame({"h": np.array([1.5, -0.0999755859375, np.nan], dtype=np.float16),
                                                "F": pd.array([1.25, None, -3.5], dtype="Float64")}))
    w.obj("records_numpy_scalars", [{"a": np.int64(5), "b": np.float32(1.5), "c": np.bool_(True), "d": np.str_("s"),
                                     "e": np.datetime64("2025-01-01T00:00:00.123456"), "f": np.uint8(7)},
                                    {"a": np.int32(-1), "b": np.float32("nan"), "c": np.bool_(False), "d": np.str_("한"),
                                     "e": np.datetime64("NaT"), "f": np.uint64(2**63 - 1)}])
    w.obj("columns_numpy_text_arrays", {"u": np.array(["x", "한글"], dtype="U2"), "s": np.array([b"x", b"yz"], dtype="S2"),
                                        "o": np.array(["p", None], dtype=object)})
    w.obj("ndarray_int64_matrix", np.array([[1, 2, 3], [4, 5, -6]], dtype=np.int64))
    w.frame("df_nullable_all_na", pd.DataFrame({
        "I": pd.array([None, None], dtype="Int64"),
        "B": pd.array([None, None], dtype="boolean"),
        "S": pd.array([None, None], dtype="string"),
        "F": pd.array([None, None], dtype="Float64"),
        "f": np.array([np.nan, np.nan]),
        "t": pd.to_datetime([None, None]),
    }))
    # Block layouts: unconsolidated blocks, reordered and sliced columns,
    # F-ordered block arrays (a frame built from a 2-D array).
    unc = pd.DataFrame({"a": [1, 2, 3]})
    unc["b"] = [4.5, 5.5, 6.5]
    unc["c"] = [7, 8, 9]
    unc.insert(0, "first", ["x", "y", "z"])
    w.frame("df_unconsolidated", unc)
    w.frame("df_reordered", pd.DataFrame({"a": [1, 2], "b": [3.5, 4.5], "c": [5, 6], "d": ["p", "q"]})[["d", "c", "a", "b"]])
    wide = pd.DataFrame(np.arange(40, dtype=np.int64).reshape(5, 8), columns=list("abcdefgh"))
    w.frame("df_from_2d_int", wide)
    w.frame("df_from_2d_f32", pd.DataFrame(np.random.default_rng(5).standard_normal((4, 3)).astype(np.float32), columns=["x", "y", "z"]))
    w.frame("df_sliced", wide.iloc[1:4, ::3])
    w.frame("df_column_dropped", wide.drop(columns=["b", "e"]))
    w.frame("df_empty_columns", pd.DataFrame({"a": pd.Series([], dtype=np.int64), "b": pd.Series([], dtype=np.float64)}),
            with_schema=False)
    w.frame("df_empty", pd.DataFrame(), with_schema=False)
    w.frame("df_embedding", pd.DataFrame({"id": ["a", "b", "c"], "embedding": list(rng.standard_normal((3, 384)).astype(np.float32))}))

    # --- DataFrames: index rules ---------------------------------------------
    base = small_frame(2, 4)
    w.frame("df_index_range", base)
    w.frame("df_index_range_offset", base.set_axis(pd.RangeIndex(10, 14), axis=0))
    w.frame("df_index_named", base.set_index("id"))
    w.frame("df_index_unnamed_str", base.set_axis(["a", "b", "c", "d"], axis=0))
    w.frame("df_index_int", base.set_axis([100, 7, 3, 42], axis=0))
    w.frame("df_index_datetime", base.set_index("created_at"))

    # --- Series ---------------------------------------------------------------
    w.obj("series_float", pd.Series([1.5, np.nan, 3.0], name="value"))
    w.obj("series_str_index", pd.Series(["x", "y"], index=["a", "b"], name="letter"))
    w.obj("series_unnamed", pd.Series([True, False, True]))
    w.obj("series_multiindex", pd.Series([1.5, 2.5, 3.5, 4.5], name="v",
                                         index=pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["k", None])))
    w.frame("df_multiindex_columns", pd.DataFrame([[1, 2.5], [3, 4.5]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("b", "y")])))
    w.frame("df_int_column_names", pd.DataFrame({0: ["a", "b"], 1: [1.5, 2.5]}))
    w.obj("ndarray_1d_f64", np.array([1.5, np.nan, -3.0]),
          expect=lambda: ([column_from_series(UNNAMED_SERIES, pd.Series(np.array([1.5, np.nan, -3.0])))], 3))
    w.obj("records_json_datetimes", [{"v": {"at": dt.datetime(2025, 1, 2, 3, 4, 5, 6), "d": dt.date(2025, 2, 3)}},
                                     {"v": [pd.Timestamp("2025-06-07T08:09:10.111213Z"), "x"]}])
    w.obj("series_int_named_index", pd.Series([1, 2, 3], index=pd.Index([7, 8, 9], name="key"), name="n"))

    # --- protocols 0..5 ----------------------------------------------------
    pdf = small_frame(3, 5)
    pdf["tags"] = [["a", "b"], [], ["한글"], ["😀"], None]
    pdf["vec"] = list(np.random.default_rng(7).standard_normal((5, 4)).astype(np.float32))
    recs = small_records(5)
    for p in range(0, 6):
        w.frame("df_protocol%d" % p, pdf, protocol=p)
        w.obj("records_protocol%d" % p, recs, protocol=p)
    w.obj("ndarray_protocol2", np.random.default_rng(8).standard_normal((3, 5)).astype(np.float32), protocol=2)

    # --- domain samples (small) -------------------------------------------------
    rdf = recruit_frame(50, 384, seed=11)
    w.frame("recruit_small_df", rdf)
    w.obj("recruit_small_records", recruit_records(rdf, vectors="list"), expect=lambda: expect_frame(rdf))
    w.raw("recruit_small_df_numpy2_paths", numpy2_pickle(rdf.head(10), protocol=5), expect=lambda: expect_frame(rdf.head(10)))
    w.raw("recruit_small_records_numpy2_paths", numpy2_pickle(recruit_records(rdf.head(10), vectors="array")),
          expect=lambda: expect_frame(rdf.head(10)))
    cdf = candidate_frame(50, 384, seed=12)
    w.frame("candidate_small_df", cdf)
    w.obj("candidate_small_records", candidate_records(cdf), expect=lambda: expect_frame(cdf))


# ---------------------------------------------------------------------------
# Randomized differential corpus: many small random tables, each pickled with
# a random protocol and shape, expectations by the same Python rules.
# ---------------------------------------------------------------------------

RAND_STRS = ["", "a", "한국어", "😀🚀", "tab\there", "quote\"back\\slash", "\x00nul", "line\nbreak", "ÿé", "\u2028",
             "x" * 300, "데이터 엔지니어 " * 20]


def rand_value(rng, kind, dim):
    """One random non-null value of a column kind."""
    r = rng.random()
    if kind == "int":
        return [0, 1, -1, 2**63 - 1, -2**63, 2**53 + 1, int(rng.integers(-1000, 1000)),
                np.int8(-5), np.uint16(600), np.int64(-(2**40))][int(rng.integers(10))]
    if kind == "float":
        return [0.0, -0.0, 1.5, -2.25e-300, 1e300, 0.1, float("inf"), np.float32(0.1), np.float64(3.5),
                float(rng.standard_normal()), 5][int(rng.integers(11))]
    if kind == "str":
        return RAND_STRS[int(rng.integers(len(RAND_STRS)))]
    if kind == "bool":
        return [True, False, np.bool_(True)][int(rng.integers(3))]
    if kind == "ts":
        base = dt.datetime(2000, 1, 1) + dt.timedelta(microseconds=int(rng.integers(0, 10**15)))
        return [base, base.date(), pd.Timestamp(base), base.replace(tzinfo=dt.timezone(dt.timedelta(hours=-5))),
                pd.Timestamp(base).tz_localize("Asia/Seoul"), np.datetime64(base, "us")][int(rng.integers(6))]
    if kind == "bytes":
        return [b"", b"\x00\xff", bytearray(b"ba"), bytes(rng.integers(0, 256, size=20, dtype=np.uint8))][int(rng.integers(4))]
    if kind == "strlist":
        items = [RAND_STRS[int(i)] for i in rng.integers(0, len(RAND_STRS), size=int(rng.integers(0, 4)))]
        return [list, tuple][int(rng.integers(2))](items)
    if kind == "vec":
        v = rng.standard_normal(dim)
        return [v.astype(np.float32), v, v.astype(np.float32).tolist(), [int(x * 10) for x in v]][int(rng.integers(4))]
    if kind == "json":
        return [{"k": 1, "l": [1, "x", None], "d": {"z": True}}, [1, 2.5, "s"], {"나": "다"}, [[1], [2, 3]],
                {"when": dt.datetime(2025, 1, 1), "b": b"\x01"}, (1, "t")][int(rng.integers(6))]
    raise ValueError(kind)


RAND_NULLS = [None, float("nan"), pd.NaT, np.nan]


def rand_records(rng):
    n = int(rng.integers(0, 7))
    ncols = int(rng.integers(1, 6))
    kinds = [["int", "float", "str", "bool", "ts", "bytes", "strlist", "vec", "json", "mixed"][int(i)]
             for i in rng.integers(0, 10, size=ncols)]
    rows = [dict() for _ in range(n)]
    for c, kind in enumerate(kinds):
        name = ["id", "값", "emoji😀", "x y", "c%d" % c][int(rng.integers(5))] + ("" if c == 0 else str(c))
        dim = int(rng.integers(1, 6))
        for r in range(n):
            u = rng.random()
            if u < 0.1:
                continue  # missing key: null
            if u < 0.25:
                rows[r][name] = RAND_NULLS[int(rng.integers(len(RAND_NULLS)))] if kind not in ("ts",) else [None, pd.NaT][int(rng.integers(2))]
                continue
            k = kind if kind != "mixed" else ["int", "str", "json", "bool"][int(rng.integers(4))]
            rows[r][name] = rand_value(rng, k, dim)
    return rows


def rand_frame(rng):
    n = int(rng.integers(0, 7))
    cols = {}
    for c in range(int(rng.integers(1, 5))):
        name = ["a", "한글", "col %d" % c, "v"][int(rng.integers(4))] + str(c)
        kind = int(rng.integers(12))
        nulls = rng.random(n) < 0.25
        if kind == 0:
            dtype = ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"][int(rng.integers(8))]
            info = np.iinfo(dtype)
            cols[name] = rng.integers(max(info.min, -2**62), min(info.max, 2**62), size=n, dtype=dtype, endpoint=True)
        elif kind == 1:
            v = rng.standard_normal(n) * 10 ** float(rng.integers(-10, 10))
            v[nulls] = np.nan
            cols[name] = v.astype(["f2", "f4", "f8"][int(rng.integers(3))])
        elif kind == 2:
            cols[name] = rng.random(n) < 0.5
        elif kind == 3:
            t = pd.to_datetime(rng.integers(0, 2 * 10**18, size=n, dtype=np.int64) // 1000 * 1000)
            t = t.where(~nulls)
            cols[name] = t if rng.random() < 0.5 else t.tz_localize("UTC").tz_convert(["Asia/Seoul", "Europe/Paris"][int(rng.integers(2))])
        elif kind == 4:
            cols[name] = pd.Categorical([None if nulls[i] else RAND_STRS[int(rng.integers(4))] for i in range(n)])
        elif kind == 5:
            cols[name] = pd.array([None if nulls[i] else int(rng.integers(-10**12, 10**12)) for i in range(n)], dtype="Int64")
        elif kind == 6:
            cols[name] = pd.array([None if nulls[i] else bool(rng.random() < 0.5) for i in range(n)], dtype="boolean")
        elif kind == 7:
            cols[name] = pd.array([None if nulls[i] else RAND_STRS[int(rng.integers(len(RAND_STRS)))] for i in range(n)], dtype="string")
        elif kind == 8:
            cols[name] = [None if nulls[i] else RAND_STRS[int(rng.integers(len(RAND_STRS)))] for i in range(n)]
        elif kind == 9:
            dim = int(rng.integers(1, 9))
            cols[name] = [None if nulls[i] else rng.standard_normal(dim).astype(np.float32) for i in range(n)]
        elif kind == 10:
            cols[name] = [None if nulls[i] else rand_value(rng, "strlist", 0) for i in range(n)]
        else:
            cols[name] = [None if nulls[i] else rand_value(rng, "json", 0) for i in range(n)]
    df = pd.DataFrame(cols, index=pd.RangeIndex(n))
    ix = int(rng.integers(4))
    if ix == 1 and n:
        df.index = pd.Index(["r%d" % i for i in range(n)], name=["key", None][int(rng.integers(2))])
    elif ix == 2 and n:
        df.index = pd.Index(rng.permutation(n) * 7, name="pos")
    elif ix == 3 and n:
        df.index = pd.date_range("2024-01-01", periods=n, freq="H", name="at")
    return df


def gen_random(outdir, count, seed):
    if os.path.isdir(outdir):
        for f in os.listdir(outdir):
            os.remove(os.path.join(outdir, f))
    w = Writer(outdir)
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        protocol = int(rng.integers(0, 6))
        shape = int(rng.integers(4))
        try:
            if shape == 0:
                obj = rand_frame(rng)
                cols, n = expect_frame(obj)
            elif shape == 1:
                obj = rand_records(rng)
                cols, n = expect_records(obj)
                if rng.random() < 0.3:
                    obj = tuple(obj)
            elif shape == 2:
                df = rand_frame(rng)
                obj = df[df.columns[0]].rename(None if rng.random() < 0.3 else "s")
                cols, n = expect_series(obj)
            else:
                recs = rand_records(rng)
                cols, n = expect_records(recs)
                if not cols or n == 0:
                    continue
                obj = {c.name: [r.get(c.name) for r in recs] for c in cols}
                if any(isinstance(v, dict) for r in recs for v in r.values()):
                    continue
        except (ValueError, TypeError):
            continue  # no defined expectation for this draw
        except ExpectError:
            continue
        name = "random_%03d_p%d" % (made, protocol)
        if isinstance(obj, (pd.DataFrame, pd.Series)):
            buf = io.BytesIO()
            obj.to_pickle(buf, compression=None, protocol=protocol)
            data = buf.getvalue()
        else:
            data = pickle.dumps(obj, protocol=protocol)
        w.raw(name, data, expect=lambda: (cols, n))
        made += 1
    return w.count


# ---------------------------------------------------------------------------
# Domain data (recruit / candidate)
# ---------------------------------------------------------------------------

COMPANIES = ["네이버", "카카오", "라인플러스", "쿠팡", "토스", "당근마켓", "배달의민족", "Samsung SDS", "LG CNS",
             "Krafton", "Nexon", "NCSOFT", "Hyperconnect", "Riiid", "Upstage"]
LOCATIONS = ["서울 강남구", "서울 서초구", "서울 마포구", "경기 성남시 분당구", "부산 해운대구", "대전 유성구", "Remote",
             "Seoul", "Pangyo", "제주"]
SKILLS = ["Python", "Go", "Java", "Kotlin", "TypeScript", "React", "Kubernetes", "Docker", "AWS", "GCP", "PostgreSQL",
          "MySQL", "Redis", "Kafka", "NATS", "gRPC", "PyTorch", "TensorFlow", "Spark", "Airflow", "Terraform", "Linux",
          "머신러닝", "데이터 분석", "자연어처리", "추천 시스템", "검색", "MLOps"]
TITLES = ["백엔드 개발자", "시니어 백엔드 엔지니어", "데이터 엔지니어", "머신러닝 엔지니어", "ML 리서처", "프론트엔드 개발자",
          "DevOps 엔지니어", "SRE", "플랫폼 엔지니어", "Backend Engineer (Go)", "Data Scientist", "Search Engineer",
          "MLOps Engineer", "Android Developer", "iOS 개발자"]
SENT_KO = ["대규모 트래픽을 처리하는 서비스를 설계하고 운영합니다.", "데이터 파이프라인을 구축하고 품질을 관리합니다.",
           "추천 및 검색 모델을 개발하여 사용자 경험을 개선합니다.", "클라우드 인프라를 코드로 관리하고 자동화합니다.",
           "팀과 함께 코드 리뷰와 기술 문서를 통해 성장합니다.", "장애 대응 및 모니터링 체계를 개선합니다.",
           "신규 기능의 요구사항을 분석하고 API를 설계합니다.", "임베딩 기반 유사도 검색 시스템을 운영합니다."]
SENT_EN = ["You will design and operate services handling large-scale traffic.",
           "Build reliable data pipelines and own their quality.",
           "Develop ranking and retrieval models that improve matching.",
           "Automate cloud infrastructure with infrastructure as code.",
           "Collaborate through code review and clear design documents.",
           "Improve observability, on-call and incident response.",
           "Experience with Go, gRPC and message queues is a plus."]
NAMES = ["김민준", "이서연", "박지훈", "최수아", "정예준", "강하은", "조도윤", "윤지우", "장서준", "임하윤",
         "Alex Kim", "Jamie Lee", "Chris Park", "Dana Choi", "Sam Jung"]


def text(rng, lo, hi):
    out = ""
    while len(out) < lo:
        pool = SENT_KO if rng.random() < 0.6 else SENT_EN
        out += ("" if not out else " ") + pool[int(rng.integers(len(pool)))]
    return out[:hi]


def unit_vectors(rng, n, d):
    v = rng.standard_normal((n, d)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True).astype(np.float32)
    return v


def times(rng, n, start="2024-01-01"):
    base = pd.Timestamp(start).value // 1000
    us = base + rng.integers(0, 600 * 86400, size=n) * 1_000_000 + rng.integers(0, 1_000_000, size=n)
    return pd.to_datetime(np.sort(us) * 1000)


def recruit_frame(n, d, seed):
    rng = np.random.default_rng(seed)
    skills = [sorted(set(SKILLS[int(i)] for i in rng.integers(0, len(SKILLS), size=int(rng.integers(1, 7)))))
              for _ in range(n)]
    return pd.DataFrame({
        "recruit_id": ["R%07d" % (i + 1) for i in range(n)],
        "title": [TITLES[int(i)] for i in rng.integers(0, len(TITLES), size=n)],
        "company": [COMPANIES[int(i)] for i in rng.integers(0, len(COMPANIES), size=n)],
        "description": [text(rng, 200, 400) for _ in range(n)],
        "location": [None if rng.random() < 0.03 else LOCATIONS[int(rng.integers(len(LOCATIONS)))] for _ in range(n)],
        "skills": skills,
        "min_career_years": rng.integers(0, 11, size=n).astype(np.int64),
        "created_at": times(rng, n),
        "embedding": list(unit_vectors(rng, n, d)),
    })


def candidate_frame(n, d, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "candidate_id": np.arange(100001, 100001 + n, dtype=np.int64),
        "name": [NAMES[int(i)] for i in rng.integers(0, len(NAMES), size=n)],
        "summary": [text(rng, 100, 300) for _ in range(n)],
        "skills": [sorted(set(SKILLS[int(i)] for i in rng.integers(0, len(SKILLS), size=int(rng.integers(0, 8)))))
                   for _ in range(n)],
        "career_years": rng.integers(0, 21, size=n).astype(np.int64),
        "updated_at": times(rng, n, "2025-01-01"),
        "embedding": list(unit_vectors(rng, n, d)),
    })


def recruit_records(df, vectors="list"):
    out = []
    for r in df.to_dict("records"):
        r["created_at"] = r["created_at"].to_pydatetime()
        r["min_career_years"] = int(r["min_career_years"])
        r["embedding"] = r["embedding"].tolist() if vectors == "list" else r["embedding"]
        out.append(r)
    return out


def candidate_records(df):
    out = []
    for r in df.to_dict("records"):
        r["candidate_id"] = int(r["candidate_id"])
        r["career_years"] = int(r["career_years"])
        # keeps pd.Timestamp and the per-row float32 ndarray, as to_dict gives them
        out.append(r)
    return out


def gen_samples(outdir):
    os.makedirs(outdir, exist_ok=True)
    rdf = recruit_frame(3000, 384, seed=2024)
    rdf.to_pickle(os.path.join(outdir, "processed_recruitment_data.pkl"), compression=None, protocol=5)
    cdf = candidate_frame(3000, 384, seed=2025)
    cdf.to_pickle(os.path.join(outdir, "processed_candidate_data.pkl"), compression=None, protocol=5)
    print("wrote %s/processed_recruitment_data.pkl and processed_candidate_data.pkl" % outdir)


def gen_bench(n, outdir, dims=(384, 768)):
    os.makedirs(outdir, exist_ok=True)
    for d in dims:
        df = recruit_frame(n, d, seed=7000 + d)
        p = os.path.join(outdir, "recruit_df_%d_d%d.pkl" % (n, d))
        df.to_pickle(p, compression=None, protocol=5)
        print(p)
        p = os.path.join(outdir, "recruit_records_%d_d%d.pkl" % (n, d))
        with open(p, "wb") as f:
            pickle.dump(recruit_records(df), f, protocol=4)
        print(p)
        p = os.path.join(outdir, "ndarray_%d_d%d.pkl" % (n, d))
        with open(p, "wb") as f:
            pickle.dump(unit_vectors(np.random.default_rng(9000 + d), n, d), f, protocol=5)
        print(p)


# ---------------------------------------------------------------------------
# Hostile inputs (raw opcode bytes)
# ---------------------------------------------------------------------------

PROTO = lambda p: b"\x80" + bytes([p])  # noqa: E731
STOP = b"."


def su(s):  # SHORT_BINUNICODE
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def bu(s):  # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def gen_hostile(w, fixtures_dir):
    R = ["refused"]
    # GLOBAL + REDUCE / INST / OBJ / NEWOBJ on dangerous callables.
    w.raw("global_os_system", b"cos\nsystem\n(S'echo pwned'\ntR.", error=(R, "system"))
    w.raw("global_posix_system", PROTO(2) + b"cposix\nsystem\nX\x02\x00\x00\x00idq\x00\x85R.", error=(R, "system"))
    w.raw("global_builtins_eval", PROTO(2) + b"cbuiltins\neval\n" + bu("1+1") + b"\x85R.", error=(R, "eval"))
    w.raw("global_builtin_eval_py2", b"c__builtin__\neval\n(S'1+1'\ntR.", error=(R, "eval"))
    w.raw("global_subprocess_popen", PROTO(2) + b"csubprocess\nPopen\n" + bu("id") + b"\x85R.", error=(R, "Popen"))
    w.raw("global_builtins_getattr", PROTO(2) + b"cbuiltins\ngetattr\ncbuiltins\nobject\n" + bu("__subclasses__") + b"\x86R)R.",
          error=(R, "getattr"))
    w.raw("global_builtins_import", PROTO(2) + b"cbuiltins\n__import__\n" + bu("os") + b"\x85R.", error=(R, "__import__"))
    w.raw("global_numpy_runstring", PROTO(2) + b"cnumpy.testing._private.utils\nrunstring\n" + bu("1") + b"}\x86R.",
          error=(R, "runstring"))
    w.raw("global_pandas_read_pickle", PROTO(2) + b"cpandas.io.pickle\nread_pickle\n" + bu("/tmp/x") + b"\x85R.",
          error=(R, "read_pickle"))
    w.raw("inst_os_system", b"(S'echo pwned'\nios\nsystem\n.", error=(R, "system"))
    w.raw("obj_os_system", PROTO(1) + b"(cos\nsystem\nU\x02ido.", error=(R, "system"))
    w.raw("newobj_subprocess_popen", PROTO(2) + b"csubprocess\nPopen\n" + bu("id") + b"\x85\x81.", error=(R, "Popen"))
    w.raw("stack_global_os_system", PROTO(4) + b"\x95\x00\x00\x00\x00\x00\x00\x00\x00" + su("os") + su("system") + b"\x93" + su("id") + b"\x85R.",
          error=(R, "system"))
    w.raw("stack_global_memo", PROTO(4) + su("os") + b"\x94" + su("system") + b"\x94" + b"h\x00h\x01\x93" + su("id") + b"\x85R.",
          error=(R, ""))
    w.raw("stack_global_builtins_exec", PROTO(4) + su("builtins") + su("exec") + b"\x93" + su("print(1)") + b"\x85R.",
          error=(R, "exec"))
    # STACK_GLOBAL whose operands are not strings pushed as constants.
    w.raw("stack_global_computed", PROTO(4) + b"cbuiltins\nstr\n" + su("os") + b"\x85R" + su("system") + b"\x93" + su("id") + b"\x85R.",
          error=(["refused", "malformed"], ""))
    # A dangerous global hidden as a record value (never called, but not data).
    w.raw("global_as_value", PROTO(2) + b"]}" + bu("f") + b"cos\nsystem\nsa.", error=(["refused", "unsupported"], ""))
    w.raw("ext1_opcode", PROTO(2) + b"\x82\x01" + bu("x") + b"\x85R.", error=(["invalid"], ""))
    w.raw("persid_opcode", b"P0\n.", error=(["invalid"], ""))
    w.raw("binpersid_opcode", PROTO(2) + bu("x") + b"Q.", error=(["invalid"], ""))

    # Length prefixes larger than the input.
    L = ["malformed", "limit"]
    w.raw("binunicode8_2pow40", PROTO(4) + b"\x8d" + struct.pack("<Q", 1 << 40) + b"x" * 80 + STOP, error=(L, ""))
    w.raw("binbytes8_2pow40", PROTO(4) + b"\x8e" + struct.pack("<Q", 1 << 40) + b"x" * 80 + STOP, error=(L, ""))
    w.raw("bytearray8_2pow40", PROTO(5) + b"\x96" + struct.pack("<Q", 1 << 40) + b"x" * 80 + STOP, error=(L, ""))
    w.raw("binbytes_4gib", PROTO(3) + b"B" + struct.pack("<I", 0xFFFFFFFF) + b"\x00" * 64 + STOP, error=(L, ""))
    w.raw("binunicode_4gib", PROTO(2) + b"X" + struct.pack("<I", 0xFFFFFFFF) + b"\x00" * 64 + STOP, error=(L, ""))
    w.raw("binstring_neg", PROTO(2) + b"T" + struct.pack("<i", -1) + b"\x00" * 16 + STOP, error=(L, ""))
    w.raw("long4_huge", PROTO(2) + b"\x8b" + struct.pack("<i", 0x7FFFFFFF) + b"\x01" * 16 + STOP, error=(L, ""))
    w.raw("frame_huge", PROTO(4) + b"\x95" + struct.pack("<Q", 1 << 50) + b"]." , error=(L, ""))
    w.raw("short_binbytes_past_end", PROTO(3) + b"C\xff" + b"ab", error=(L, ""))

    # Floods and nesting.
    w.raw("mark_flood_1mb", PROTO(2) + b"(" * (1 << 20) + STOP, error=(["limit", "malformed"], ""))
    w.raw("deep_nesting_lists", PROTO(2) + b"]" * 100000 + b"a" * 99999 + STOP, error=(["limit", "malformed", "unsupported"], ""))
    w.raw("deep_nesting_dicts", PROTO(2) + b"}" + (bu("k") + b"}") * 50000 + b"s" * 50000 + STOP,
          error=(["limit", "malformed", "unsupported"], ""))
    w.raw("deep_nesting_tuples", PROTO(2) + b"(" * 50000 + b")" + b"t" * 50000 + STOP,
          error=(["limit", "malformed", "unsupported"], ""))
    w.raw("deep_record_value", PROTO(2) + b"]}" + bu("v") + b"]" * 10000 + b"a" * 9999 + b"sa" + STOP,
          error=(["limit", "malformed", "unsupported"], ""))

    # Memo abuse.
    w.raw("memo_binget_undefined", PROTO(2) + b"]h\x05." , error=(["malformed"], ""))
    w.raw("memo_long_binget_undefined", PROTO(2) + b"]j\xff\xff\xff\x7f.", error=(["malformed"], ""))
    w.raw("memo_long_binput_huge", PROTO(2) + b"]r\xf0\xff\xff\xff.", error=(["invalid"], ""))
    w.raw("memo_get_text_undefined", b"(lp0\ng99\na.", error=(["malformed"], ""))
    w.raw("memoize_then_get_wrong", PROTO(4) + b"]\x94h\x01.", error=(["malformed"], ""))

    # Structure errors that crash naive unpicklers.
    M = ["malformed"]
    w.raw("empty_file", b"", error=(M, ""))
    w.raw("lone_ff", b"\xff", error=(M, ""))
    w.raw("protocol6", PROTO(6) + b"]." , error=(["malformed", "unsupported"], ""))
    w.raw("protocol_255", PROTO(255) + b"]." , error=(["malformed", "unsupported"], ""))
    w.raw("no_stop", PROTO(2) + b"]}" + bu("a") + b"K\x01sa", error=(M, ""))
    w.raw("stop_only", PROTO(2) + STOP, error=(M, ""))
    w.raw("dict_odd_count", PROTO(2) + b"](" + bu("a") + b"da.", error=(M, ""))
    w.raw("dict_odd_count3", PROTO(2) + b"](" + bu("a") + b"K\x01" + bu("b") + b"da.", error=(M, ""))
    w.raw("setitems_odd_count", PROTO(2) + b"]}(" + bu("a") + b"ua.", error=(M, ""))
    w.raw("setitem_empty_stack", PROTO(2) + b"s.", error=(M, ""))
    w.raw("append_to_int", PROTO(2) + b"K\x01K\x02a.", error=(M, ""))
    w.raw("setitem_on_list", PROTO(2) + b"]" + bu("a") + b"K\x01s.", error=(M, ""))
    w.raw("build_on_int", PROTO(2) + b"K\x01}b.", error=(M, ""))
    w.raw("reduce_on_nonglobal", PROTO(2) + b"K\x01)R.", error=(M, ""))
    w.raw("pop_mark_empty", PROTO(2) + b"1.", error=(M, ""))
    w.raw("pop_empty", PROTO(2) + b"0.", error=(M, ""))
    w.raw("dup_empty", PROTO(2) + b"2.", error=(M, ""))
    w.raw("tuple1_empty", PROTO(2) + b"\x85.", error=(M, ""))
    w.raw("unhashable_key", PROTO(2) + b"]}]K\x01sa.", error=(M, "" ))
    w.raw("bad_utf8", PROTO(2) + b"]}X\x01\x00\x00\x00\xffK\x01sa.", error=(M, ""))
    w.raw("bad_text_int", b"(lp0\n(dp1\nS'a'\nIabc\nsa.", error=(M, ""))
    w.raw("bad_text_float", b"(lp0\n(dp1\nS'a'\nF1.2.3\nsa.", error=(M, ""))
    w.raw("bad_text_string_quote", b"(lp0\n(dp1\nS'a\nI1\nsa.", error=(M, ""))
    # Bytes after STOP are read as further pickles (appended pickles, doc.go):
    # junk there is refused, never ignored; zero bytes pad the file.
    w.raw("trailing_garbage_after_stop", PROTO(2) + b"]}" + bu("a") + b"K\x01sa." + b"\x00junk",
          error=(M, "do not start another pickle"))
    w.raw("trailing_zeros_after_stop", PROTO(2) + b"]}" + bu("a") + b"K\x01sa." + b"\x00" * 64,
          expect=lambda: ([Col("a", "INT64", [1])], 1))
    w.raw("appended_two_pickles", PROTO(2) + b"]}" + bu("a") + b"K\x01sa." + PROTO(4) + b"]}" + bu("a") + b"G\x3f\xf8\x00\x00\x00\x00\x00\x00sa.",
          expect=lambda: ([Col("a", "DOUBLE", [1.0, 1.5])], 2))
    w.raw("appended_truncated", PROTO(2) + b"]}" + bu("a") + b"K\x01sa." + PROTO(4) + b"]}" + bu("a"),
          error=(M, "pickle 2 of the file"))
    # LONG1 with an empty payload is valid and means 0.
    w.raw("long1_empty_valid", PROTO(2) + b"]}" + bu("a") + b"\x8a\x00sa.", expect=lambda: ([Col("a", "INT64", [0])], 1))
    w.raw("long_text_valid", b"(lp0\n(dp1\nVa\np2\nL12345678901234L\nsa.", expect=lambda: ([Col("a", "INT64", [12345678901234])], 1))
    assert pickle.loads(PROTO(2) + b"]}" + bu("a") + b"\x8a\x00sa.") == [{"a": 0}]

    # Huge integers (LONG4): converting them to decimal text is quadratic-ish;
    # a loader must refuse without printing them (CPython itself refuses
    # int->str beyond 4300 digits).
    big = 7 ** 400000  # ~340k decimal digits in 140 KB of pickle
    w.raw("long4_huge_int_value", pickle.dumps([{"v": big}], protocol=4), error=(["invalid"], ""))
    w.raw("long4_huge_int_in_json", pickle.dumps([{"v": "a"}, {"v": big}], protocol=4), error=(["invalid"], ""))
    w.raw("long_text_huge_int", b"(lp0\n(dp1\nVv\np2\nL" + b"9" * 200000 + b"L\nsa.", error=(["invalid"], ""))

    # Cycles and shared references.
    cyc = []
    cyc.append({"self": cyc})
    w.raw("self_referencing_list", pickle.dumps(cyc, protocol=2), error=(["invalid"], ""))
    d = {"a": 1}
    d["me"] = d
    w.raw("self_referencing_dict", pickle.dumps([d], protocol=4), error=(["invalid"], ""))
    top = [0]
    for _ in range(30):
        top = [top, top]
    w.raw("billion_laughs", pickle.dumps([{"v": top}], protocol=4), error=(["limit", "invalid"], ""))
    s = "x" * 1000
    w.raw("shared_string_amplification", pickle.dumps([{"v": [s] * 200000}], protocol=4), error=(["limit"], ""))

    # Amplification through shared references across rows: a small file
    # whose table would be hundreds of MB (the decoded-size limit applies).
    n = 50000
    w.raw("amplify_rows_string", pickle.dumps([{"s": "x" * 10000} for _ in range(1)] * n, protocol=4), error=(["limit"], ""))
    vec = np.zeros(1536, dtype=np.float32)
    w.raw("amplify_rows_vector", pickle.dumps([{"e": vec} for _ in range(n)], protocol=4), error=(["limit"], ""))
    d = {"k%d" % i: i for i in range(2000)}
    w.raw("amplify_rows_json", pickle.dumps([{"e": d} for _ in range(n)], protocol=4), error=(["limit"], ""))

    # Truncations of real fixtures.
    for src in ("df_protocol4", "records_protocol2", "ndarray_f32"):
        data = open(os.path.join(fixtures_dir, src + ".pkl"), "rb").read()
        for off in sorted({1, 2, 3, len(data) // 3, len(data) // 2, len(data) - 2, len(data) - 1}):
            w.raw("truncated_%s_at_%d" % (src, off), data[:off], error=(["malformed", "limit"], ""))

    # Random bytes (seeded); keep those Python's disassembler rejects too.
    rnd = random.Random(1234)
    made = 0
    while made < 6:
        size = [1, 16, 256, 4096, 65536, 9][made]
        b = bytes(rnd.getrandbits(8) for _ in range(size))
        try:
            pickletools.dis(b, out=io.StringIO())
            continue  # structurally valid by chance: skip
        except Exception:
            pass
        w.raw("random_%d_%d" % (made, size), b, error=(["invalid"], ""))
        made += 1
    rnd2 = random.Random(99)
    for i in range(3):
        b = PROTO(4) + bytes(rnd2.getrandbits(8) for _ in range(512))
        w.raw("random_proto4_%d" % i, b, error=(["invalid"], ""))


# ---------------------------------------------------------------------------
# Conformance expectations for ../shared/pickle-corpus
# ---------------------------------------------------------------------------

def gen_conformance(corpus, outbase):
    """Expected JSONL for every DataFrame/Series of the 1.5.3 split files and
    the pandas-legacy files, computed by unpickling them with pandas 1.5.3
    (trusted corpus data; pd.read_pickle for the Python 2 files)."""
    gen_conformance_dir(os.path.join(corpus, "pandas-generated", "1.5.3", "split"), os.path.join(outbase, "1.5.3"))
    gen_conformance_dir(os.path.join(corpus, "pandas-legacy"), os.path.join(outbase, "legacy"))


def densify(obj):
    """A SparseArray-backed Series, or a DataFrame of only sparse columns, as
    pandas densifies it (.sparse.to_dense(): unstored positions hold the fill
    value, the dtype becomes the sparse subtype), so its expectation is that
    of the dense object; anything else is returned unchanged (a frame mixing
    sparse and dense columns keeps its note)."""
    if isinstance(obj, pd.Series) and isinstance(obj.dtype, pd.SparseDtype):
        return obj.sparse.to_dense()
    if isinstance(obj, pd.DataFrame) and len(obj.columns) and all(isinstance(t, pd.SparseDtype) for t in obj.dtypes):
        return obj.sparse.to_dense()
    return obj


def gen_conformance_dir(split, outdir):
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        os.remove(os.path.join(outdir, f))
    for name in sorted(os.listdir(split)):
        stem = name[:-4]
        obj = densify(pd.read_pickle(os.path.join(split, name), compression=None))
        note = None
        try:
            if isinstance(obj, pd.DataFrame):
                cols, n = expect_frame(obj)
            elif isinstance(obj, pd.Series):
                cols, n = expect_series(obj)
            else:
                raise ExpectError(["invalid", "unsupported"], "")
        except ExpectError as e:
            with open(os.path.join(outdir, stem + ".error.txt"), "w") as fh:
                fh.write("|".join(e.classes) + "\n" + e.substring + "\n")
            continue
        except (ValueError, TypeError) as e:
            with open(os.path.join(outdir, stem + ".note.txt"), "w") as fh:
                fh.write("%s: %s\n" % (type(obj).__name__, e))
            continue
        with open(os.path.join(outdir, stem + ".jsonl"), "w", encoding="utf-8") as fh:
            fh.write(jsonl(cols, n))
        if note:
            with open(os.path.join(outdir, stem + ".note.txt"), "w") as fh:
                fh.write(note + "\n")


# ---------------------------------------------------------------------------
# Real-world files (issue 13): compressed containers, .npy/.npz, joblib dumps,
# appended pickles, dicts keyed by id, hostile containers, foreign formats.
# ---------------------------------------------------------------------------

FORMATS_EXPECT_EXTS = (".jsonl", ".schema.json", ".error.txt", ".pickled")


class FormatWriter:
    """Writes formats/<file> (any name: the extension is part of the case)
    plus <file>.jsonl and <file>.schema.json (the load must succeed) or
    <file>.error.txt (it must fail), and optionally <file>.pickled: the
    pickle of the same object (a .npy file's array), whose table must equal
    the file's."""

    def __init__(self, outdir):
        self.outdir = outdir
        os.makedirs(outdir, exist_ok=True)
        self.count = 0

    def path(self, name):
        return os.path.join(self.outdir, name)

    def expect(self, name, expect=None, error=None, pickled=None):
        """Expectation of the file already written at name: expect is a thunk
        giving (cols, nrows) from what CPython's own reader returned."""
        assert os.path.exists(self.path(name)), name
        self.count += 1
        if error is None:
            try:
                cols, n = expect()
            except ExpectError as e:
                error = (e.classes, e.substring)
            else:
                with open(self.path(name + ".jsonl"), "w", encoding="utf-8") as f:
                    f.write(jsonl(cols, n))
                with open(self.path(name + ".schema.json"), "w", encoding="utf-8") as f:
                    f.write(schema(cols))
        if error is not None:
            with open(self.path(name + ".error.txt"), "w", encoding="utf-8") as f:
                f.write("|".join(error[0]) + "\n" + error[1] + "\n")
        if pickled is not None:
            with open(self.path(name + ".pickled"), "wb") as f:
                f.write(pickled)

    def write(self, name, data, **kw):
        with open(self.path(name), "wb") as f:
            f.write(data)
        self.expect(name, **kw)


class frozen_time:
    """Pins time.time() (gzip, zip and tar headers carry it) so that the
    output is deterministic."""

    def __enter__(self):
        import time
        self.time, self.saved = time, time.time
        time.time = lambda: 1735732800.0  # 2025-01-01T12:00:00Z

    def __exit__(self, *exc):
        self.time.time = self.saved


def emb_frame(seed=3, rows=5, dim=8):
    """A small table as data teams write them: ids, text, numbers, a
    timestamp and a float32 embedding per row."""
    df = small_frame(seed=seed, rows=rows)
    rng = np.random.default_rng(seed)
    df["embedding"] = [v for v in rng.standard_normal((rows, dim)).astype(np.float32)]
    return df


def expect_npy(a):
    """The table of a numpy array, as for a pickled one (doc.go): 2-D is one
    FLOAT_VECTOR column "embedding", 1-D one column "value"."""
    if a.ndim == 2:
        if a.dtype.kind not in "fiu":
            raise ExpectError(["invalid", "unsupported"], "")
        return expect_matrix(a)
    if a.ndim == 1:
        return [column_from_series(UNNAMED_SERIES, pd.Series(a))], len(a)
    raise ExpectError(["invalid", "unsupported"], "dimensions")


def concat_expect(parts):
    """Tables of appended pickles, concatenated (doc.go, Appended pickles):
    the same column names in the same order in every pickle that is not an
    empty list; a column's type is the pickles' type when they agree, else
    inference over all values as one list, told from the types (a JSON
    column of nulls only, or any column of a pickle without rows, adds
    none): INT64 and DOUBLE make DOUBLE, other mixes JSON (values keep their
    canonical JSON form); FLOAT_VECTOR mixed with another type or length is
    refused."""
    parts = [(cols, n) for cols, n in parts if cols or n]
    if not parts:
        return [], 0
    first = parts[0][0]
    for cols, _ in parts[1:]:
        if [c.name for c in cols] != [c.name for c in first]:
            raise ExpectError(["unsupported"], "does not continue the table of pickle")
    out, total = [], sum(n for _, n in parts)
    for j, c0 in enumerate(first):
        col = [cols[j] for cols, _ in parts]
        if all((c.type, c.dim) == (c0.type, c0.dim) for c in col):
            out.append(Col(c0.name, c0.type, [v for c in col for v in c.values], c0.dim))
            continue
        live = [c for c in col if c.values and not (c.type == "JSON" and all(v is None for v in c.values))]
        types = {c.type for c in live}
        if "FLOAT_VECTOR" in types and len(types) > 1:
            raise ExpectError(["unsupported"], "FLOAT_VECTOR")
        if "FLOAT_VECTOR" in types and len({c.dim for c in live}) > 1:
            raise ExpectError(["unsupported"], "vectors of length")
        typ = types.pop() if len(types) == 1 else "DOUBLE" if types and types <= {"INT64", "DOUBLE"} else "JSON"
        vals = [v for c in col for v in c.values]
        if typ == "DOUBLE":
            vals = [None if v is None else float(v) for v in vals]
        out.append(Col(c0.name, typ, vals, live[0].dim if live else 0))
    return out, total


def load_appended(path):
    out = []
    with open(path, "rb") as f:
        while True:
            try:
                out.append(pickle.load(f))
            except EOFError:
                return out


def dict_rows(records, key="index"):
    """Rows of a dict keyed by id: the key as a leading column, then the
    fields in first-seen order."""
    return expect_records([dict([(key, k)] + list(v.items())) for k, v in records])


def one_type(vals):
    """The values make a typed column (doc.go: inference gives no JSON of
    mixed kinds)."""
    ks = {kind(v)[0] for v in vals if not is_null(v)}
    return len(ks) <= 1 or ks == {"int", "float"}


def keyed_expect(d, hint=""):
    """A dict of dicts by the loader's rule (doc.go, Dicts keyed by id)."""
    inner = list(d.values())
    if not d or not all(isinstance(v, dict) for v in inner):
        return expect_records([d])
    keys = list(inner[0].keys())
    if not keys or any(set(v.keys()) != set(keys) or len(v) != len(keys) for v in inner):
        return expect_records([d])
    outer = list(d.keys())
    orient = None
    if hint:
        in_o, in_i = hint in map(str, outer), hint in map(str, keys)
        orient = "index" if in_i and not in_o else "dict" if in_o and not in_i else None
    if orient is None:
        by_inner = all(one_type([v[k] for v in inner]) for k in keys)
        by_outer = all(one_type(list(v.values())) for v in inner)
        orient = "index" if by_inner and not by_outer else "dict" if by_outer and not by_inner else None
    if orient is None:
        str_i, str_o = all(isinstance(k, str) for k in keys), all(isinstance(k, str) for k in outer)
        orient = "index" if str_i and not str_o else "dict" if str_o and not str_i else None
    if orient is None:
        raise ExpectError(["unsupported"], "orientation cannot be told")
    cols = keys if orient == "index" else outer
    key = next(n for n in (hint, "index", "level_0") if n and n not in map(str, cols))
    if orient == "index":
        return dict_rows([(k, {c: d[k][c] for c in keys}) for k in outer], key)
    return dict_rows([(r, {c: d[c][r] for c in outer}) for r in keys], key)


def tar_bytes(members):
    """A tar archive of (TarInfo, data or None) members, deterministic."""
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            info.mtime = 1735732800
            if data is not None:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def zip_bytes(members, method=None):
    """A zip archive of (name, data) members, deterministic."""
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED if method is None else method) as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 12, 0, 0))
            zi.compress_type = z.compression
            z.writestr(zi, data)
    return buf.getvalue()


def gen_formats(outdir):
    import bz2
    import gzip
    import lzma
    import tarfile
    import zipfile
    import zlib

    import joblib
    import zstandard

    os.environ["TZ"] = "UTC"
    import time
    time.tzset()

    w = FormatWriter(outdir)
    for f in os.listdir(outdir):
        os.remove(os.path.join(outdir, f))
    df = emb_frame()
    pkl = pickle.dumps(df, protocol=5)

    # --- df.to_pickle with every compression pandas infers from the name ---
    with frozen_time():
        for ext in ("gz", "bz2", "xz", "zip", "zst", "tar", "tar.gz", "tar.bz2", "tar.xz"):
            name = "df.pkl." + ext
            df.to_pickle(w.path(name))  # compression="infer", as users call it
            back = pd.read_pickle(w.path(name))
            w.expect(name, expect=lambda back=back: expect_frame(back))
        # gzip (and zstd) under a plain .pkl name: only the magic bytes say so
        for method, name in (("gzip", "df_gzip_named.pkl"), ("zstd", "df_zstd_named.pkl"), ("bz2", "df_bz2_named.pickle")):
            df.to_pickle(w.path(name), compression=method)
            back = pd.read_pickle(w.path(name), compression=method)
            w.expect(name, expect=lambda back=back: expect_frame(back))
        # the gzip.open + pickle.dump idiom, a list of dicts, protocol 2
        recs = small_records(5)
        with gzip.open(w.path("records.pkl.gz"), "wb") as f:
            pickle.dump(recs, f, protocol=2)
        with gzip.open(w.path("records.pkl.gz"), "rb") as f:
            back = pickle.load(f)
        w.expect("records.pkl.gz", expect=lambda: expect_records(back))
        # a multi-member gzip (two gzip streams one after another: one pickle)
        half = len(pkl) // 2
        w.write("df_multimember.pkl.gz", gzip.compress(pkl[:half], mtime=0) + gzip.compress(pkl[half:], mtime=0),
                expect=lambda: expect_frame(pd.read_pickle(io.BytesIO(gzip.decompress(
                    gzip.compress(pkl[:half], mtime=0) + gzip.compress(pkl[half:], mtime=0))), compression=None)))
        # an ndarray pickle, xz-compressed with the xz tool's format
        arr = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
        w.write("ndarray.pkl.xz", lzma.compress(pickle.dumps(arr, protocol=4)), expect=lambda: expect_matrix(arr))

    # --- NumPy .npy (np.save) and .npz (np.savez, np.savez_compressed) ---
    rng = np.random.default_rng(13)
    npys = {
        "npy_f32_2d": rng.standard_normal((6, 16)).astype(np.float32),
        "npy_f64_2d": rng.standard_normal((5, 7)),
        "npy_f32_fortran": np.asfortranarray(rng.standard_normal((5, 3)).astype(np.float32)),
        "npy_f32_bigendian": rng.standard_normal((3, 4)).astype(">f4"),
        "npy_f16_2d": rng.standard_normal((2, 3)).astype(np.float16),
        "npy_int_2d": np.array([[1, 2, 3], [4, 5, -6]], dtype=np.int64),
        "npy_zero_rows": np.zeros((0, 384), dtype=np.float32),
        "npy_int_1d": np.array([3, -1, 2**40, 0], dtype=np.int64),
        "npy_u8_1d": np.array([0, 255, 7], dtype=np.uint8),
        "npy_f64_1d": np.array([1.5, np.nan, -3.0, np.inf]),
        "npy_bool_1d": np.array([True, False, True]),
        "npy_str_1d": np.array(["a", "한국어", "😀🚀", ""]),
        "npy_bytes_1d": np.array([b"x", b"yz\x00", b""]),
        "npy_datetime_1d": np.array(["2025-01-01T00:00:00", "NaT", "1969-12-31T23:59:59.999999"], dtype="datetime64[us]"),
        "npy_nan_rows": np.array([[1, 2], [np.nan, np.nan], [3, 4]], dtype=np.float32),
        "npy_inf_row": np.array([[1, np.inf], [3, 4]], dtype=np.float32),
        "npy_3d": np.zeros((2, 2, 2), dtype=np.float32),
        "npy_scalar": np.array(7.5),
    }
    for name, a in npys.items():
        np.save(w.path(name + ".npy"), a, allow_pickle=False)
        back = np.load(w.path(name + ".npy"), allow_pickle=False)
        assert back.dtype == a.dtype and back.shape == a.shape
        if name == "npy_inf_row":
            exp = dict(error=(["invalid", "unsupported"], "NaN or ±Inf"))
        elif name == "npy_scalar":
            exp = dict(expect=lambda back=back: ([column_from_series(UNNAMED_SERIES, pd.Series([back.item()]))], 1))
        elif name == "npy_nan_rows":
            exp = dict(expect=lambda: ([Col("embedding", "FLOAT_VECTOR", [[1.0, 2.0], None, [3.0, 4.0]], 2)], 3))
        else:
            exp = dict(expect=lambda back=back: expect_npy(back))
        w.expect(name + ".npy", pickled=pickle.dumps(back, protocol=4), **exp)
    a = rng.standard_normal((3, 5)).astype(np.float32)
    for version in ((1, 0), (2, 0), (3, 0)):
        name = "npy_v%d.npy" % version[0]
        with open(w.path(name), "wb") as f:
            np.lib.format.write_array(f, a, version=version, allow_pickle=False)
        back = np.load(w.path(name))
        w.expect(name, expect=lambda back=back: expect_npy(back), pickled=pickle.dumps(back, protocol=4))
    # refused and malformed .npy files
    np.save(w.path("npy_object.npy"), np.array(["a", None, 3], dtype=object), allow_pickle=True)
    w.expect("npy_object.npy", error=(["refused"], "allow_pickle"))
    np.save(w.path("npy_structured.npy"), np.array([(1, 2.0)], dtype=[("id", "<i8"), ("x", "<f8")]))
    w.expect("npy_structured.npy", error=(["unsupported"], "structured dtype"))
    full = open(w.path("npy_f32_2d.npy"), "rb").read()
    w.write("npy_truncated.npy", full[:-10], error=(["malformed"], "truncated"))
    buf = io.BytesIO()
    np.save(buf, a)
    np.save(buf, a)  # two arrays saved to one open file: np.load reads the first only
    w.write("npy_two_arrays.npy", buf.getvalue(), error=(["unsupported"], "np.savez"))
    hdr_bad = full.replace(b"'fortran_order': False", b"'fortran_order': 0    ", 1)
    assert hdr_bad != full
    w.write("npy_bad_header.npy", hdr_bad, error=(["malformed"], "fortran_order"))
    hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }" + b" " * 20000 + b"\n"
    w.write("npy_huge_header.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", len(hdr)) + hdr + b"\x00" * 4,
            error=(["limit"], "header"))
    with gzip.GzipFile(w.path("npy_f32_2d.npy.gz"), "wb", mtime=0) as f:
        f.write(full)
    w.expect("npy_f32_2d.npy.gz", expect=lambda: expect_npy(np.load(w.path("npy_f32_2d.npy"))))

    cols = {"id": np.arange(100, 106, dtype=np.int64), "embedding": rng.standard_normal((6, 4)).astype(np.float32),
            "title": np.array(["a", "bb", "한", "d", "e", "f"]), "score": np.linspace(0, 1, 6)}
    with frozen_time():
        for name, save in (("npz_plain.npz", np.savez), ("npz_compressed.npz", np.savez_compressed)):
            save(w.path(name), **cols)
            back = dict(np.load(w.path(name), allow_pickle=False))
            w.expect(name, expect=lambda back=back: expect_columns(back), pickled=pickle.dumps(back, protocol=4))
        np.savez(w.path("npz_positional.npz"), np.arange(3), rng.standard_normal((3, 2)))
        back = dict(np.load(w.path("npz_positional.npz")))
        w.expect("npz_positional.npz", expect=lambda back=back: expect_columns(back), pickled=pickle.dumps(back, protocol=4))
        np.savez(w.path("npz_unequal.npz"), ids=np.arange(3), embedding=np.zeros((4, 2), dtype=np.float32))
        w.expect("npz_unequal.npz", error=(["unsupported"], "column of 4 values"))
        np.savez(w.path("npz_object.npz"), ids=np.arange(2), o=np.array([{"a": 1}, None], dtype=object))
        w.expect("npz_object.npz", error=(["refused"], "allow_pickle"))
        w.write("npz_not_npy_member.npz", zip_bytes([("ids.npy", open(w.path("npy_int_1d.npy"), "rb").read()),
                                                     ("notes.txt", b"hello")], zipfile.ZIP_STORED),
                error=(["unsupported"], "not a .npy"))

    # --- joblib dumps: each with the pickle of what joblib.load returns ---
    jarr = np.random.default_rng(21).standard_normal((4, 5)).astype(np.float32)
    jdict = {"ids": np.arange(4, dtype=np.int64), "embedding": jarr}
    for name, obj in (("joblib_df", df), ("joblib_ndarray", jarr), ("joblib_dict", jdict)):
        for suffix, kw in (("", {}), ("_compress3", {"compress": 3})):
            fname = name + suffix + ".joblib"
            joblib.dump(obj, w.path(fname), **kw)
            back = joblib.load(w.path(fname))
            w.expect(fname, expect=lambda back=back: expect_any(back), pickled=pickle.dumps(back, protocol=4))
    # every pickle protocol (0 and 1 build the wrapper with copyreg._reconstructor)
    for p in (0, 1, 2, 3, 5):
        fname = "joblib_dict_p%d.joblib" % p
        joblib.dump(jdict, w.path(fname), protocol=p)
        back = joblib.load(w.path(fname))
        w.expect(fname, expect=lambda back=back: expect_any(back), pickled=pickle.dumps(back, protocol=4))
    # every array layout: C and F order, big-endian, each dtype, object arrays
    # (pickled inline by joblib: str with None, lists), datetimes
    jr = np.random.default_rng(22)
    jcols = {
        "ids": np.arange(10, 16, dtype=np.int32),
        "embedding": np.asfortranarray(jr.standard_normal((6, 3)).astype(np.float32)),
        "score": jr.standard_normal(6).astype(">f8"),
        "flag": np.array([True, False, True, True, False, False]),
        "when": np.array(["2025-01-01T00:00:00", "NaT", "2025-03-01T12:30:00", "2024-02-29T00:00:00",
                          "1970-01-01T00:00:00", "2030-12-31T23:59:59"], dtype="datetime64[us]"),
        "label": np.array(["a", "한국어", "😀", "", "bb", "c"]),
        "raw": np.array([b"x", b"", b"yz", b"\x01", b"q", b"r"]),
        "name": np.array(["x", None, "y", "z", None, "w"], dtype=object),
        "tags": np.array([["a"], [], ["b", "c"], ["d"], [], ["e"]] + [None], dtype=object)[:6],
    }
    joblib.dump(jcols, w.path("joblib_arrays.joblib"))
    back = joblib.load(w.path("joblib_arrays.joblib"))
    w.expect("joblib_arrays.joblib", expect=lambda: expect_columns(back), pickled=pickle.dumps(back, protocol=4))
    jframe = emb_frame(seed=9).set_index("name")
    jframe["cat"] = pd.Categorical(["a", "b", "a", "c", "b"])
    jframe["when_tz"] = pd.date_range("2025-01-01", periods=5, freq="H", tz="Europe/Paris")
    joblib.dump(jframe, w.path("joblib_frame_index.joblib"))
    back = joblib.load(w.path("joblib_frame_index.joblib"))
    w.expect("joblib_frame_index.joblib", expect=lambda: expect_frame(back), pickled=pickle.dumps(back, protocol=4))
    jseries = pd.Series(jr.standard_normal(4), index=["a", "b", "c", "d"], name="score")
    joblib.dump(jseries, w.path("joblib_series.joblib"))
    back = joblib.load(w.path("joblib_series.joblib"))
    w.expect("joblib_series.joblib", expect=lambda: expect_series(back), pickled=pickle.dumps(back, protocol=4))
    jrecs = [{"id": i, "emb": jr.standard_normal(4).astype(np.float32), "title": "t%d" % i} for i in range(5)]
    joblib.dump(jrecs, w.path("joblib_records.joblib"))  # a wrapper per record, one dtype shared through the memo
    back = joblib.load(w.path("joblib_records.joblib"))
    w.expect("joblib_records.joblib", expect=lambda: expect_records(back), pickled=pickle.dumps(back, protocol=4))
    j1d = np.array([5, -3, 2**40], dtype=np.int64)
    joblib.dump(j1d, w.path("joblib_1d.joblib"))
    back = joblib.load(w.path("joblib_1d.joblib"))
    w.expect("joblib_1d.joblib", expect=lambda: expect_npy(back), pickled=pickle.dumps(back, protocol=4))
    joblib.dump(np.array(7.5), w.path("joblib_scalar.joblib"))
    back = joblib.load(w.path("joblib_scalar.joblib"))
    w.expect("joblib_scalar.joblib", expect=lambda: ([column_from_series(UNNAMED_SERIES, pd.Series([back.item()]))], 1),
             pickled=pickle.dumps(back, protocol=4))
    import tempfile
    with tempfile.TemporaryDirectory() as td:
        mm = np.memmap(os.path.join(td, "m.dat"), dtype=np.float32, mode="w+", shape=(3, 4))
        mm[:] = jr.standard_normal((3, 4))
        joblib.dump(mm, w.path("joblib_memmap.joblib"))
        del mm
    back = joblib.load(w.path("joblib_memmap.joblib"))
    w.expect("joblib_memmap.joblib", expect=lambda: expect_matrix(back), pickled=pickle.dumps(np.asarray(back), protocol=4))
    # refused and malformed joblib dumps
    joblib.dump(np.zeros((2, 2, 2), dtype=np.float32), w.path("joblib_3d.joblib"))
    w.expect("joblib_3d.joblib", error=(["unsupported"], "3 dimensions"))
    joblib.dump(np.matrix([[1.0, 2.0], [3.0, 4.0]]), w.path("joblib_matrix.joblib"))
    w.expect("joblib_matrix.joblib", error=(["refused"], "numpy.matrix"))

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    joblib.dump(np.array([Evil(), 1], dtype=object), w.path("joblib_object_evil.joblib"))  # never joblib.load it
    w.expect("joblib_object_evil.joblib", error=(["refused"], "system is not allowed"))
    plain = open(w.path("joblib_ndarray.joblib"), "rb").read()
    w.write("joblib_truncated.joblib", plain[:-30], error=(["malformed"], "truncated"))
    flen = struct.unpack("<Q", plain[3:11])[0]
    w.write("joblib_frame_over_data.joblib", plain[:3] + struct.pack("<Q", flen + 16) + plain[11:],
            error=(["malformed"], "inside a pickle frame"))
    b = io.BytesIO()
    joblib.dump(np.arange(3, dtype=np.int16), b, protocol=2)
    p2 = b.getvalue()
    assert p2.count(b")\x81q\x01}") == 1
    w.write("joblib_wrapper_from_memo.joblib", p2.replace(b")\x81q\x01}", b")\x81q\x010h\x01}"),
            error=(["unsupported"], "read from the memo"))
    w.write("joblib_wrapper_args.joblib", p2.replace(b")\x81q\x01}", b"K\x01\x85\x81q\x01}"),
            error=(["refused"], "built with arguments"))
    w.write("joblib_old_wrapper.joblib", b"\x80\x02cjoblib.numpy_pickle\nNDArrayWrapper\nq\x00)\x81q\x01.",
            error=(["refused"], "joblib >= 0.10"))
    # a NumpyArrayWrapper claiming a huge shape, its array bytes few
    b = io.BytesIO()
    joblib.dump(np.zeros((2, 3), dtype=np.float32), b)
    raw = b.getvalue()
    shape_old = b"\x8c\x05shape\x94K\x02K\x03\x86"
    shape_new = b"\x8c\x05shape\x94J\xff\xff\xff\x7fJ\x00\x01\x00\x00\x86"
    assert raw.count(shape_old) == 1 and raw[2] == 0x95
    raw = raw.replace(shape_old, shape_new)
    flen = struct.unpack("<Q", raw[3:11])[0] + len(shape_new) - len(shape_old)
    raw = raw[:3] + struct.pack("<Q", flen) + raw[11:]
    w.write("joblib_huge_shape.joblib", raw, error=(["limit"], "claims more bytes than the limit"))

    # --- several pickles appended to one file (pickle.dump in a loop, "ab") ---
    batches = [small_records(5) for _ in range(3)]
    for i, bt in enumerate(batches):
        for r in bt:
            r["id"] += 5 * i
    with open(w.path("appended_records.pkl"), "wb") as f:
        for bt in batches:
            pickle.dump(bt, f, protocol=4)
    back = load_appended(w.path("appended_records.pkl"))
    assert len(back) == 3
    w.expect("appended_records.pkl", expect=lambda: concat_expect([expect_records(bt) for bt in back]))
    frames = [emb_frame(seed=s, rows=4) for s in (1, 2, 3)]
    with open(w.path("appended_frames.pkl"), "wb") as f:
        for fr in frames:
            fr.to_pickle(f, compression=None)
    back = load_appended(w.path("appended_frames.pkl"))
    w.expect("appended_frames.pkl", expect=lambda: concat_expect([expect_frame(fr) for fr in back]))
    with open(w.path("appended_different.pkl"), "wb") as f:
        pickle.dump(batches[0], f, protocol=4)
        pickle.dump([{"other": 1.5, "name": "x"}], f, protocol=4)
    w.expect("appended_different.pkl", error=(["invalid", "unsupported"], ""))

    def appended(name, objs, protocol=4, tail=b"", parts=None, **kw):
        """Pickles one after another (pickle.dump in a loop), expected as
        CPython's pickle.load in a loop reads them (parts: their tables)."""
        with open(w.path(name), "wb") as f:
            for o in objs:
                if isinstance(o, pd.DataFrame):
                    o.to_pickle(f, compression=None, protocol=protocol)
                else:
                    pickle.dump(o, f, protocol=protocol)
            f.write(tail)
        if kw:
            w.expect(name, **kw)
            return
        back = load_appended(w.path(name)) if not tail.strip(b"\0") else None
        w.expect(name, expect=lambda: concat_expect([parts(o) if parts else expect_any(o) for o in back]))

    # DataFrames whose dtypes differ between batches: float64 and int64 make DOUBLE
    fa, fb = emb_frame(seed=4, rows=3), emb_frame(seed=5, rows=2)
    fb["score"] = [3, 4]
    fb["name"] = [None, None]  # an object column of nulls only: adds no type
    appended("appended_frames_dtypes.pkl", [fa, fb])
    rec = lambda i, v: {"id": i, "v": v, "note": None if i < 3 else "n%d" % i}
    appended("appended_records_types.pkl", [[rec(0, "text"), rec(1, "more")], [rec(2, {"a": 1})], [rec(3, None), rec(4, 2)]],
             parts=lambda o: expect_records(o))
    appended("appended_empty_batch.pkl", [small_records(2), [], small_records(3)], parts=lambda o: expect_records(o))
    appended("appended_single_records.pkl", [{"id": i, "score": i / 4, "name": "n%d" % i} for i in range(200)],
             protocol=2, parts=lambda o: expect_records([o]))
    zrecs = small_records(3)
    appended("appended_trailing_zeros.pkl", [zrecs], tail=b"\0" * 100, expect=lambda: expect_records(zrecs))
    appended("appended_vector_lengths.pkl", [[{"emb": [1.0, 2.0, 3.0]}], [{"emb": [1.0, 2.0]}]],
             error=(["unsupported"], "vectors of length 2 where pickle 1's have 3"))
    appended("appended_vector_vs_text.pkl", [[{"emb": [1.0, 2.0]}], [{"emb": "n/a"}]],
             error=(["unsupported"], "FLOAT_VECTOR in pickle 1"))
    appended("appended_reordered.pkl", [[{"a": 1, "b": 2}], [{"b": 3, "a": 4}]],
             error=(["unsupported"], "its column 1 is \"b\" where pickle 1's is \"a\""))
    appended("appended_index_kinds.pkl", [emb_frame(seed=1, rows=2), emb_frame(seed=2, rows=2).set_index("name")],
             error=(["unsupported"], "does not continue the table of pickle 1"))
    one = pickle.dumps(small_records(2), protocol=4)
    w.write("appended_truncated.pkl", one + one[:len(one) // 2], error=(["malformed"], "pickle 2 of the file"))
    w.write("appended_junk.pkl", one + b"hello", error=(["malformed"], "do not start another pickle"))

    # --- dicts keyed by id: the orientation rule (doc.go) ---
    keyed = emb_frame(seed=7).set_index("id")
    for name, orient in (("dict_index.pkl", "index"), ("dict_dict.pkl", "dict")):
        d = keyed.to_dict(orient)
        with open(w.path(name), "wb") as f:
            pickle.dump(d, f, protocol=4)
        with open(w.path(name), "rb") as f:
            back = pickle.load(f)
        if orient == "index":
            w.expect(name, expect=lambda back=back: dict_rows(list(back.items())))
        else:
            keys = list(next(iter(back.values())).keys())
            w.expect(name, expect=lambda back=back, keys=keys: dict_rows([(k, {c: back[c][k] for c in back}) for k in keys]))
    strid = emb_frame(seed=8).assign(id=lambda f: ["r-%03d" % i for i in f["id"]]).set_index("id")
    floats = pd.DataFrame(np.random.default_rng(8).standard_normal((4, 3)), columns=["f1", "f2", "f3"],
                          index=["u1", "u2", "u3", "u4"])
    dated = pd.DataFrame({"n": [1, 2, 3], "x": ["a", "b", "c"]}, index=pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"]))
    taken = emb_frame(seed=6).rename(columns={"score": "index"}).set_index("id")
    keyed_cases = {
        "dict_index_str_ids.pkl": strid.to_dict("index"),  # the values tell: inner keys are the columns
        "dict_dict_str_ids.pkl": strid.to_dict(),  # the values tell: outer keys are the columns
        "dict_index_one_column.pkl": keyed[["score"]].to_dict("index"),  # the key types tell (str columns)
        "dict_dict_one_column.pkl": keyed[["score"]].to_dict(),
        "dict_ambiguous.pkl": floats.to_dict("index"),  # neither tells: refused
        "dict_ambiguous_dict.pkl": floats.to_dict(),
        "dict_index_rangeindex.pkl": emb_frame(seed=7).to_dict("index"),
        "dict_index_index_taken.pkl": taken.to_dict("index"),  # a column "index": the key is "level_0"
        "dict_dict_datetime_ids.pkl": dated.to_dict(),
        "dict_index_ordered.pkl": keyed.to_dict("index", into=collections.OrderedDict),
        "dict_single_record.pkl": {"name": "run-1", "config": {"lr": 0.1, "epochs": 3}},
        "dict_nested_different_keys.pkl": {"train": {"loss": 0.1}, "test": {"acc": 0.9}},
    }
    for name, d in keyed_cases.items():
        with open(w.path(name), "wb") as f:
            pickle.dump(d, f, protocol=4)
        with open(w.path(name), "rb") as f:
            back = pickle.load(f)
        w.expect(name, expect=lambda back=back: keyed_expect(back))

    # --- hostile containers ---
    # decompression bombs: small files whose content passes the tests' 4 MiB limit
    bomb = pickle.dumps({"payload": b"\x00" * (16 << 20)}, protocol=4)
    w.write("bomb.pkl.gz", gzip.compress(bomb, compresslevel=9, mtime=0), error=(["limit"], "decompresses to more than"))
    w.write("bomb.pkl.bz2", bz2.compress(bomb, 9), error=(["limit"], "decompresses to more than"))
    w.write("bomb.pkl.xz", lzma.compress(bomb), error=(["limit"], "more than"))
    w.write("bomb.pkl.zst", zstandard.ZstdCompressor(level=19).compress(bomb), error=(["limit"], "decompresses to more than"))
    w.write("bomb_stream.pkl.zst", zstandard.ZstdCompressor(level=19, write_content_size=False).compress(bomb),
            error=(["limit"], "decompresses to more than"))
    w.write("bomb.pkl.zlib", zlib.compress(bomb, 9), error=(["limit"], "decompresses to more than"))
    w.write("bomb.pkl.zip", zip_bytes([("bomb.pkl", bomb)]), error=(["limit"], "claims"))
    w.write("bomb.pkl.tar.gz", gzip.compress(tar_bytes([(tarfile.TarInfo("bomb.pkl"), bomb)]), 9, mtime=0),
            error=(["limit"], "claims"))
    # a zip whose directory claims a small size for the bomb member: the count stops it
    zb = bytearray(zip_bytes([("bomb.pkl", bomb)]))
    cd = zb.rindex(b"PK\x01\x02")
    struct.pack_into("<I", zb, cd + 24, 1000)  # uncompressed size in the central directory
    lh = zb.index(b"PK\x03\x04")
    struct.pack_into("<I", zb, lh + 22, 1000)
    w.write("bomb_lying_size.pkl.zip", bytes(zb), error=(["malformed"], "holds more data"))
    # a member claiming a huge size, with few bytes behind the claim
    zb = bytearray(zip_bytes([("df.pkl", pkl)]))
    cd = zb.rindex(b"PK\x01\x02")
    struct.pack_into("<I", zb, cd + 24, 0xfffffff0)
    w.write("zip_huge_claim.pkl.zip", bytes(zb), error=(["limit"], "claims"))
    th = bytearray(tar_bytes([(tarinfo("df.pkl", len(pkl)), pkl)]))
    at = find_tar_header(th, b"df.pkl")
    th[at + 124:at + 136] = b"77777777777\x00"  # 8 GiB
    th[at + 148:at + 156] = b"        "
    th[at + 148:at + 156] = b"%06o\x00 " % sum(th[at:at + 512])
    w.write("tar_huge_claim.pkl.tar", bytes(th), error=(["limit"], "claims"))
    # archives of many files, or unsafe members
    w.write("zip_many_members.zip", zip_bytes([("part%03d.pkl" % i, pickle.dumps([{"i": i}])) for i in range(200)]),
            error=(["unsupported"], "200 files"))
    w.write("zip_two_members.pkl.zip", zip_bytes([("a.pkl", pkl), ("b.pkl", pkl)]), error=(["unsupported"], "2 files"))
    w.write("zip_empty.zip", zip_bytes([]), error=(["unsupported"], "empty zip"))
    w.write("zip_traversal.pkl.zip", zip_bytes([("../../etc/df.pkl", pkl)]), error=(["refused"], "leaves the archive"))
    w.write("zip_absolute.pkl.zip", zip_bytes([("/tmp/df.pkl", pkl)]), error=(["refused"], "absolute"))
    zi = zipfile.ZipInfo("link.pkl", date_time=(2025, 1, 1, 12, 0, 0))
    zi.external_attr = (0o120777 << 16)
    zi.create_system = 3
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr(zi, "/etc/passwd")
    w.write("zip_symlink.pkl.zip", zbuf.getvalue(), error=(["refused"], "symbolic link"))
    w.write("zip_directory.zip", zip_bytes([("data/", b"")]), error=(["unsupported"], "directory"))
    w.write("zip_bzip2_member.pkl.zip", zip_bytes([("df.pkl", pkl)], zipfile.ZIP_BZIP2), error=(["unsupported"], "method 12"))
    w.write("zip_nested_gzip.zip", zip_bytes([("df.pkl.gz", open(w.path("df.pkl.gz"), "rb").read())]),
            error=(["unsupported"], "nested"))
    w.write("gzip_nested_gzip.pkl.gz.gz", gzip.compress(open(w.path("df.pkl.gz"), "rb").read(), mtime=0),
            error=(["unsupported"], "nested"))
    w.write("gzip_nested_zip.zip.gz", gzip.compress(open(w.path("df.pkl.zip"), "rb").read(), mtime=0),
            error=(["unsupported"], "nested"))
    sl = tarfile.TarInfo("df.pkl")
    sl.type, sl.linkname = tarfile.SYMTYPE, "/etc/passwd"
    w.write("tar_symlink.pkl.tar", tar_bytes([(sl, None)]), error=(["refused"], "link"))
    hl = tarfile.TarInfo("df.pkl")
    hl.type, hl.linkname = tarfile.LNKTYPE, "other.pkl"
    w.write("tar_hardlink.pkl.tar", tar_bytes([(hl, None)]), error=(["refused"], "link"))
    w.write("tar_traversal.pkl.tar", tar_bytes([(tarinfo("../df.pkl", len(pkl)), pkl)]), error=(["refused"], "leaves the archive"))
    w.write("tar_two_members.pkl.tar", tar_bytes([(tarinfo("a.pkl", len(pkl)), pkl), (tarinfo("b.pkl", len(pkl)), pkl)]),
            error=(["unsupported"], "more than one file"))
    # truncated and corrupt streams
    for ext in ("gz", "xz", "zst", "bz2", "zip", "tar.gz"):
        data = open(w.path("df.pkl." + ext), "rb").read()
        w.write("truncated.pkl." + ext, data[:len(data) * 2 // 3], error=(["malformed"], "truncated" if ext != "zip" else "corrupt zip"))
    data = bytearray(open(w.path("df.pkl.gz"), "rb").read())
    data[len(data) // 2] ^= 0xff
    data[len(data) // 2 + 1] ^= 0x55
    w.write("corrupt.pkl.gz", bytes(data), error=(["malformed"], "corrupt gzip-compressed"))
    w.write("trailing_junk.pkl.gz", open(w.path("df.pkl.gz"), "rb").read() + b"junk!", error=(["malformed"], "corrupt"))
    # an xz block header claiming a 4 GiB dictionary (the decoder would allocate it whole)
    xzd = bytearray(lzma.compress(pickle.dumps(arr, protocol=4), preset=0))
    hsize = (xzd[12] + 1) * 4
    fl = xzd.index(b"\x21\x01", 14)
    assert fl < 12 + hsize
    xzd[fl + 2] = 40
    struct.pack_into("<I", xzd, 12 + hsize - 4, zlib.crc32(bytes(xzd[12:12 + hsize - 4])))
    w.write("xz_huge_dict.pkl.xz", bytes(xzd), error=(["unsupported"], "dictionary"))

    # --- other formats: named in the refusal ---
    w.write("empty.pkl", b"", error=(["notreadable"], "empty"))
    w.write("table.csv", df.drop(columns=["embedding"]).to_csv(index=False).encode(), error=(["notreadable"], "a CSV file"))
    w.write("table.csv.gz", gzip.compress(df.drop(columns=["embedding"]).to_csv(index=False).encode(), mtime=0),
            error=(["notreadable"], "a gzip-compressed CSV file"))
    w.write("table.json", df.drop(columns=["embedding"]).to_json(orient="records").encode(), error=(["notreadable"], "a JSON file"))
    w.write("table_lines.ndjson", df.drop(columns=["embedding"]).to_json(orient="records", lines=True).encode(),
            error=(["notreadable"], "a JSON file"))
    # magic numbers of formats that need libraries not installed here
    w.write("table.parquet", b"PAR1" + bytes(range(64)) + b"PAR1", error=(["notreadable"], "a Parquet file"))
    w.write("table.h5", b"\x89HDF\r\n\x1a\n" + bytes(64), error=(["notreadable"], "an HDF5 file"))
    w.write("table.feather", b"ARROW1\x00\x00" + bytes(64) + b"ARROW1", error=(["notreadable"], "an Arrow/Feather file"))
    w.write("table.xlsx", zip_bytes([("[Content_Types].xml", b"<Types/>"), ("xl/workbook.xml", b"<workbook/>")]),
            error=(["notreadable"], "an Excel workbook"))
    w.write("model.joblib.lz4", b"\x04\x22\x4d\x18" + bytes(32), error=(["notreadable"], "LZ4"))
    rnd = random.Random(7)
    w.write("random.bin", bytes(rnd.getrandbits(8) for _ in range(64)), error=(["notreadable"], "starts with"))
    return w.count


def tarinfo(name, size):
    import tarfile
    t = tarfile.TarInfo(name)
    t.size = size
    return t


def find_tar_header(buf, name):
    """Offset of the ustar header of the member named name."""
    for at in range(0, len(buf), 512):
        if buf[at:at + len(name) + 1] == name + b"\x00" and buf[at + 257:at + 262] == b"ustar":
            return at
    raise ValueError(name)


def main(argv):
    if len(argv) >= 2 and argv[0] == "--samples":
        gen_samples(argv[1])
        return
    if len(argv) >= 3 and argv[0] == "--bench":
        dims = tuple(int(x) for x in argv[3].split(",")) if len(argv) >= 4 else (384, 768)
        gen_bench(int(argv[1]), argv[2], dims)
        return
    if argv and argv[0] == "--formats":
        n = gen_formats(argv[1] if len(argv) >= 2 else os.path.join(HERE, "formats"))
        print("formats: %d" % n)
        return
    if len(argv) >= 2 and argv[0] == "--conformance":
        gen_conformance(argv[1], os.path.join(HERE, "conformance"))
        return
    if argv:
        sys.exit(__doc__)
    # Write into fresh temporary directories and swap them in only when
    # everything succeeded, so a failing run leaves the corpus intact.
    import shutil
    dirs = {name: os.path.join(HERE, name) for name in ("fixtures", "hostile", "random")}
    tmp = {name: d + ".tmp" for name, d in dirs.items()}
    for d in tmp.values():
        shutil.rmtree(d, ignore_errors=True)
    w = Writer(tmp["fixtures"])
    gen_fixtures(w)
    h = Writer(tmp["hostile"], check=True)
    gen_hostile(h, tmp["fixtures"])
    r = gen_random(tmp["random"], 300, seed=20251125)
    for name, d in dirs.items():
        shutil.rmtree(d, ignore_errors=True)
        os.rename(tmp[name], d)
    print("fixtures: %d, hostile: %d, random: %d" % (w.count, h.count, r))


if __name__ == "__main__":
    main(sys.argv[1:])
