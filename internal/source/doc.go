// Package source resolves job file names to files under the data
// directory, refusing every name that could reach outside it.
//
// # Rules
//
// A job's file_name is relative to DATA_DIR. It is refused with
// [ErrUnsafePath] when it is empty, absolute (or has a volume name), holds a
// ".." component, or resolves, symlinks included, to a place outside
// DATA_DIR. A name that is safe but does not exist is [ErrNotFound], which
// wraps [fs.ErrNotExist]. Both are permanent failures for a job.
//
// [OpenFile] opens through an [os.Root], so even a symlink swapped in after
// the check cannot lead the open outside DATA_DIR.
package source
