//go:build unix

package batchserver

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// errLocked is returned (wrapped) when another server holds the output
// directory.
var errLocked = errors.New("output directory is in use by another batch server")

// lockDir takes an exclusive, non-blocking flock on path (created if
// missing), so two servers never share one ledger. The lock ends when the
// returned file is closed or the process exits.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close() // the lock error is the one to report
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", errLocked, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
