package memcg_test

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/memcg"
)

// TestMain lets the test binary act as the allocating child: with
// MEMCG_ALLOC=N it touches N MiB of anonymous memory and exits.
func TestMain(m *testing.M) {
	if s := os.Getenv("MEMCG_ALLOC"); s != "" {
		n, _ := strconv.Atoi(s)
		b := make([]byte, n<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		b[len(b)-1] = 1
		os.Exit(int(b[0]+b[len(b)-1]) - 2) // 0: every page was touched
	}
	os.Exit(m.Run())
}

func child(t *testing.T, mib int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MEMCG_ALLOC="+strconv.Itoa(mib))
	return cmd
}

func group(t *testing.T, limit int64) *memcg.Group {
	t.Helper()
	if err := memcg.Available(); err != nil {
		t.Skipf("memory cgroups: %v", err)
	}
	g, err := memcg.New("embedstream-memcg-test", limit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	})
	return g
}

func TestWithinLimit(t *testing.T) {
	g := group(t, 256<<20)
	cmd := child(t, 64)
	if err := g.Start(cmd); err != nil {
		t.Fatal(err)
	}
	w := memcg.StartWatch(cmd.Process.Pid, time.Millisecond)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	p := w.Stop()
	st, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.OOMKills != 0 {
		t.Errorf("OOM kills = %d, want 0", st.OOMKills)
	}
	if st.Peak < 64<<20 || st.Peak > 256<<20 {
		t.Errorf("group peak = %d MiB, want between 64 and 256", st.Peak>>20)
	}
	t.Logf("group peak %d MiB; process samples %d, peak RssAnon %d MiB, VmHWM %d MiB", st.Peak>>20, p.Samples, p.PeakRssAnon>>20, p.VmHWM>>20)
}

func TestOverLimitIsKilled(t *testing.T) {
	g := group(t, 64<<20)
	cmd := child(t, 200)
	if err := g.Start(cmd); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: %v, want it killed", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", err)
	}
	st, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.OOMKills < 1 {
		t.Errorf("OOM kills = %d, want at least 1", st.OOMKills)
	}
}
