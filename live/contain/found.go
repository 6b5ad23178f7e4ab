package contain

import (
	"os"
	"slices"
	"strconv"
	"strings"
)

// Found finds the jobs' running processes when pmtr upgrade's state could
// not be read: in each job's cgroup, or in the pid records without
// cgroups, the process whose parent is this pmtr (the same process as the
// pmtr that started it, under another binary). It returns each job's
// process by job name.
func (j *Jobs) Found(jobs []string) map[string]int {
	out := map[string]int{}
	self := os.Getpid()
	if j.rec != nil {
		for _, f := range j.rec.read() {
			if parentOf(f.pid) == self && slices.Contains(jobs, f.job) {
				out[f.job] = f.pid
			}
		}
		return out
	}
	if j.cg.base == "" {
		return out
	}
	for _, job := range jobs {
		for _, pid := range cgroupPIDs(j.cg.dir(job)) {
			if parentOf(pid) == self && groupOf(pid) == pid { // the leader: pmtr starts each job in a group of its own
				out[job] = pid
			}
		}
	}
	return out
}

// parentOf is field 4 of /proc/PID/stat; groupOf field 5.
func parentOf(pid int) int { return statField(pid, 1) }
func groupOf(pid int) int  { return statField(pid, 2) }

// statField is the nth field after the state (0) in /proc/PID/stat.
func statField(pid, n int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) <= n {
		return 0
	}
	v, _ := strconv.Atoi(f[n])
	return v
}
