package dataset

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"

	"github.com/embedstream/embedstream/internal/pickleload"
)

// ErrFault marks a read of a dataset's memory that faulted: its file was
// truncated (or replaced in place) by another process while it was mapped.
// The file may be fine by the next attempt, so it is transient. It is
// pickleload.ErrFault, so one errors.Is covers the loader's faults and the
// stage's.
var ErrFault = pickleload.ErrFault

// faults counts the faults Fault turned into errors.
var faults atomic.Int64

// FaultCount returns how many memory faults [Fault] (and so [Guard]) has
// turned into errors since the process started: each is a mapped file
// truncated while it was read, or a reader that outlived its dataset (a
// bug, which tests check for).
func FaultCount() int64 { return faults.Load() }

// Fault returns the error for v, a value recovered from a panic, when v is
// a memory fault: the runtime.Error with an address that a goroutine with
// runtime/debug.SetPanicOnFault(true) gets, instead of a crash, when it
// reads a page of a mapped file that was truncated. The error wraps
// [ErrFault] and says the file changed while it was read. For any other
// value Fault returns nil.
func Fault(v any) error {
	re, ok := v.(runtime.Error)
	if !ok {
		return nil
	}
	f, ok := re.(interface{ Addr() uintptr })
	if !ok {
		return nil
	}
	faults.Add(1)
	return fmt.Errorf("dataset: %w (at address %#x): %v", ErrFault, f.Addr(), re)
}

// Guard runs fn with runtime/debug.SetPanicOnFault on for the calling
// goroutine and returns fn's error, or, when fn faults reading a mapped
// file, an error wrapping [ErrFault]. Any other panic goes on as it was.
// Every goroutine that reads a dataset's memory (its table, its windows)
// runs under Guard or does the same itself.
func Guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			if ferr := Fault(v); ferr != nil {
				err = ferr
				return
			}
			panic(v)
		}
	}()
	return fn()
}
