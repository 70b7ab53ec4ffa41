// Package pickleload turns a Python pickle (pandas DataFrames, lists of
// dicts, numpy embedding matrices, pickled dataclass or pydantic objects)
// into a [table.Table] without Python and without running any pickle code.
//
// [Load] takes the whole file in memory; [LoadFile] reads it first. Both
// return a table whose Validate passes, or an error classified as below.
// [Open] returns the same table as a [table.Source] of windows, decoded on demand
// in bounded memory when the file is larger than a memory budget (see
// Bounded memory).
//
// # Shapes
//
// The top-level object decides the table:
//
//   - a list or tuple of records (dicts, or objects of unknown classes with
//     a plain __dict__ state): one row per record; the schema is the union
//     of keys in first-seen order; a missing key is null. An empty list is
//     an empty table (no columns, no rows).
//   - a dict whose values are all sequences of equal length (lists, tuples,
//     numpy arrays, Series): one column per key, in key order. A 2-D
//     numeric array among them is a FLOAT_VECTOR column, one row per matrix
//     row (e.g. {"ids": [...], "embeddings": ndarray}). A dict with no
//     sequence values is a single record.
//   - a pandas DataFrame (pandas 1.x and 2.x; numpy.core and numpy._core
//     paths; protocols 0-5, including protocol 5 in-band buffers): one
//     column per DataFrame column, in order. A RangeIndex is dropped; any
//     other index becomes a leading column named after it ("index" if
//     unnamed); a MultiIndex gives one leading column per level ("level_i"
//     if unnamed). A DataFrame with no columns (not even index columns)
//     is an empty table, whatever rows its index claims.
//   - a pandas Series: the index rule above, then one column named after
//     the Series ("value" if unnamed).
//   - a 2-D numpy array: one FLOAT_VECTOR column named "embedding"; a 1-D
//     array: one column named "value".
//   - a dict whose values are all dicts with the same keys: a dict keyed
//     by id, one row per id (see Dicts keyed by id); with other values, or
//     dicts with different keys, it is a single record.
//   - an object of an unknown class with a __dict__ state: a single record.
//
// Any of these may be a joblib dump (see joblib dumps), and a file may
// hold several pickles one after another (see Appended pickles).
//
// Column names are Python's str() of the key or label: "0" for the int 0,
// "('a', 'b')" for a tuple (items as Python's repr), "b'\xff'" for bytes
// that are not UTF-8. Keys Python deems equal (1, 1.0, True) are one key;
// duplicate names, including different keys that print alike (1 and "1"),
// are refused (ErrUnsupported). A tuple key nested deeper than 32 or
// holding more than 4096 items in all is an ErrLimit error.
//
// DataFrame dtypes: int8..int64 and uint8..uint64 are INT64 (a uint64 value
// above the int64 range is an ErrUnsupported error naming the column and
// row: no silent precision loss); float16/32/64 are DOUBLE (NaN and ±Inf
// are null; float32 values convert exactly); bool is BOOL; datetime64[ns] naive or tz-aware is TIMESTAMP (tz-aware values are
// stored in UTC already); category is decoded to its values and typed like
// an object column; the nullable Int64/Float64/boolean/string extension
// arrays keep their type with pd.NA as null; object columns are inferred
// value by value (below); a SparseArray is densified (its fill value where
// nothing is stored) and typed like an object column. Arrow-backed dtypes
// (string[pyarrow], ArrowDtype), Period and Interval columns are refused
// with ErrUnsupported naming the column.
//
// # Type inference
//
// Object columns, record fields and dict-of-list columns are typed from
// their non-null values (null: None, NaN, NaT, pd.NA, Decimal NaN):
//
//	values                                           type
//	------------------------------------------------ ------------
//	bool only                                        BOOL
//	int only (Python ints, numpy ints)               INT64
//	int and float mixed (ints may exceed int64),     DOUBLE
//	  Decimal
//	float only                                       DOUBLE
//	str only                                         STRING
//	datetime.datetime, datetime.date, Timestamp      TIMESTAMP (µs, UTC)
//	bytes, bytearray                                 BYTES
//	lists/tuples/sets of str (empty lists allowed)   STRING_LIST
//	numeric 1-D arrays or lists of numbers, all of   FLOAT_VECTOR
//	  one length
//	anything else, or a mix of the above             JSON (compact text)
//	no non-null value at all                         JSON, all null
//
// FLOAT_VECTOR values are never NaN or ±Inf (the wire contract): a vector
// whose every element is NaN is a null row; a vector with NaN or ±Inf among
// finite elements is an ErrUnsupported error naming the column and row.
//
// Vectors of different lengths in one column are an ErrUnsupported error
// naming the column and the first bad row; so is a Python int outside the
// int64 range in a column without floats, or one too large for a float64
// beside floats. In JSON, ints beyond int64 are written exactly up to
// CPython's 4300-digit limit. Float32 vector elements keep their exact
// bits; other numbers are converted to float32.
//
// Value rules: a naive datetime is taken as UTC; an aware one
// (datetime.timezone, pytz, zoneinfo, dateutil tzutc/tzoffset) is converted
// to UTC; a date is midnight UTC. decimal.Decimal is converted to the nearest float64 (DOUBLE;
// NaN and ±Infinity are null). set and frozenset become lists in pickle
// order. In JSON text: dicts are objects (keys as str()), lists, tuples and
// arrays are arrays, bytes are base64 strings, datetimes are RFC 3339 UTC
// strings, timedeltas are numbers of seconds, datetime.time is "HH:MM:SS".
//
// # Dicts keyed by id
//
// df.to_dict("index") is {id: {column: value}} and df.to_dict() (orient
// "dict") is {column: {id: value}}: a dict whose values are all dicts with
// the same keys (at least one). Either is read as the DataFrame it came
// from: one row per id, the id first in a column named [Options].KeyColumn
// (the dataset stage sets the domain's id field, e.g. "recruit_id"), or
// "index", or "level_0" (the first not already a column, as
// df.reset_index() names it), then the columns in the order of the first
// inner dict, typed as the records of a list would be. Which keys are the
// columns is told, in this order, by:
//
//  1. the KeyColumn hint, when it is among the keys of one side only (an
//     id column the DataFrame kept as a column);
//  2. the values: the columns of a DataFrame each hold one type (numbers,
//     str, vectors, ...; as type inference would give a column without
//     mixing to JSON), so if grouping the values by the inner keys gives
//     such columns and grouping them by the outer keys does not, the inner
//     keys are the columns (orient "index"), and the reverse;
//  3. the keys: column names are str and ids often are not, so if only the
//     inner keys are all str they are the columns, and the reverse.
//
// A dict none of these tells (every value of one type and both sides'
// keys str, or neither side's, e.g. a table of floats keyed by str ids) is
// refused with ErrUnsupported saying so, rather than possibly transposed;
// writing the DataFrame itself (df.to_pickle) or a list of records always
// works. A genuine single record holding dicts is told apart by having
// other values beside them or dicts with different keys; one whose every
// value is a dict with the same keys as the others is read as a table (or
// refused as above). Tuple ids (a MultiIndex) stay one column, typed as
// any tuple values are. The dict is decoded whole, as a record was.
//
// # Appended pickles
//
// pickle.dump(batch, f) in a loop on a file opened with mode "ab" writes
// pickles one after another; pickle.load reads only the first. The loader
// reads every pickle of the file, each with its own memo and with the
// file's limits (MaxDecodedBytes and conversion work counted across them),
// and:
//
//   - the bytes after a pickle's STOP are the next pickle; bytes that do
//     not start one are refused (ErrMalformed, naming where the previous
//     pickle ends); zero bytes at the end of the file are padding;
//   - each pickle is converted as a file of its own (any shape above);
//     one that is an empty list adds nothing;
//   - the tables are concatenated when they hold the same column names in
//     the same order, else the file is refused (ErrUnsupported, naming the
//     pickle, its first byte and the first column that differs);
//   - a column whose type differs between pickles gets the type inference
//     would give all its values as one list, told from the types: a JSON
//     column with no non-null value (an object column of None, a record
//     field always None) and any column of a pickle without rows add no
//     type; INT64 and DOUBLE make DOUBLE; other mixes make JSON (each value
//     written as the JSON text inference writes for it); a FLOAT_VECTOR
//     column with another type or vector length is refused. This applies to
//     DataFrames whose dtypes differ between batches too (float64 then
//     int64: DOUBLE; bool then int64: JSON; datetime64 then object str:
//     JSON). Limits: the values of a float32 DataFrame column made JSON are
//     written as float64s; each pickle's own conversion errors stand even
//     where another pickle's values would have changed the type (ints
//     beyond int64 in one pickle, floats in another).
//
// Errors of a later pickle say "pickle N of the file (from byte B)", with
// the file's offset and the concatenated table's row. A single record per
// pickle (pickle.dump(record, f)) follows the single-pickle rules: a dict
// holding a list beside scalars is refused there as it is in a file alone.
//
// # joblib dumps
//
// joblib.dump(obj, path) pickles obj with every numpy array replaced by a
// joblib.numpy_pickle.NumpyArrayWrapper and writes the array's bytes into
// the file right after the wrapper's BUILD, outside the pickle's opcodes
// (compress=3 files are zlib streams around that, unwrapped by
// internal/container). The wrapper is the one joblib name allowed: it may
// only be built with no arguments (NEWOBJ; copyreg._reconstructor in
// protocols 0 and 1) and given, in place, a state dict of plain values:
// subclass (numpy.ndarray or numpy.memmap), shape, order ("C" or "F"),
// dtype, allow_mmap and numpy_array_alignment_bytes. The pre-pass reads
// these statically, skips the array data (a padding byte and padding when
// the alignment is set, then shape x itemsize bytes, sized against
// MaxDecodedBytes: a shape claiming more is an ErrLimit error before
// anything is read), and gopickle gets the bytes as a reference into the
// input: numeric arrays are never copied. An object-dtype array is pickled
// inline by joblib as a whole protocol-2 pickle: it is checked by a
// pre-pass of its own (its own memo, the same allowlist; no joblib wrapper
// inside) and decoded as any pickle. The result is the array, converted as
// a pickled array would be: DataFrames, Series, ndarrays, dicts of arrays
// and records dumped by joblib give the tables of their pickles. Refused:
// another joblib class (NDArrayWrapper: joblib < 0.10 kept arrays in
// separate files), a wrapper built with arguments or read twice (from the
// memo or DUP; joblib writes each once), a state that is not such a dict,
// array data inside a pickle frame or cut short; numpy.matrix is refused
// as a global, 3-D arrays as any pickled array.
//
// # Safety
//
// No pickle code runs, ever. Before gopickle sees a byte, a pre-pass walks
// the opcode stream with a symbolic stack and refuses:
//
//   - a global outside the allowlist: the numpy, pandas, builtins, datetime,
//     decimal, collections, copyreg, _codecs, pytz, zoneinfo and dateutil
//     names the loader implements, plus pandas classes (whose "call" only
//     records arguments). Any other name of those modules (builtins.eval,
//     builtins.__import__, numpy functions, ...) and every name of a
//     dangerous module (os, posix, subprocess, sys, shutil, socket,
//     importlib, pickle, ctypes, joblib, ...) is refused wherever it
//     appears (ErrRefused, naming the global), but for joblib's
//     NumpyArrayWrapper, used only as joblib writes it (see joblib dumps).
//     A name from any other module (a user's class) may appear, as a data
//     holder only (next point);
//   - a call (REDUCE, INST/OBJ with arguments) of anything but an
//     allowlisted callable: an unknown class (a dataclass, a pydantic
//     model) may only be built with __new__ and given state, never called
//     (ErrRefused). builtins.getattr is accepted only as
//     getattr(<allowlisted class>, "<name>") naming an allowlisted class
//     method (zoneinfo.ZoneInfo._unpickle), checked statically;
//   - a STACK_GLOBAL whose names are not statically known strings
//     (ErrRefused); persistent ids, extension codes (ErrRefused);
//     out-of-band buffers (ErrUnsupported);
//   - a length prefix beyond the bytes that remain, a truncated stream,
//     an unknown opcode, protocol > 5, an empty input, stack underflow,
//     a memo read of an undefined key, odd DICT/SETITEMS counts, invalid
//     UTF-8 text, an opcode crossing its frame, BUILD on a built-in value
//     (a list, dict, set, bytes or str) (ErrMalformed);
//   - MARK nesting deeper than MaxDepth, more than MaxMemo memo entries,
//     or an estimated decoded size above MaxDecodedBytes (ErrLimit).
//
// The conversion to a table then refuses self-referencing values, values
// nested deeper than MaxDepth and conversion work (values visited plus JSON
// bytes written, which bounds shared-reference blow-ups) above
// MaxDecodedBytes. Sizes that pandas metadata claims (a RangeIndex's rows,
// column labels, block placements, sparse blocks) are charged to that work
// and checked against each other before anything is allocated for them. A recover() turns any remaining panic into ErrMalformed;
// it is the last line, not the defence.
//
// # Limits
//
//	Options field     default                                  bounds
//	---------------   --------------------------------------   -----------------------------
//	MaxDecodedBytes   8 x input size + 64 MiB                  decoded size and conversion work
//	MaxDepth          256                                      MARK nesting, JSON nesting
//	MaxMemo           16,777,216 entries                       memo size
//
// # Errors
//
// Every error about the content satisfies errors.Is(err, [ErrInvalid]) (a
// permanent failure) and one of [ErrRefused], [ErrLimit], [ErrUnsupported]
// or [ErrMalformed]; it is an *[Error] with the byte offset and opcode for
// stream problems and the column and row for value problems. An I/O error
// from [LoadFile] is none of these.
//
// # Memory
//
// Payloads are not copied: the pre-pass hands long byte strings, text and
// array buffers (joblib's arrays too) to gopickle as references into the
// input. Little-endian
// float32 vectors, whether rows of a 2-D array or a DataFrame column of 1-D
// arrays, become the table's RawVectors: one slice of the input per row,
// wherever it sits (no alignment needed). Strings and bytes in the table are
// slices of the input too. The table therefore aliases the input, which
// must not be modified while the table is in use. Numeric DataFrame columns
// are decoded straight from those bytes into typed slices. Memo writes that
// no GET reads are skipped when feeding gopickle (its memo map was a fifth
// of its time).
//
// # Bounded memory
//
// [Open] returns a [table.Source]: rows read in windows. With
// [Options].MemoryBudget set, a file whose eager load would need more
// (estimated by an index pass) is read lazily, in memory independent of
// its number of rows except for compact per-row state (typed numeric
// columns, 8 bytes a row; a few bits of index per memo key): the same
// schema, values and errors as Load, or an ErrLimit refusal saying why the
// file cannot be read in parts. How:
//
//   - two index passes (the pre-pass run with a compact memo: every check
//     above, in the same order, and the same first error) find the large
//     sequences (lists and tuples of at least 4096 items) with a sparse
//     index of their items, and where each value read from the memo is
//     defined;
//   - the skeleton (the file without those sequences, each replaced by a
//     placeholder) is decoded and converted as by Load; a placeholder
//     becomes a lazy column where the conversion reads a list of rows: the
//     element list of an object array (DataFrame blocks in C or Fortran
//     order, Series, an object index), the top-level list or tuple of
//     records (dicts or plain objects), a dict of equal-length lists. Any
//     other large list is decoded with the skeleton when small, else the
//     file is refused. Numeric blocks are decoded eagerly into typed
//     columns; a 2-D float32 array stays a view of the input, sliced into
//     RawVectors rows only inside a window;
//   - a window's items are decoded from a small synthesized pickle: the
//     input's bytes for those items behind copies of the definitions of the
//     memo keys they read (globals, dtypes, shared strings), through the
//     pre-pass and the same interpreter as Load. Every item is so decoded
//     once at Open to infer the column types (pass C: the inference state
//     merges window by window, so the errors name the same column and
//     row), then again for each Window. The synthesized pickles' buffers
//     are reused by later windows (a pool emptied by garbage collections):
//     pass C keeps no value of a window (names are copied; a window that
//     leaves an error keeps its buffer), and the strings, bytes and raw
//     vectors a Window's table would alias in them are first copied into
//     one block of the window's, so that a window's table aliases only the
//     input and that block (unless they are most of the buffers: that
//     window's table keeps them, and they are not reused).
//
// Limits differ in one way: the conversion-work limit is counted per
// window, plus an estimate for the whole file at Open, so an ErrLimit
// error may name another place than Load's. A file the lazy path cannot
// replay in parts (memo keys written out of order, DUP, a memo value
// modified after it was read, a value referring to the list holding it)
// is loaded eagerly if it fits the budget, else refused.
//
// Appended pickles are opened one by one, each as above (lazily or whole),
// and their Sources concatenated with the merged schema; pickles loaded
// whole are held while their tables take at most half the budget, the
// others loaded again, one at a time, by the windows that need them. A
// joblib dump is read whole when the pre-pass's estimate of its decoded
// values (its numeric arrays alias the input and count for nothing) fits
// the budget, else refused; the index passes stop at joblib's wrapper
// class. A dict keyed by id is decoded whole.
//
// A fault reading a mapped input (a file truncated while it is read, with
// runtime/debug.SetPanicOnFault) is [ErrFault], not a bad file.
//
// # Fast path
//
// gopickle boxes every value, which holds plain-data pickles (records) to
// about half of CPython's speed. Pickles that build no objects (no NEWOBJ,
// NEWOBJ_EX, BUILD, INST or OBJ opcode: lists of dicts, dicts of lists,
// datetimes and decimals through REDUCE) are decoded by the loader's own
// interpreter over the checked input (unboxed floats, float lists kept as
// []float64, strings aliased); everything else goes through gopickle.
//
// # Benchmarks
//
//	go test -run '^$' -bench . -benchmem ./internal/pickleload
//
// generates its inputs in Go. With EMBEDSTREAM_BENCH_DIR set to a directory
// holding the issue-7 files (recruit_df.pkl, recruit_records.pkl,
// embeddings.pkl), it also measures those.
package pickleload
