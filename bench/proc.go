package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// What the harness reads from /proc. Supervisor processes are the main pid
// and its descendants that are not jobs (runsv, s6-supervise, ...).

type procInfo struct {
	pid, ppid int
	comm      string
	cmdline   string
}

func readProc(pid int) (procInfo, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, false
	}
	open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || close < 0 {
		return procInfo{}, false
	}
	f := strings.Fields(string(b[close+1:]))
	if len(f) < 2 || f[0] == "Z" {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return procInfo{pid: pid, ppid: ppid, comm: string(b[open+1 : close]), cmdline: string(cl)}, true
}

func allProcs() []procInfo {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	out := make([]procInfo, 0, len(dirs))
	for _, d := range dirs {
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			if p, ok := readProc(pid); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// marker is the cmdline of "/bin/sleep N": jobs are told apart by N.
func marker(n int) string { return "/bin/sleep\x00" + strconv.Itoa(n) + "\x00" }

// isJob: a process running a job's program (or a shell wrapping one).
func isJob(p procInfo) bool {
	return strings.HasPrefix(p.cmdline, "/bin/sleep\x00") || strings.HasPrefix(p.cmdline, "/bin/sh\x00")
}

// supervisorProcs lists root and its descendants that are not jobs.
func supervisorProcs(root int) []int {
	procs := allProcs()
	in := map[int]bool{root: true}
	for changed := true; changed; {
		changed = false
		for _, p := range procs {
			if !in[p.pid] && in[p.ppid] && !isJob(p) {
				in[p.pid], changed = true, true
			}
		}
	}
	out := make([]int, 0, len(in))
	for pid := range in {
		out = append(out, pid)
	}
	return out
}

// countMarkers counts live processes whose cmdline is a marker in [lo, hi).
func countMarkers(lo, hi int) int {
	n := 0
	for _, p := range allProcs() {
		if rest, ok := strings.CutPrefix(p.cmdline, "/bin/sleep\x00"); ok {
			if v, err := strconv.Atoi(strings.TrimSuffix(rest, "\x00")); err == nil && v >= lo && v < hi {
				n++
			}
		}
	}
	return n
}

func findMarker(n int) int {
	m := marker(n)
	for _, p := range allProcs() {
		if p.cmdline == m {
			return p.pid
		}
	}
	return 0
}

// childWithCmdline returns a child of parent running cmdline, other than not.
func childWithCmdline(parent int, cmdline string, not int) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", parent))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			if pid == not {
				continue
			}
			if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && string(cl) == cmdline {
				return pid
			}
		}
	}
	return 0
}

// memKB sums the processes' proportional set size (PSS): shared pages
// count once across them, so many small supervise processes that share
// libc are not charged for it a thousand times, as RSS would.
func memKB(pids []int) int {
	total := 0
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Pss:") {
				n, _ := strconv.Atoi(strings.Fields(l)[1])
				total += n
			}
		}
	}
	return total
}

// switches sums the context switches of every thread of the processes.
func switches(pids []int) int {
	total := 0
	for _, pid := range pids {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
		for _, t := range tasks {
			b, _ := os.ReadFile(t)
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "voluntary_ctxt_switches:") || strings.HasPrefix(l, "nonvoluntary_ctxt_switches:") {
					n, _ := strconv.Atoi(strings.Fields(l)[1])
					total += n
				}
			}
		}
	}
	return total
}

// cpuTicks sums user and system time (1/100 s) of the processes themselves
// (not of the children they reaped: those are jobs).
func cpuTicks(pids []int) int {
	total := 0
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		u, _ := strconv.Atoi(f[11])
		s, _ := strconv.Atoi(f[12])
		total += u + s
	}
	return total
}
