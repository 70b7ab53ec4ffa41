package worker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/embedstream/embedstream/internal/config"
)

// The values of MEMORY_LIMIT besides a byte size.
const (
	MemoryAuto = "auto" // the limit of the worker's own memory cgroup
	MemoryNone = "none" // unbounded: every file is decoded whole
)

// MemoryReserve is the part of the memory limit kept for what does not
// depend on the files: the Go runtime and the binary, the NATS and gRPC
// clients with their buffers (gRPC's 16 MiB stream windows), the chunks in
// flight, the metrics, and the page cache of the mapped files being read
// (reclaimable, but counted by the cgroup).
const MemoryReserve int64 = 64 << 20

// MinJobBudget is the least memory budget a job gets: below it even the
// windows of a lazily read file hardly fit.
const MinJobBudget int64 = 16 << 20

// goLimitHeadroom is how far below the memory limit the Go runtime's soft
// limit is set: room for what the runtime does not count (the mapped
// files' page cache, the kernel's own charges).
const goLimitHeadroom int64 = 32 << 20

// MemoryPlan is how a worker shares out its memory limit.
type MemoryPlan struct {
	// Limit is the memory limit in bytes; 0: none.
	Limit int64
	// From says where Limit comes from: "MEMORY_LIMIT", the cgroup file
	// read, or why there is none.
	From string
	// Slots is how many datasets can be loaded at once: WORKER_CONCURRENCY,
	// plus PULL_CONCURRENCY when pull mode is on.
	Slots int
	// JobBudget is each dataset's memory budget,
	// (Limit - MemoryReserve) / Slots, at least MinJobBudget; 0: none.
	JobBudget int64
	// GoLimit is the Go runtime's soft memory limit the worker sets
	// (Limit - 32 MiB); 0: none (no limit, or GOMEMLIMIT set, which the
	// runtime applies itself).
	GoLimit int64
}

// Memory resolves c's MEMORY_LIMIT: a byte size as given, "none" (or
// unset: the local stack's in-process workers), or "auto", the limit of
// the worker's own memory cgroup (v1 or v2, found through
// /proc/self/cgroup; none when the cgroup has no limit or none is found).
// getenv reads GOMEMLIMIT.
func Memory(c Config, getenv func(string) string) MemoryPlan {
	return memoryPlan(c, getenv, cgroupLimit)
}

func memoryPlan(c Config, getenv func(string) string, cgroup func() (int64, string, error)) MemoryPlan {
	p := MemoryPlan{Slots: max(1, c.Concurrency)}
	if c.PullAddr != "" {
		p.Slots += max(1, c.PullConcurrency)
	}
	switch v := strings.TrimSpace(c.MemoryLimit); strings.ToLower(v) {
	case MemoryNone:
		p.From = "MEMORY_LIMIT=none"
	case "": // a Config not loaded from settings (the local stack's in-process workers)
		p.From = "MEMORY_LIMIT unset"
	case MemoryAuto:
		limit, from, err := cgroup()
		switch {
		case err != nil:
			p.From = "no memory cgroup found: " + err.Error()
		case limit <= 0:
			p.From = from + ": no limit"
		default:
			p.Limit, p.From = limit, from
		}
	default:
		n, err := config.ParseBytes(v)
		if err != nil { // validate refuses it before
			p.From = "MEMORY_LIMIT: " + err.Error()
			break
		}
		p.Limit, p.From = n, "MEMORY_LIMIT"
	}
	if p.Limit > 0 {
		p.JobBudget = max(MinJobBudget, (p.Limit-MemoryReserve)/int64(p.Slots))
		if getenv("GOMEMLIMIT") == "" {
			p.GoLimit = max(p.Limit-goLimitHeadroom, p.Limit/2)
		}
	}
	return p
}

// Apply sets the Go runtime's soft memory limit to p.GoLimit, if any.
func (p MemoryPlan) Apply() {
	if p.GoLimit > 0 {
		debug.SetMemoryLimit(p.GoLimit)
	}
}

// BudgetAdvice is what a refusal over the budget tells the operator.
const BudgetAdvice = "raise MEMORY_LIMIT (and the pod's memory limit) or lower WORKER_CONCURRENCY"

// validateMemory checks MEMORY_LIMIT's syntax, and that a limit given in
// bytes leaves each slot its least budget.
func (c *Config) validateMemory() error {
	v := strings.ToLower(strings.TrimSpace(c.MemoryLimit))
	if v == MemoryAuto || v == MemoryNone || v == "" {
		return nil
	}
	n, err := config.ParseBytes(v)
	if err != nil {
		return config.FieldError("memory-limit", "MEMORY_LIMIT", "must be auto, none or a byte size (e.g. 512MiB): "+err.Error())
	}
	slots := int64(max(1, c.Concurrency))
	if c.PullAddr != "" {
		slots += int64(max(1, c.PullConcurrency))
	}
	if least := MemoryReserve + slots*MinJobBudget; n < least {
		return config.FieldError("memory-limit", "MEMORY_LIMIT", fmt.Sprintf("must be at least %d MiB for %d jobs and pulls at once (%d MiB reserved, %d MiB each)",
			least>>20, slots, MemoryReserve>>20, MinJobBudget>>20))
	}
	return nil
}

// Where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// cgroupLimit returns the memory limit of this process's cgroup and the
// file it read: cgroup v2's memory.max or v1's memory.limit_in_bytes of the
// cgroup /proc/self/cgroup names, under /sys/fs/cgroup (or, inside a
// cgroup namespace, at the mount's root). 0 means no limit ("max", or v1's
// page-rounded 2^63-1).
func cgroupLimit() (int64, string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, "", err
	}
	return cgroupLimitFrom(b, cgroupRoot, os.ReadFile)
}

// cgroupLimitFrom is cgroupLimit on /proc/self/cgroup's content, under
// root, reading files with read.
func cgroupLimitFrom(self []byte, root string, read func(string) ([]byte, error)) (int64, string, error) {
	var v1, v2 string
	sc := bufio.NewScanner(bytes.NewReader(self))
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case hasController(parts[1], "memory"):
			v1 = parts[2]
		}
	}
	var candidates []string
	if v1 != "" { // a v1 memory controller wins: on hybrid hosts v2 has none
		candidates = append(candidates,
			filepath.Join(root, "memory", v1, "memory.limit_in_bytes"),
			filepath.Join(root, "memory", "memory.limit_in_bytes"))
	}
	if v2 != "" {
		candidates = append(candidates,
			filepath.Join(root, v2, "memory.max"),
			filepath.Join(root, "memory.max"))
	}
	if len(candidates) == 0 {
		return 0, "", errors.New("/proc/self/cgroup names no memory cgroup")
	}
	var errs []error
	for _, path := range candidates {
		b, err := read(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, path, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, path, fmt.Errorf("%s: %w", path, err)
		}
		if n >= 1<<62 { // v1's "no limit": 2^63-1 rounded down to a page
			return 0, path, nil
		}
		return n, path, nil
	}
	return 0, "", errors.Join(errs...)
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}
