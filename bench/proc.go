package main

import (
	"strconv"
	"strings"

	"pmtr/procfs"
)

// What the harness reads from /proc. Supervisor processes are the main pid
// and its descendants that are not jobs (runsv, s6-supervise, ...).

// marker is the cmdline of "/bin/sleep N": jobs are told apart by N.
func marker(n int) string { return "/bin/sleep\x00" + strconv.Itoa(n) + "\x00" }

// isJob: a process running a job's program (or a shell wrapping one).
func isJob(cmdline string) bool {
	return strings.HasPrefix(cmdline, "/bin/sleep\x00") || strings.HasPrefix(cmdline, "/bin/sh\x00")
}

// supervisorProcs lists root and its descendants that are not jobs.
func supervisorProcs(root int) []int {
	out := []int{root}
	for i := 0; i < len(out); i++ {
		for _, c := range procfs.Children(out[i]) {
			if !isJob(procfs.Cmdline(c)) {
				out = append(out, c)
			}
		}
	}
	return out
}

// countMarkers counts live processes whose cmdline is a marker in [lo, hi).
func countMarkers(lo, hi int) int {
	n := 0
	for _, pid := range procfs.PIDs() {
		if rest, ok := strings.CutPrefix(procfs.Cmdline(pid), "/bin/sleep\x00"); ok {
			if v, err := strconv.Atoi(strings.TrimSuffix(rest, "\x00")); err == nil && v >= lo && v < hi && procfs.Alive(pid) {
				n++
			}
		}
	}
	return n
}

func findMarker(n int) int {
	m := marker(n)
	for _, pid := range procfs.PIDs() {
		if procfs.Cmdline(pid) == m && procfs.Alive(pid) {
			return pid
		}
	}
	return 0
}

// childWithCmdline returns a child of parent running cmdline, other than not.
func childWithCmdline(parent int, cmdline string, not int) int {
	for _, c := range procfs.Children(parent) {
		if c != not && procfs.Cmdline(c) == cmdline {
			return c
		}
	}
	return 0
}

func sum(pids []int, f func(int) int) int {
	total := 0
	for _, pid := range pids {
		total += f(pid)
	}
	return total
}
