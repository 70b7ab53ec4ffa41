//go:build !unix

package batchserver

import (
	"fmt"
	"os"
)

// lockDir opens the lock file; without flock, nothing stops a second server
// from sharing the directory on this platform.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	return f, nil
}
