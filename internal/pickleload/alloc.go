package pickleload

// allocFileBuffer returns a zeroed buffer of n bytes for a whole file.
//
// An earlier version advised the buffer MADV_HUGEPAGE on Linux: reads got
// ~35 % faster in the median, but one in five to ten came out 3-5x slower on
// the benchmark VM (0.57 s instead of 0.16 s for a 190 MB file; a fresh
// worker's first 100k-row job 3.9 s instead of 1.1 s), so it was taken out:
// predictable beats fast on average. The worker's buffer reuse
// (internal/ingest) removes the page faults for every job but the first.
func allocFileBuffer(n int) []byte { return make([]byte, n) }
