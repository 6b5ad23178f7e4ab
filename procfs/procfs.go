// Package procfs reads facts about processes from Linux's /proc: parent,
// group, state, command line, children, memory, CPU time and context
// switches. Tests and the benchmark harness use it to observe supervisors
// and their jobs from outside.
package procfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Proc is a process's line in /proc/PID/stat.
type Proc struct {
	PID, PPID, PGID int
	State           string // R, S, D, Z, ...
	Comm            string
}

// Stat reads /proc/PID/stat; ok is false when the process does not exist.
func Stat(pid int) (Proc, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Proc{}, false
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < 0 {
		return Proc{}, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 3 {
		return Proc{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgid, _ := strconv.Atoi(f[2])
	return Proc{PID: pid, PPID: ppid, PGID: pgid, State: f[0], Comm: string(b[open+1 : end])}, true
}

// Alive: the process exists and is not a zombie.
func Alive(pid int) bool {
	p, ok := Stat(pid)
	return ok && p.State != "Z"
}

// Cmdline is the process's argv joined with NUL bytes (each one ends in NUL).
func Cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return string(b)
}

// PIDs lists every process.
func PIDs() []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	out := make([]int, 0, len(dirs))
	for _, d := range dirs {
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Children lists the process's children (of all its threads).
func Children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// GroupMembers lists live processes of process group pgid.
func GroupMembers(pgid int) []int {
	var out []int
	for _, pid := range PIDs() {
		if p, ok := Stat(pid); ok && p.PGID == pgid && p.State != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

// field returns the number after "name:" in a /proc key-value file.
func field(path, name string) int {
	b, _ := os.ReadFile(path)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, name+":"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}

// RSSKB is the resident set size in KiB.
func RSSKB(pid int) int { return field(fmt.Sprintf("/proc/%d/status", pid), "VmRSS") }

// AnonKB is the anonymous part of the resident set in KiB (heap, stacks):
// without the pages of the binary and libraries, which a process that runs
// more of its code has more of whatever its data.
func AnonKB(pid int) int { return field(fmt.Sprintf("/proc/%d/status", pid), "RssAnon") }

// PSSKB is the proportional set size in KiB: pages shared with other
// processes count in proportion.
func PSSKB(pid int) int { return field(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss") }

// ContextSwitches sums voluntary and involuntary switches of every thread.
func ContextSwitches(pid int) int {
	total := 0
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		total += field(t, "voluntary_ctxt_switches") + field(t, "nonvoluntary_ctxt_switches")
	}
	return total
}

// CPUTicks is the process's own user + system time in clock ticks (1/100 s
// on Linux), not counting the children it reaped.
func CPUTicks(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}
