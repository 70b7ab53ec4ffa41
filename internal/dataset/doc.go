// Package dataset is the dataset stage: it turns a file name into a loaded,
// hashed table, the same way for every front end (the worker's push, a
// pull server, publisher inspect).
//
// # Loading
//
// [Loader.Load] opens the file a [Ref] names: a name under the data
// directory (through an os.Root, with internal/source's rules: nothing
// absolute, no "..", nothing resolving outside, regular files only), an
// object of the object store ([Objects], declared here and adapted by the
// caller), or a local path as given. It reads the file whole, refusing
// more than [Limits].MaxFileBytes, hashes it (sha256) while the pickle
// loader decodes it under the pickle limits, and returns a [Dataset]: the
// table, as a [table.Source] too, and its [Stats] (size, sha256, read and
// load durations).
//
// # Memory
//
// A file is read into an internal/filebuf buffer (an anonymous mapping
// outside the Go heap, filled by parallel reads), and the table points into
// it: strings, bytes and float32 vector rows are slices of the file, not
// copies. The buffer belongs to the Dataset until its last
// [Dataset.Release] (one for Load, one per [Dataset.Retain]), and then
// goes back to the Loader's pool, which reuses it for the next file (it is
// already faulted in) and unmaps what it keeps when it is full or has been
// idle for 30 s. Nothing may use the table, its windows, or anything
// aliasing them after the release; errors never alias the buffer. Before
// each load, the Loader collects garbage if the datasets released since the
// last collection decoded more than 64 MiB of files, so that one large
// file's decoded leftovers do not double the next one's peak memory.
//
// # Errors
//
// Every failure is an [*Error] naming the step ("open", "open object",
// "read", "load") and the file, and wraps its cause, so callers classify
// it with errors.Is: internal/source's ErrUnsafePath and ErrNotFound, the
// object store's own errors, [ErrNoObjectStore], [ErrTooLarge],
// pickleload.ErrInvalid and its kinds, io.ErrUnexpectedEOF for a file that
// changed size while it was read (being written: worth retrying), or the
// file system's I/O errors.
package dataset
