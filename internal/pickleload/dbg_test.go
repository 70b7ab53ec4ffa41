package pickleload

import (
	"os"
	"runtime/pprof"
	"testing"
)

func TestDbgProf(t *testing.T) {
	data := mmapFile(t, os.Getenv("BF"))
	f, _ := os.Create("/tmp/lz/cpu.prof")
	pprof.StartCPUProfile(f)
	tune := defaultTuning()
	tune.force = true
	src, err := open(data, Options{MemoryBudget: 256 << 20}, tune)
	if err != nil {
		t.Fatal(err)
	}
	streamAll(t, src)
	pprof.StopCPUProfile()
}
