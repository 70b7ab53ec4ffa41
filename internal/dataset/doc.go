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
// caller), or a local path as given. It refuses more than
// [Limits].MaxFileBytes, identifies the file by its first bytes
// (container.Identify: never by its name), unwraps a compressed file or an
// archive (gzip, bzip2, xz, zstd, zlib, a zip or tar of one member,
// .tar.gz: container.Unwrap, whose content MaxFileBytes bounds too), and
// decodes it under the pickle limits while hashing it: a pickle or a
// joblib file with pickleload.Open, a NumPy .npy file with
// pickleload.LoadNPY, an .npz archive with pickleload.LoadNPZ. Anything
// else is refused with a message naming what the file is. It returns a
// [Dataset]: its rows as a [table.Source], and its [Stats] (size, sha256
// of the file as stored, what the file is, read and load durations).
//
// # Memory
//
// With a memory budget ([Limits].MemoryBudget, from the worker's
// MEMORY_LIMIT), the bytes decoded are a read-only, shared mapping of a
// file: page cache, which the kernel reclaims under memory pressure and
// reads again, not anonymous memory of the process. A file of the data
// directory or a path is mapped where it is. An object of the object
// store, and the content of a container, are first written to a scratch
// file in Config.ScratchDir (SCRATCH_DIR; the OS temp directory by
// default: it should be a disk, not a tmpfs), which is unlinked as soon as
// it is created, so its space is freed when the dataset is released and a
// killed process leaves nothing behind ([CleanScratch] removes what a
// process killed between the two steps left). A path that is not a
// regular file (a pipe) is spooled the same way.
//
// Without a budget (no memory limit: nothing to save), a file or an object
// is read whole into an internal/filebuf buffer instead (an anonymous
// mapping outside the Go heap, filled by parallel reads) from a pool that
// reuses it for the next file (already faulted in) and unmaps what it
// keeps when full or idle for 30 s: a fresh mapping costs its page-table
// entries on every load (on the 190 MiB bench DataFrame, about 100 ms more
// per job than the copy into a pooled buffer), which the end-to-end
// throughput shows. A container's content is spooled and mapped either
// way. The sha256 is of the file's bytes as stored (a container's
// compressed bytes), computed while they are read.
//
// The table points into the mapping or buffer: strings, bytes and float32
// vector rows are slices of the file, not copies. With [Limits].MemoryBudget set,
// a pickle whose whole table would need more memory is read in windows of
// rows (pickleload.Open: [Stats].Lazy), each decoded when asked for, and
// one that cannot be read so is refused with [ErrOverBudget]. The mapping
// or buffer belongs to the Dataset until its last [Dataset.Release] (one
// for Load, one per [Dataset.Retain]), which unmaps it or gives the buffer
// back to the pool. Nothing may use the source,
// its windows, or anything aliasing them after the release; errors never
// alias the mapping. Before each load, the Loader collects garbage if the
// datasets released since the last collection decoded more than 64 MiB of
// files, so that one large file's decoded leftovers do not double the next
// one's peak memory.
//
// # Faults
//
// A mapped file truncated by another process while it is read makes the
// reading goroutine fault (SIGBUS). Every goroutine that reads a dataset's
// memory must run with runtime/debug.SetPanicOnFault on and turn the fault
// into an error: [Guard] does both, [Fault] converts a recovered value.
// The Loader's own readers (the hash, the decoder) are guarded; so are the
// pickle loader's window goroutines and internal/chunk's encoder. A fault
// is [ErrFault] (pickleload.ErrFault): transient, the file may be whole
// again by the next attempt. A file whose size changed between mapping and
// the end of decoding is io.ErrUnexpectedEOF, transient too.
//
// # Errors
//
// Every failure is an [*Error] naming the step ("open", "open object",
// "read", "unwrap", "load") and the file, and wraps its cause, so callers
// classify it with errors.Is: internal/source's ErrUnsafePath and
// ErrNotFound, the object store's own errors, [ErrNoObjectStore],
// [ErrTooLarge], container.ErrInvalid and its kinds (not a pickle, a
// corrupt, refused or oversized container), pickleload.ErrInvalid and its
// kinds, [ErrOverBudget], [ErrFault] and io.ErrUnexpectedEOF for a file
// that changed while it was read (worth retrying), or the file system's
// I/O errors.
package dataset
