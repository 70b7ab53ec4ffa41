// Package memcg runs processes inside a Linux memory cgroup with a limit and
// measures them: what a Kubernetes memory limit does to a container, on this
// machine. Tests and the benchmark use it to show that a worker's memory is
// bounded by its settings, not by the size of the file it ingests.
//
// # Cgroups
//
// It needs root and a memory controller: cgroup v2 (a unified hierarchy at
// /sys/fs/cgroup whose cgroup.controllers lists "memory") or cgroup v1
// (/sys/fs/cgroup/memory). [Available] says whether it can work here and, if
// not, why. A [Group] is one child cgroup with a hard limit (v2 memory.max,
// v1 memory.limit_in_bytes); processes started with [Group.Start] are placed
// in it before they run their first instruction of the real program (a
// shell puts itself in the group, then execs the command), so nothing they
// allocate escapes the limit.
//
// # What is measured
//
// The group's peak usage (v2 memory.peak, v1 memory.max_usage_in_bytes),
// which counts page cache too, and its OOM kills (v2 memory.events, v1
// memory.oom_control); per process, [Watch] samples /proc/<pid>/status for
// the peak of RssAnon (anonymous memory: the heap, stacks, anonymous
// mappings) and reads VmHWM (the peak resident set, file-backed pages of
// mapped files included).
package memcg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Roots of the two hierarchies.
const (
	v2Root = "/sys/fs/cgroup"
	v1Root = "/sys/fs/cgroup/memory"
)

// ErrUnavailable is returned (wrapped) by [Available] and [New] when memory
// cgroups cannot be used here.
var ErrUnavailable = errors.New("memory cgroups unavailable")

// root returns the directory new groups are made in and the cgroup version.
func root() (string, int, error) {
	if os.Geteuid() != 0 {
		return "", 0, fmt.Errorf("%w: needs root (running as uid %d)", ErrUnavailable, os.Geteuid())
	}
	if b, err := os.ReadFile(filepath.Join(v2Root, "cgroup.controllers")); err == nil {
		if hasWord(string(b), "memory") {
			return v2Root, 2, nil
		}
	}
	if _, err := os.Stat(filepath.Join(v1Root, "memory.limit_in_bytes")); err == nil {
		return v1Root, 1, nil
	}
	return "", 0, fmt.Errorf("%w: neither a cgroup v2 memory controller at %s nor cgroup v1 at %s", ErrUnavailable, v2Root, v1Root)
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// Available returns nil when groups can be made here, else an error wrapping
// [ErrUnavailable] that says why.
func Available() error {
	_, _, err := root()
	return err
}

// Group is one memory cgroup with a hard limit.
type Group struct {
	dir     string
	version int
	limit   int64
}

// New creates a cgroup named name (unique: a suffix is added) limited to
// limit bytes of memory (page cache included; there is no swap). Close
// removes it. Errors wrap [ErrUnavailable] when cgroups cannot be used.
func New(name string, limit int64) (*Group, error) {
	base, version, err := root()
	if err != nil {
		return nil, err
	}
	if version == 2 {
		// Children of the root get the memory controller only if the root
		// delegates it; ask for it (harmless when it already does).
		_ = os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte("+memory"), 0)
	}
	dir, err := os.MkdirTemp(base, name+"-")
	if err != nil {
		return nil, fmt.Errorf("%w: create cgroup: %w", ErrUnavailable, err)
	}
	g := &Group{dir: dir, version: version, limit: limit}
	file, value := "memory.limit_in_bytes", strconv.FormatInt(limit, 10)
	if version == 2 {
		file = "memory.max"
		// no swap either, as on a v1 machine without swap accounting
		_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		_ = os.Remove(dir)
		return nil, fmt.Errorf("memcg: set %s: %w", file, err)
	}
	return g, nil
}

// Dir returns the group's directory.
func (g *Group) Dir() string { return g.dir }

// Version returns the cgroup version, 1 or 2.
func (g *Group) Version() int { return g.version }

// Limit returns the group's limit in bytes.
func (g *Group) Limit() int64 { return g.limit }

