package filebuf

import "syscall"

// mapMin is the smallest buffer worth a mapping of its own.
const mapMin = 1 << 20

// alloc maps n bytes of anonymous private memory. Small buffers are Go
// memory. (MAP_POPULATE, faulting every page in up front, made a one-core
// read ~25 % faster, but it zeroes the pages on one core: concurrent reads
// that fault them in as they copy are faster still.)
func alloc(n int) ([]byte, bool, error) {
	if n < mapMin {
		return make([]byte, n), false, nil
	}
	mem, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, false, err
	}
	return mem, true, nil
}

func release(mem []byte) error { return syscall.Munmap(mem) }
