package pickleload

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
)

// Sentinel errors. Every error about the file's content (a bad, refused or
// unsupported pickle) satisfies errors.Is(err, [ErrInvalid]) and also one of
// the more specific sentinels below; an I/O error from [LoadFile] satisfies
// none of them.
var (
	// ErrInvalid marks a permanent failure: the file is bad or refused and
	// retrying cannot help.
	ErrInvalid = errors.New("invalid pickle")
	// ErrRefused: the pickle uses a global outside the allowlist or an
	// unsafe construct (a call of an unknown class, a persistent id, an
	// extension code).
	ErrRefused = errors.New("refused")
	// ErrLimit: the pickle exceeds a size, depth, memo or work limit.
	ErrLimit = errors.New("limit exceeded")
	// ErrUnsupported: a well-formed pickle holding a shape or dtype the
	// loader does not read (e.g. an Arrow-backed dtype), or a column whose
	// values cannot be typed (vectors of different lengths).
	ErrUnsupported = errors.New("unsupported")
	// ErrMalformed: the byte stream is not a valid pickle (truncated, an
	// unknown opcode, a stack or memo misuse, protocol > 5, empty input).
	ErrMalformed = errors.New("malformed pickle")
	// ErrFault: reading the input faulted (a file mapped into memory was
	// truncated or changed while it was read, with
	// runtime/debug.SetPanicOnFault set). Not ErrInvalid: the file may be
	// fine; retrying may help.
	ErrFault = errors.New("memory fault reading the input (the file changed while it was read)")
)

// Error is the typed error for a bad file. It wraps one of [ErrRefused],
// [ErrLimit], [ErrUnsupported] or [ErrMalformed], and errors.Is(err,
// [ErrInvalid]) holds for it. Fields that are unknown are -1 or empty.
type Error struct {
	Kind   error  // ErrRefused, ErrLimit, ErrUnsupported or ErrMalformed
	Offset int64  // byte offset of the opcode involved, or -1
	Op     string // opcode name (e.g. "STACK_GLOBAL"), or ""
	Column string // column name, or ""
	Row    int    // 0-based row, or -1
	Msg    string // what is wrong
	Err    error  // an underlying cause, or nil

	recovered bool // made by Load's last-line recover(): a loader bug
}

// Error formats as "pickle: <kind>: <msg> (at byte N, opcode OP; column "c", row R): <cause>".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("pickle: ")
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	var where []string
	if e.Offset >= 0 {
		where = append(where, fmt.Sprintf("at byte %d", e.Offset))
	}
	if e.Op != "" {
		where = append(where, "opcode "+e.Op)
	}
	if e.Column != "" {
		where = append(where, fmt.Sprintf("column %q", e.Column))
	}
	if e.Row >= 0 {
		where = append(where, fmt.Sprintf("row %d", e.Row))
	}
	if len(where) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(where, ", "))
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
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

func newErr(kind error, off int64, op string, format string, args ...any) *Error {
	return &Error{Kind: kind, Offset: off, Op: op, Row: -1, Msg: fmt.Sprintf(format, args...)}
}

// colErr returns an error about a column. Its name is copied: names come
// from the input, which the caller may reuse once Load has returned.
func colErr(kind error, column string, row int, format string, args ...any) *Error {
	return &Error{Kind: kind, Offset: -1, Column: strings.Clone(column), Row: row, Msg: fmt.Sprintf(format, args...)}
}

// recoveredErr is the error Load returns for a panic its last-line
// recover() caught: ErrMalformed for callers (the input is what made the
// loader fail), marked so that tests can tell a loader bug from a refusal.
// A memory fault reading the input (runtime.Error with Addr, as
// SetPanicOnFault makes it) is ErrFault instead.
func recoveredErr(r any) error {
	if re, ok := r.(runtime.Error); ok {
		if f, ok := re.(interface{ Addr() uintptr }); ok {
			return fmt.Errorf("pickleload: %w (at address %#x): %v", ErrFault, f.Addr(), re)
		}
	}
	return &Error{Kind: ErrMalformed, Offset: -1, Row: -1, Msg: fmt.Sprintf("internal failure on malformed input: %v", r), recovered: true}
}

// isRecovered reports whether err came from a panic caught by Load.
func isRecovered(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.recovered
}
