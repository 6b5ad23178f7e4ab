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
//
// The file is written as soon as a burst of starts is over (Settled), or
// 100 ms into a long one. A write that fails (the runtime directory full,
// unwritable or gone) is logged once, with the error, reported as degraded
// containment (status and why show it) and tried again every 5 s until it
// works.
type records struct {
	saveMu  sync.Mutex
	path    string
	log     Logger
	report  func(problem string) // degraded containment, or "" once it works again
	mu      sync.Mutex
	procs   map[int]record
	dirty   chan struct{}
	settled chan struct{}
	stop    <-chan struct{}
	done    chan struct{} // closed once the writer has removed the file at the end
	// The writer's own.
	interval, retry time.Duration
	failing         bool
}

// burstWait is the longest a change waits for the burst of starts to
// end; retryEvery, how often a failed write is tried again (variables so
// that tests can change them).
var burstWait, retryEvery = 100 * time.Millisecond, 5 * time.Second

type record struct {
	start uint64 // the process's start time (clock ticks after boot, from /proc)
	job   string
}

func newRecords(configPath string, log Logger, stop <-chan struct{}, report func(string), adopt bool) *records {
	r := &records{log: log, report: report, procs: map[int]record{}, dirty: make(chan struct{}, 1), settled: make(chan struct{}, 1),
		stop: stop, done: make(chan struct{}), interval: burstWait, retry: retryEvery,
		path: filepath.Join(hostfacts.RuntimeDir(), "jobs-"+hostfacts.ConfigHash(configPath))}
	switch err := hostfacts.SecureDir(filepath.Dir(r.path), true); {
	case err != nil:
		r.failed(err)
	case adopt:
		r.load()
	default:
		r.stopLeftovers()
	}
	go r.writer()
	return r
}

func (r *records) add(pid int, job string) {
	if start, ok := startTime(pid); ok {
		r.mu.Lock()
		r.procs[pid] = record{start: start, job: job}
		r.mu.Unlock()
		poke(r.dirty)
	}
}

func (r *records) remove(pid int) {
	r.mu.Lock()
	_, had := r.procs[pid]
	delete(r.procs, pid)
	r.mu.Unlock()
	if had {
		poke(r.dirty)
	}
}

// settle: the burst of starts is over; what changed is written now.
func (r *records) settle() { poke(r.settled) }

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// writer saves the records when they changed, once the burst of starts
// that changed them is over (a burst of 1000 starts is one write), tries
// a failed save again, and removes the file at the end.
func (r *records) writer() {
	defer close(r.done)
	defer os.Remove(r.path)
	var retry <-chan time.Time
	for {
		select {
		case <-r.dirty:
			if !r.awaitBurst() {
				return
			}
		case <-retry:
		case <-r.stop:
			return
		}
		retry = nil
		if err := r.save(); err != nil {
			r.failed(err)
			retry = time.After(r.retry)
		} else if r.failing {
			r.failing = false
			r.log.Logf(core.Info, "recording the jobs' pids in %s again", r.path)
			r.report("")
		}
	}
}

// awaitBurst waits until the starts under way are over, for at most the
// interval; false when the run ends.
func (r *records) awaitBurst() bool {
	t := time.NewTimer(r.interval)
	defer t.Stop()
	select {
	case <-r.settled:
	case <-t.C:
	case <-r.stop:
		return false
	}
	return true
}

// failed says once, loudly, that the pids cannot be recorded, and what
// that costs.
func (r *records) failed(err error) {
	if r.failing {
		return
	}
	r.failing = true
	r.log.Logf(core.Error, "can't record the jobs' pids in %s: %v; if pmtr is killed, the next pmtr cannot find these jobs and they run twice; trying again every %v",
		r.path, err, r.retry)
	r.report(fmt.Sprintf("the jobs' pids can't be recorded in %s (%v)", filepath.Dir(r.path), err))
}

// wait returns once the writer has removed the file (the run has ended).
func (r *records) wait() { <-r.done }

func (r *records) save() error {
	r.saveMu.Lock() // the writer's, and Flush's at pmtr upgrade
	defer r.saveMu.Unlock()
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
	if r.failing { // the directory may be gone, or not be pmtr's any more
		if err := hostfacts.SecureDir(filepath.Dir(r.path), true); err != nil {
			return err
		}
	}
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, r.path)
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

// load keeps the records of the pmtr before an upgrade (this process,
// under another binary): its jobs are this run's.
func (r *records) load() {
	for _, rec := range r.read() {
		r.procs[rec.pid] = record{start: rec.start, job: rec.job}
	}
}

// found is a record whose process still runs (its start time matches).
type found struct {
	pid   int
	start uint64
	job   string
}

// read lists the recorded processes that still run.
func (r *records) read() []found {
	b, err := os.ReadFile(r.path)
	if err != nil {
		return nil
	}
	var out []found
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		pid, _ := strconv.Atoi(f[0])
		want, _ := strconv.ParseUint(f[1], 10, 64)
		if start, ok := startTime(pid); ok && start == want && pid > 1 {
			out = append(out, found{pid: pid, start: start, job: f[2]})
		}
	}
	return out
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
