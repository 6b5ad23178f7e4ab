package contain

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"pmtr/core"
	"pmtr/live/hostfacts"
)

// records keeps, where jobs have no cgroups, the running jobs' leaders
// (pid, start time, job) in the runtime directory, so that a pmtr started
// after one that was killed can tell its orphaned jobs from unrelated
// processes that reuse their pids, and stop them before starting the jobs.
type records struct {
	path  string
	log   Logger
	mu    sync.Mutex
	procs map[int]record
	dirty chan struct{}
	stop  <-chan struct{}
	done  chan struct{} // closed once the writer has removed the file at the end
}

type record struct {
	start uint64 // the process's start time (clock ticks after boot, from /proc)
	job   string
}

func newRecords(configPath string, log Logger, stop <-chan struct{}) *records {
	r := &records{log: log, procs: map[int]record{}, dirty: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	if err := hostfacts.SecureDir(hostfacts.RuntimeDir(), true); err != nil {
		log.Logf(core.Error, "can't record the jobs' pids: %v", err)
		close(r.done)
		return r
	}
	r.path = filepath.Join(hostfacts.RuntimeDir(), "jobs-"+hostfacts.ConfigHash(configPath))
	r.stopLeftovers()
	go r.writer()
	return r
}

func (r *records) add(pid int, job string) {
	if r.path == "" {
		return
	}
	if start, ok := startTime(pid); ok {
		r.mu.Lock()
		r.procs[pid] = record{start: start, job: job}
		r.mu.Unlock()
		r.poke()
	}
}

func (r *records) remove(pid int) {
	r.mu.Lock()
	_, had := r.procs[pid]
	delete(r.procs, pid)
	r.mu.Unlock()
	if had {
		r.poke()
	}
}

func (r *records) poke() {
	select {
	case r.dirty <- struct{}{}:
	default:
	}
}

// writer saves the records when they changed, at most every 100 ms (a
// burst of 1000 starts is one write), and removes the file at the end.
func (r *records) writer() {
	defer close(r.done)
	defer os.Remove(r.path)
	for {
		select {
		case <-r.dirty:
			r.save()
		case <-r.stop:
			return
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-r.stop:
			return
		}
	}
}

// wait returns once the writer has removed the file (the run has ended).
func (r *records) wait() { <-r.done }

func (r *records) save() {
	r.mu.Lock()
	var b strings.Builder
	pids := make([]int, 0, len(r.procs))
	for pid := range r.procs {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	for _, pid := range pids {
		fmt.Fprintf(&b, "%d %d %s\n", pid, r.procs[pid].start, r.procs[pid].job)
	}
	r.mu.Unlock()
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err == nil {
		os.Rename(tmp, r.path)
	}
}

// stopLeftovers stops the process groups of jobs an earlier pmtr left:
// those whose pid still has the recorded start time.
func (r *records) stopLeftovers() {
	b, err := os.ReadFile(r.path)
	if err != nil {
		return
	}
	var groups []int
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		pid, _ := strconv.Atoi(f[0])
		want, _ := strconv.ParseUint(f[1], 10, 64)
		if start, ok := startTime(pid); ok && start == want && pid > 1 {
			r.log.Logf(core.Info, "found job %s [%d] left by an earlier pmtr; stopping it before starting the jobs", f[2], pid)
			syscall.Kill(-pid, syscall.SIGTERM)
			syscall.Kill(-pid, syscall.SIGCONT)
			groups = append(groups, pid)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, g := range groups {
		for syscall.Kill(-g, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		syscall.Kill(-g, syscall.SIGKILL)
	}
	os.Remove(r.path)
}

// startTime is field 22 of /proc/PID/stat.
func startTime(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(f[19], 10, 64)
	return n, err == nil
}
