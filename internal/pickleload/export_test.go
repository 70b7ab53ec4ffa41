package pickleload

import "github.com/embedstream/embedstream/internal/table"

// IsRecoveredPanic reports whether err is Load's last-line recover() of a
// panic (a loader bug), for the external tests.
var IsRecoveredPanic = isRecovered

// LazyTuning sizes the lazy path for tests: lists of at least MinItems
// items are read in parts, the sparse index has an entry every Step items,
// windows hold WindowRows rows and pass C decodes PassItems items at a
// time (0: the defaults). KeepIdle keeps the lists the conversion does not
// read out of the skeleton (they are put back into it otherwise, in case
// something read them as another type).
type LazyTuning struct {
	MinItems, Step, WindowRows, PassItems int
	KeepIdle                              bool
}

// OpenForced is Open with the lazy path forced (whatever the memory
// budget) and tune's sizes. lazy reports whether the file was read lazily
// (appended pickles: in parts); a file the lazy path cannot read is loaded
// eagerly.
func OpenForced(data []byte, opts Options, tune LazyTuning) (src table.Source, lazy bool, err error) {
	t := defaultTuning()
	t.force = true
	t.poison = true // a window's values must not point into a buffer handed back
	if tune.MinItems > 0 {
		t.minItems = tune.MinItems
	}
	if tune.Step > 0 {
		t.step = tune.Step
	}
	t.windowRows, t.passItems, t.keepIdle = tune.WindowRows, tune.PassItems, tune.KeepIdle
	src, err = open(data, opts, t)
	switch src.(type) {
	case *lazySource, *partsSource:
		lazy = true
	}
	return src, lazy, err
}
