package worker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCgroupLimit reads the limit of the process's own memory cgroup on
// v1, v2 and hybrid hosts, inside and outside a cgroup namespace.
func TestCgroupLimit(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"/cg/memory/kubepods/pod1/memory.limit_in_bytes": "268435456\n",
		"/cg/memory/memory.limit_in_bytes":               "9223372036854771712\n",
		"/cg/kubepods.slice/pod2/memory.max":             "536870912\n",
		"/cg/unlimited/memory.max":                       "max\n",
		"/cg/memory.max":                                 "134217728\n",
		"/cg/bad/memory.max":                             "lots\n",
	}
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}
	for _, c := range []struct {
		self  string
		limit int64
		from  string
		err   bool
	}{
		{"12:pids:/kubepods/pod1\n4:memory:/kubepods/pod1\n0::/\n", 256 << 20, "memory/kubepods/pod1/memory.limit_in_bytes", false},
		{"4:memory:/elsewhere\n", 0, "memory/memory.limit_in_bytes", false}, // a namespace: the mount's root; 2^63-1 is no limit
		{"0::/kubepods.slice/pod2\n", 512 << 20, "kubepods.slice/pod2/memory.max", false},
		{"0::/unlimited\n", 0, "unlimited/memory.max", false},
		{"0::/\n", 128 << 20, "memory.max", false},
		{"0::/gone\n", 128 << 20, "memory.max", false}, // inside a namespace
		{"0::/bad\n", 0, "", true},
		{"5:cpu:/x\n", 0, "", true},
	} {
		limit, from, err := cgroupLimitFrom([]byte(c.self), "/cg", read)
		if limit != c.limit || (err != nil) != c.err || (c.from != "" && from != filepath.Join("/cg", c.from)) {
			t.Errorf("%q: %d from %q (%v), want %d from %q (error %v)", c.self, limit, from, err, c.limit, c.from, c.err)
		}
	}
}

// TestMemoryPlan: the budget is (limit - reserve) / slots, pull slots
// counted when pulls are on, never below the least; GOMEMLIMIT wins over
// the soft limit the worker would set.
func TestMemoryPlan(t *testing.T) {
	t.Parallel()
	noEnv := func(string) string { return "" }
	cg := func(limit int64) func() (int64, string, error) {
		return func() (int64, string, error) { return limit, "/sys/fs/cgroup/memory.max", nil }
	}
	c := Config{MemoryLimit: "auto", Concurrency: 2, PullConcurrency: 4}
	if p := memoryPlan(c, noEnv, cg(256<<20)); p.Limit != 256<<20 || p.Slots != 2 || p.JobBudget != 96<<20 || p.GoLimit != 224<<20 || p.From != "/sys/fs/cgroup/memory.max" {
		t.Errorf("auto: %+v", p)
	}
	c.PullAddr = ":50052"
	if p := memoryPlan(c, noEnv, cg(1<<30)); p.Slots != 6 || p.JobBudget != (1<<30-64<<20)/6 {
		t.Errorf("with pulls: %+v", p)
	}
	if p := memoryPlan(c, noEnv, cg(100<<20)); p.JobBudget != MinJobBudget {
		t.Errorf("small limit: %+v", p)
	}
	if p := memoryPlan(c, func(string) string { return "300MiB" }, cg(256<<20)); p.GoLimit != 0 || p.JobBudget == 0 {
		t.Errorf("GOMEMLIMIT set: %+v", p)
	}
	if p := memoryPlan(c, noEnv, cg(0)); p.Limit != 0 || p.JobBudget != 0 || p.GoLimit != 0 || !strings.Contains(p.From, "no limit") {
		t.Errorf("no cgroup limit: %+v", p)
	}
	if p := memoryPlan(c, noEnv, func() (int64, string, error) { return 0, "", errors.New("no cgroup") }); p.Limit != 0 || !strings.Contains(p.From, "no cgroup") {
		t.Errorf("no cgroup: %+v", p)
	}
	for _, v := range []string{"none", ""} {
		c.MemoryLimit = v
		if p := memoryPlan(c, noEnv, cg(256<<20)); p.Limit != 0 || p.JobBudget != 0 || p.GoLimit != 0 {
			t.Errorf("%q: %+v", v, p)
		}
	}
	c.MemoryLimit, c.PullAddr = "1GiB", ""
	if p := memoryPlan(c, noEnv, cg(256<<20)); p.Limit != 1<<30 || p.From != "MEMORY_LIMIT" || p.JobBudget != (1<<30-64<<20)/2 {
		t.Errorf("1GiB: %+v", p)
	}
}

func TestValidateMemory(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		limit string
		pull  bool
		ok    bool
	}{
		{"auto", false, true}, {"NONE", false, true}, {"256MiB", false, true}, {"96MiB", false, true},
		{"95MiB", false, false}, {"256MiB", true, true}, {"159MiB", true, false}, {"lots", false, false}, {"", false, true},
	} {
		cfg := Config{MemoryLimit: c.limit, Concurrency: 2, PullConcurrency: 4}
		if c.pull {
			cfg.PullAddr = ":1"
		}
		err := cfg.validateMemory()
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "MEMORY_LIMIT")) {
			t.Errorf("MEMORY_LIMIT=%q (pull %v): %v, want ok %v", c.limit, c.pull, err, c.ok)
		}
	}
}

// TestThisProcessCgroup: on this machine, auto resolves to the process's
// own cgroup (a limit or none), without an error when /proc/self/cgroup
// names a memory cgroup.
func TestThisProcessCgroup(t *testing.T) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skipf("no /proc/self/cgroup: %v", err)
	}
	limit, from, err := cgroupLimit()
	t.Logf("/proc/self/cgroup: %q -> limit %d from %s (%v)", b, limit, from, err)
	if strings.Contains(string(b), "memory") && err != nil {
		t.Fatal(err)
	}
}
