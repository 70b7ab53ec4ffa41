// Package container tells what a data file is from its first bytes, never
// from its name, and unwraps the compressed containers pandas writes
// (df.to_pickle("x.pkl.gz"), ".bz2", ".xz", ".zst", ".zip", ".tar", and
// gzip under a plain ".pkl" name), streaming, under a size limit.
//
// # Identifying a file
//
// [Sniff] names the format from magic numbers: a pickle (PROTO for
// protocols 2-5, the opening opcode of a protocol 0 or 1 pickle), a joblib
// file (a pickle naming joblib.numpy_pickle classes in its first bytes),
// a NumPy .npy file ("\x93NUMPY") or .npz archive (a zip whose first
// member is a .npy), the containers gzip, bzip2, xz, zstd, zlib (joblib's
// compress=3), zip and tar ("ustar" at byte 257, or a valid V7 header),
// and, to name them in refusals, LZ4, HDF5, Parquet, Arrow/Feather, ORC,
// Excel, SQLite, PyTorch checkpoints, JSON, CSV and other text. [Identify]
// returns the format when the loader reads it ([Format.Readable]) or
// [Unwrap] opens it ([Format.Container]), and otherwise a refusal that says
// what the file is and what to do: "not a pickle: a Parquet file; read it
// with pd.read_parquet and save the data with df.to_pickle(path) ...",
// "not a pickle: starts with 50 4b ...".
//
// # Unwrapping
//
// [Unwrap] streams the content of a container into an io.Writer (the
// worker spools it to a temporary file and maps that), as
// pandas.read_pickle does: gzip (multi-member), bzip2, xz, zstd and zlib
// streams; a zip holding exactly one file; a tar holding exactly one
// regular file, plain or inside a compressed stream (.tar.gz). The content
// must be a pickle, a joblib file or a .npy file, which [Result] reports.
//
// # Safety
//
// Unwrapped bytes are counted against [Options.MaxBytes] (MAX_FILE_BYTES):
// a decompression bomb stops at the limit, whatever the headers claim; a
// zip or tar member or an xz index claiming more is refused before
// decoding. Memory is bounded: the copy buffer, the decoders' windows (a
// zstd window above 128 MiB and an xz dictionary above 64 MiB are refused
// before any allocation), and, for zip, the end record is read first so
// that an archive of many files is refused before archive/zip lists them.
// Refused: a zip or tar of several files (or none), a member that is a
// symbolic or hard link, a directory or a device, a member name that is
// absolute or leaves the archive's directory ("../x"), an encrypted zip, a
// container inside another (a .gz in a .zip; a tar inside a compressed
// stream is the one nesting pandas writes), and a foreign format inside a
// container (a gzip-compressed CSV file). A truncated stream is "truncated
// gzip-compressed pickle: ...", corrupt data "corrupt ...".
//
// # Errors
//
// Every error about the file is an *[Error] satisfying errors.Is(err,
// [ErrInvalid]) (permanent: the worker classifies it with bad pickles) and
// one of [ErrNotReadable], [ErrUnsupported], [ErrRefused], [ErrLimit] and
// [ErrMalformed]; its message names what the file is ("gzip-compressed
// pickle", "NumPy .npz archive") and what to do. An I/O error of the
// source or the destination, and the context's error, are returned
// wrapped and satisfy none of them: they may be transient.
package container
