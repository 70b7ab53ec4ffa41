package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStatus returns a memory field of /proc/<pid>/status (VmHWM, VmRSS) in
// bytes, or 0 when it cannot be read.
func procStatus(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				return 0
			}
			kb, _ := strconv.ParseInt(fields[0], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// procCPU returns the user + system CPU seconds a process has used, from
// /proc/<pid>/stat (clock ticks of 1/100 s), or 0 when it cannot be read.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count from after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return float64(ut+st) / 100
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer lis.Close()
	return lis.Addr().String(), nil
}

// proc is a child process of the benchmark, with its output in a log file.
type proc struct {
	name    string
	metrics string // a worker's METRICS_ADDR (host:port), "" for other processes
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// startProc starts bin with args and extra environment, its stdout and
// stderr appended to logPath.
func startProc(name, bin string, args, env []string, logPath string) (*proc, error) {
	return startProcWith(name, bin, args, env, logPath, nil)
}

// startProcWith is startProc with start in place of exec.Cmd.Start (e.g.
// memcg.Group.Start, which starts the process inside a memory cgroup); nil:
// exec.Cmd.Start.
func startProcWith(name, bin string, args, env []string, logPath string, start func(*exec.Cmd) error) (*proc, error) {
	if start == nil {
		start = (*exec.Cmd).Start
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := start(cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// peakRSS returns the process's VmHWM so far.
func (p *proc) peakRSS() int64 { return procStatus(p.pid(), "VmHWM") }

// kill sends SIGKILL and waits for the process to exit.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill() // it may have exited since: done says
	<-p.done
}

// stop sends SIGTERM and waits up to 20s, then kills.
func (p *proc) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // it may have exited since: done says
	select {
	case <-p.done:
		return nil
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 20s of SIGTERM; killed", p.name)
	}
}

// exited returns an error when the process has already exited.
func (p *proc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v", p.name, p.err)
	default:
		return nil
	}
}

// waitUntil polls cond every interval until it returns true, the deadline
// passes, or one of procs exits.
func waitUntil(ctx context.Context, what string, timeout time.Duration, cond func() bool, procs ...*proc) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return nil
		}
		for _, p := range procs {
			if err := p.exited(); err != nil {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// httpOK reports whether GET url answers 200.
func httpOK(c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// tcpOpen reports whether addr accepts connections.
func tcpOpen(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// runJSON runs bin with args to completion and decodes its stdout into v.
func runJSON(ctx context.Context, v any, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		return fmt.Errorf("%s %s: bad output %q: %w", bin, strings.Join(args, " "), out.String(), err)
	}
	return nil
}

// median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile returns the p-th percentile (0..100) of xs, nearest rank.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	rank = max(0, min(rank, len(s)-1))
	return s[rank]
}

var errStage = errors.New("stage failed")
