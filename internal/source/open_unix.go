//go:build unix

package source

import (
	"os"
	"syscall"
)

// openFlags opens data files non-blocking, so a FIFO swapped in after the
// type check cannot block the open (reads of regular files are unaffected).
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK
