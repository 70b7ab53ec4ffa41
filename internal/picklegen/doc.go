// Package picklegen writes, in memory that does not depend on their size,
// the recruit pickles generate.py makes (internal/pickleload/testdata) with
// pandas 1.5.3 and CPython, byte for byte as those write them, and the
// canonical JSONL a loader must make of them. Tests and the bench use it to
// make files of gigabytes in seconds, where Python needs minutes and
// several times the file in memory.
//
// # Shapes
//
//   - [WriteFrame]: the DataFrame of generate.py's recruit_frame as
//     df.to_pickle(path, protocol=5) writes it: a BlockManager with a
//     datetime64[ns] block (created_at), an int64 block (min_career_years)
//     and an object block of shape (7, n) whose element list (column by
//     column) is written in MARK ... APPENDS batches of 1000: strs, None
//     for a missing location, lists of strs (skills), and one float32
//     ndarray per row as numpy pickles it under protocol 5
//     (_frombuffer(PickleBuffer, dtype, (d,), 'C'), the buffer in-band as
//     BYTEARRAY8); then the columns Index and a RangeIndex.
//   - [WriteRecords]: pickle.dump(recruit_records(df), f, protocol=4), a
//     list of dicts (embedding a list of floats, created_at a
//     datetime.datetime).
//   - [WriteMatrix]: pickle.dump(a, f, protocol=5) of the embeddings as a
//     C-contiguous 2-D float32 ndarray.
//
// # Faithfulness
//
// The writer reproduces CPython's C pickler, not just the opcodes: its memo
// (every memoizable object memoized once, in save order; a repeated object
// is a BINGET or LONG_BINGET, so title, company, location and skill strings,
// drawn from small pools and shared by the rows as Python shares list
// literals' str objects, are written once; dtypes, globals, 'C' and b'b' as
// numpy shares them) and its framing (FRAME opcodes around about 64 KiB,
// committed at the start of the first save() past that size; payloads of 64
// KiB or more written outside frames, the open frame committed first).
// Tests prove it: rewriting the committed pandas-written sample
// (data/processed_recruitment_data.pkl, 3000 rows) and records fixture from
// their own rows ([FromTable]) gives the same bytes; and, where
// /usr/bin/python3 has pandas, CPython and pandas load generated files of
// edge sizes to exactly the expected values and, re-pickling the same
// values built as generate.py builds them, write the same bytes.
//
// # Data
//
// A [Spec] (rows, dimension, seed) gives a deterministic [Source]: every
// row and field has its own random stream, so any row is made alone, in any
// order and in constant memory, which a DataFrame needs (it is written
// column by column, its datetime and int64 blocks before the object block).
// The values follow generate.py's distributions and types, not its numpy
// draws: ids "R%07d", titles, companies, locations (3 % None) and 1 to 6
// sorted skills from generate.py's pools, 200-400 code-point descriptions
// of its Korean and English sentences, min_career_years 0-10, created_at
// ascending over 600 days from 2024-01-01 (microseconds), unit float32
// embeddings (normal draws, quantized to 2^16 levels, then normalized). Any
// other Source works too, e.g. a loaded table.
//
// # Expected output
//
// [WriteJSONL] writes the canonical JSONL (../shared/CANONICAL.md) of a
// Source's rows with internal/canonical's writer, a few thousand rows at a
// time; [Expect] gives only its [Summary] (records, bytes, sha256), which
// [Summarize] of a batch server's committed file must equal; [Compare]
// streams a file against it by the canonical rules and names the first
// differing line. None holds either side in memory.
//
// # Memory and speed
//
// A writer holds one frame (64 KiB) plus one row and a chunk of 4096
// int64s or about 256 KiB of floats; the memo keeps only the indexes of the
// shared objects. Generation runs at several hundred MB/s on one core
// (BenchmarkWrite); the expected JSONL is bound by float formatting
// (BenchmarkWriteJSONL). cmd/picklegen writes a file of a given row count
// or size and prints its figures.
package picklegen
