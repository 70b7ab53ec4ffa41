package pickleload

// IsRecoveredPanic reports whether err is Load's last-line recover() of a
// panic (a loader bug), for the external tests.
var IsRecoveredPanic = isRecovered
