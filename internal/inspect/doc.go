// Package inspect renders what a worker would send for a pickle file: the
// `publisher inspect FILE` command. It loads the file through the worker's
// own dataset stage (internal/dataset: the same reading and pickle loader,
// never executing pickle code, so a change to how files are opened applies
// here too), optionally runs a domain's checks, and prints the resulting
// table.
//
// # Formats
//
//   - table (default): a readable preview: file, row and column counts, the
//     schema, then the first rows (--limit, default 10) one field per line,
//     long values cut with "…" and vectors shown as their dimension and
//     first values.
//   - schema: the schema as JSON, one field per line: name, type (the wire
//     contract's FieldType name), nullable and, for vectors, vector_dim.
//   - jsonl: the records in the canonical JSON of ../shared/CANONICAL.md,
//     every row unless --limit says otherwise.
//
// # Exit status
//
// [Run] returns 0 on success, 1 when the file cannot be read, is refused or
// fails the domain checks (with exactly one line "inspect: FILE: <error>" on
// stderr), and 2 for bad arguments.
package inspect
