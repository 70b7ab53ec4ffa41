package container

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Sentinel errors. Every error about the file's content satisfies
// errors.Is(err, [ErrInvalid]) (a permanent failure: the worker classifies
// it like a bad pickle) and one of the more specific sentinels below. An
// I/O error reading the source or writing the destination, and a cancelled
// context, satisfy none of them (they may be transient).
var (
	// ErrInvalid marks a permanent failure: the file is not one the
	// loader reads, or its container is bad, and retrying cannot help.
	ErrInvalid = errors.New("invalid file")
	// ErrNotReadable: a well-formed file of a format the loader does not
	// read (Parquet, HDF5, CSV, ...), or bytes of no known format.
	ErrNotReadable = errors.New("not a readable format")
	// ErrUnsupported: a container the loader does not unwrap as it is
	// (several members, nested containers, encryption, an unknown zip
	// compression method, an xz dictionary above the bound).
	ErrUnsupported = errors.New("unsupported container")
	// ErrRefused: an unsafe archive member (a symlink or hardlink, an
	// absolute or path-traversing name).
	ErrRefused = errors.New("refused")
	// ErrLimit: the unwrapped content exceeds the size limit (a
	// decompression bomb, or a member claiming a huge size).
	ErrLimit = errors.New("limit exceeded")
	// ErrMalformed: a truncated or corrupt compressed stream or archive.
	ErrMalformed = errors.New("malformed container")
)

// Error is the typed error for a bad file. It wraps one of
// [ErrNotReadable], [ErrUnsupported], [ErrRefused], [ErrLimit] or
// [ErrMalformed], and errors.Is(err, [ErrInvalid]) holds for it. Its
// message names what the file is and what to do.
type Error struct {
	Kind error  // ErrNotReadable, ErrUnsupported, ErrRefused, ErrLimit or ErrMalformed
	What string // what the file is, e.g. "gzip-compressed pickle", "Parquet file"
	Msg  string // the whole message, starting with what the file is
	Err  error  // an underlying decoder error, or nil
}

// Error returns the message, followed by the decoder's error if any.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Msg
	}
	var b strings.Builder
	b.WriteString(e.Msg)
	b.WriteString(" (")
	b.WriteString(oneLine(e.Err.Error(), 200))
	b.WriteString(")")
	return b.String()
}

// Unwrap returns the kind sentinel and the cause.
func (e *Error) Unwrap() []error {
	errs := []error{e.Kind}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Is reports ErrInvalid for every *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// oneLine shortens s to about n bytes on one line, cutting at a rune.
func oneLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}