// Start starts cmd inside the group: a /bin/sh writes its own pid to the
// group's cgroup.procs and then execs cmd's program with cmd's arguments,
// environment, directory and files, so the program runs in the group from
// its first instruction. cmd.Path and cmd.Args are rewritten; cmd.Process is
// the program's process (the shell exec'd into it) once Start returns.
func (g *Group) Start(cmd *exec.Cmd) error {
	prog := cmd.Path
	args := append([]string(nil), cmd.Args...)
	if len(args) == 0 {
		args = []string{prog}
	}
	procs := filepath.Join(g.dir, "cgroup.procs")
	script := `echo $$ > "$0" || exit 125; exec "$@"`
	cmd.Path = "/bin/sh"
	cmd.Args = append([]string{"sh", "-c", script, procs, prog}, args[1:]...)
	cmd.Err = nil
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("memcg: start %s: %w", prog, err)
	}
	return nil
}

// Stats is what the group measured.
type Stats struct {
	Limit    int64 // the hard limit
	Peak     int64 // peak usage, page cache included
	OOMKills int64 // processes the kernel killed for the limit
}

// Stats reads the group's counters.
func (g *Group) Stats() (Stats, error) {
	st := Stats{Limit: g.limit}
	var err error
	if g.version == 2 {
		if st.Peak, err = readInt(filepath.Join(g.dir, "memory.peak")); err != nil {
			return st, err
		}
		st.OOMKills, err = keyed(filepath.Join(g.dir, "memory.events"), "oom_kill")
		return st, err
	}
	if st.Peak, err = readInt(filepath.Join(g.dir, "memory.max_usage_in_bytes")); err != nil {
		return st, err
	}
	st.OOMKills, err = keyed(filepath.Join(g.dir, "memory.oom_control"), "oom_kill")
	return st, err
}

// Close kills what still runs in the group and removes it.
func (g *Group) Close() error {
	procs, _ := os.ReadFile(filepath.Join(g.dir, "cgroup.procs"))
	for _, f := range strings.Fields(string(procs)) {
		if pid, err := strconv.Atoi(f); err == nil {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
	}
	var err error
	for range 50 { // a killed process leaves the group when it is reaped
		if err = os.Remove(g.dir); err == nil || os.IsNotExist(err) {
			return nil
		}
		time.Sleep(20 * time.Millisecond) // waiting on the kernel, not on a test event
	}
	return fmt.Errorf("memcg: remove %s: %w", g.dir, err)
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("memcg: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memcg: %s: %w", path, err)
	}
	return n, nil
}

// keyed reads the value of key in a "key value" per line file.
func keyed(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("memcg: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == key {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, nil // older kernels lack the counter: none seen
}

// Process is what [Watch] measured of one process.
type Process struct {
	PeakRssAnon int64 // largest RssAnon sampled
	VmHWM       int64 // peak resident set (VmHWM) at the last sample
	Samples     int
}

// Watch samples /proc/<pid>/status every interval until ctx ends or the
// process is gone, then returns what it saw. RssAnon is sampled, so a peak
// shorter than interval may be missed; VmHWM is the kernel's exact peak.
func Watch(ctx context.Context, pid int, interval time.Duration) Process {
	var p Process
	path := fmt.Sprintf("/proc/%d/status", pid)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if !sample(path, &p) {
			return p
		}
		select {
		case <-ctx.Done():
			sample(path, &p)
			return p
		case <-t.C:
		}
	}
}

// Watcher runs [Watch] on its own goroutine; Stop ends it and returns the
// result.
type Watcher struct {
	cancel context.CancelFunc
	once   sync.Once
	done   chan Process
	res    Process
}

// StartWatch starts [Watch] on pid.
func StartWatch(pid int, interval time.Duration) *Watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{cancel: cancel, done: make(chan Process, 1)}
	go func() { w.done <- Watch(ctx, pid, interval) }()
	return w
}

// Stop ends the sampling and returns the measurement (idempotent).
func (w *Watcher) Stop() Process {
	w.once.Do(func() {
		w.cancel()
		w.res = <-w.done
	})
	return w.res
}

// sample reads one status snapshot into p; false when the process is gone.
func sample(path string, p *Process) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var anon, hwm int64 = -1, -1
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "RssAnon:"):
			anon = kB(line)
		case strings.HasPrefix(line, "VmHWM:"):
			hwm = kB(line)
		}
	}
	if anon < 0 { // a zombie: no memory lines left
		return false
	}
	p.Samples++
	p.PeakRssAnon = max(p.PeakRssAnon, anon)
	if hwm > p.VmHWM {
		p.VmHWM = hwm
	}
	return true
}

// kB parses "Name:   1234 kB" into bytes.
func kB(line string) int64 {
	f := strings.Fields(line)
	if len(f) < 2 {
		return -1
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return -1
	}
	return n << 10
}
