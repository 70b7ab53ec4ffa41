//go:build !unix

package source

import "os"

// openFlags opens data files for reading.
const openFlags = os.O_RDONLY
