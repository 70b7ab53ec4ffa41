// Package source resolves job file names to files under the data
// directory, refusing every name that could reach outside it.
//
// # Rules
//
// A job's file_name is relative to DATA_DIR. It is refused with
// [ErrUnsafePath] when it is empty, longer than [MaxNameBytes] bytes or
// with a path component longer than [MaxComponentBytes] bytes
// ([CheckLength], the one length check of every entry: API, CLI,
// dashboard, uploads, the worker's job parser), absolute (or has a volume
// name), holds a ".." component, resolves, symlinks included, to a place
// outside DATA_DIR, or is one the file system finds too long
// (ENAMETOOLONG). A name that is safe but does not exist is [ErrNotFound],
// which wraps [fs.ErrNotExist]. Both are permanent failures for a job.
//
// [OpenFile] opens through an [os.Root], so even a symlink swapped in after
// the check cannot lead the open outside DATA_DIR.
package source
