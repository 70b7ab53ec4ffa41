package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Bounds of a file name, in bytes of its UTF-8 text, as every entry checks
// them ([CheckLength]): the API, the CLI, the dashboard, uploads and the
// worker's job parser. A name within them fits every common file system
// (NAME_MAX is 255 bytes on Linux), and an object name within them keeps
// the object store's subjects (base64 of the name) far below NATS's
// 4 KiB control-line limit.
const (
	MaxNameBytes      = 1024 // a whole name
	MaxComponentBytes = 255  // one path component (between '/' or '\\')
)

var (
	// ErrUnsafePath marks a file name that is empty, absolute, holds "..",
	// or resolves outside the data directory.
	ErrUnsafePath = errors.New("unsafe file name")
	// ErrNotFound marks a safe file name with no file behind it. It wraps
	// [fs.ErrNotExist].
	ErrNotFound = fmt.Errorf("file not found: %w", fs.ErrNotExist)
	// ErrBadExtension marks a file name whose extension is not allowed.
	ErrBadExtension = errors.New("file extension not allowed")
)

// CheckLength refuses a name longer than [MaxNameBytes] bytes, or with a
// path component longer than [MaxComponentBytes] bytes, with an error
// wrapping [ErrUnsafePath] that echoes none of it. It is the one length
// check of every entry that takes a file or object name.
func CheckLength(name string) error {
	if len(name) > MaxNameBytes {
		return fmt.Errorf("%w: file name is %d bytes long (at most %d)", ErrUnsafePath, len(name), MaxNameBytes)
	}
	for _, c := range strings.FieldsFunc(name, isSep) {
		if len(c) > MaxComponentBytes {
			return fmt.Errorf("%w: file name has a component of %d bytes (at most %d per component)", ErrUnsafePath, len(c), MaxComponentBytes)
		}
	}
	return nil
}

// CheckName checks a file name without touching the file system: not
// empty, within the byte bounds of [CheckLength], not absolute, no ".."
// component, no NUL byte, and (when allowedExt is not empty) an extension
// from allowedExt (e.g. ".pkl", compared case-insensitively). Errors wrap
// [ErrUnsafePath] or [ErrBadExtension].
func CheckName(name string, allowedExt []string) error {
	if name == "" {
		return fmt.Errorf("%w: file name is empty", ErrUnsafePath)
	}
	if err := CheckLength(name); err != nil {
		return err
	}
	if strings.ContainsRune(name, 0) {
		return fmt.Errorf("%w: file name %q holds a NUL byte", ErrUnsafePath, name)
	}
	if filepath.IsAbs(name) || strings.HasPrefix(name, "/") || strings.HasPrefix(name, `\`) || filepath.VolumeName(name) != "" {
		return fmt.Errorf("%w: file name %q is absolute; give a name relative to the data directory", ErrUnsafePath, name)
	}
	if slices.Contains(strings.FieldsFunc(name, isSep), "..") {
		return fmt.Errorf("%w: file name %q holds a \"..\" component", ErrUnsafePath, name)
	}
	if len(allowedExt) > 0 {
		ext := strings.ToLower(filepath.Ext(name))
		if !slices.ContainsFunc(allowedExt, func(a string) bool { return strings.ToLower(a) == ext }) {
			return fmt.Errorf("%w: file name %q: extension %q is not one of %s", ErrBadExtension, name, ext, strings.Join(allowedExt, ", "))
		}
	}
	return nil
}

func isSep(r rune) bool { return r == '/' || r == '\\' }

// ResolveFile returns the real path of name under dataDir, after
// [CheckName] and after resolving symlinks in both dataDir and the result:
// a name whose real path is outside dataDir's real path, or that is not a
// regular file, is refused.
// Errors: [ErrUnsafePath], [ErrNotFound] (wraps [fs.ErrNotExist]), or the
// file system's error (e.g. a missing or unreadable dataDir).
func ResolveFile(dataDir, name string) (string, error) {
	if err := CheckName(name, nil); err != nil {
		return "", err
	}
	root, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		return "", fmt.Errorf("source: data directory %q: %w", dataDir, err)
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("source: data directory %q: %w", dataDir, err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("source: %q in %s: %w", name, dataDir, ErrNotFound)
		case errors.Is(err, syscall.ENAMETOOLONG):
			return "", tooLong(name, dataDir, err)
		}
		return "", fmt.Errorf("source: %q in %s: %w", name, dataDir, err)
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("%w: %q resolves outside the data directory", ErrUnsafePath, name)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("source: stat %q in %s: %w", name, dataDir, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %q is not a regular file (%s)", ErrUnsafePath, name, st.Mode().Type())
	}
	return real, nil
}

// OpenFile opens name under dataDir for reading through an [os.Root], so
// no symlink or ".." can lead outside dataDir, whatever the file system
// does between checks. The file must be a regular file: anything else (a
// FIFO, a device) is refused without blocking.
// Errors: [ErrUnsafePath], [ErrNotFound] (wraps [fs.ErrNotExist]), or the
// file system's error.
func OpenFile(dataDir, name string) (*os.File, error) {
	if err := CheckName(name, nil); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dataDir)
	if err != nil {
		return nil, fmt.Errorf("source: data directory %q: %w", dataDir, err)
	}
	defer root.Close()
	rel := filepath.FromSlash(name)
	// Refuse a FIFO, device or socket before opening it: opening a FIFO
	// for reading blocks until a writer appears. The open itself is
	// non-blocking where the platform has it, for a file swapped in
	// between the two.
	if st, err := root.Stat(rel); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %q is not a regular file (%s)", ErrUnsafePath, name, st.Mode().Type())
	}
	f, err := root.OpenFile(rel, openFlags, 0)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("source: %q in %s: %w", name, dataDir, ErrNotFound)
		case errors.Is(err, syscall.ENAMETOOLONG):
			return nil, tooLong(name, dataDir, err)
		case escapes(dataDir, name):
			return nil, fmt.Errorf("%w: %q resolves outside the data directory: %w", ErrUnsafePath, name, err)
		}
		return nil, fmt.Errorf("source: open %q in %s: %w", name, dataDir, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("source: stat %q in %s: %w", name, dataDir, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %q is not a regular file (%s)", ErrUnsafePath, name, st.Mode().Type())
	}
	return f, nil
}

// tooLong is the error of a name the file system finds too long
// (ENAMETOOLONG: a file system with a smaller NAME_MAX, or a data
// directory whose path plus the name exceeds PATH_MAX): as unsafe as any
// name that can never be opened, and no more worth retrying.
func tooLong(name, dataDir string, err error) error {
	return fmt.Errorf("%w: %q in %s is longer than the file system allows: %w", ErrUnsafePath, name, dataDir, err)
}

// escapes reports whether name resolves outside dataDir, to classify an
// os.Root refusal (the os package does not export that error).
func escapes(dataDir, name string) bool {
	_, err := ResolveFile(dataDir, name)
	return errors.Is(err, ErrUnsafePath)
}
