package health

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
)

// StartNotice is added to a start: the fields of live/spawn's
// StartNotice, which the assembly converts it to.
type StartNotice struct {
	Env  []string
	FD   int
	File *os.File
}

// ForStart gives a start of a job what it needs to say it is ready or
// alive: its socket (made, or made again for a new owner) as
// NOTIFY_SOCKET, WATCHDOG_USEC, and a fresh readiness pipe at its fd. On a
// spawner goroutine.
func (h *Health) ForStart(e core.Spawn) (StartNotice, error) {
	var n StartNotice
	j := e.Spec
	if h.notes == nil {
		return n, fmt.Errorf("can't give it a notify socket or readiness pipe: %v", h.noteErr)
	}
	if j.UsesNotify() {
		path, err := h.socket(j)
		if err != nil {
			return n, err
		}
		n.Env = append(n.Env, "NOTIFY_SOCKET="+path)
		if j.Watchdog > 0 {
			n.Env = append(n.Env, "WATCHDOG_USEC="+strconv.FormatInt(j.Watchdog.Microseconds(), 10))
		}
	}
	if j.Ready.Kind == confgrammar.ProbeFD {
		f, err := h.notes.Pipe(e.Job, int(e.Attempt))
		if err != nil {
			return n, err
		}
		n.FD, n.File = j.Ready.FD, f
	}
	return n, nil
}

// socket is the job's notify socket, made for its user.
func (h *Health) socket(j *confgrammar.Job) (string, error) {
	owner := [2]int{-1, -1}
	if j.User != "" {
		u, cred, err := lookupCred(j.User)
		if err != nil || u == nil {
			return "", err
		}
		owner = [2]int{int(cred.Uid), int(cred.Gid)}
	}
	name := j.Name
	h.sockMu.Lock()
	defer h.sockMu.Unlock()
	h.mu.Lock()
	path, had := h.paths[name]
	prev := h.owners[name]
	h.mu.Unlock()
	if had && prev == owner {
		return path, nil
	}
	if had {
		h.notes.Remove(name) // made for another user
	}
	path, err := h.notes.Open(name, owner[0], owner[1], func(pid int) bool { return h.belongs(name, pid) })
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	h.paths[name], h.owners[name] = path, owner
	stale := h.wanted != nil && !h.wanted[name] // a start decided under the config before: its job is gone
	h.mu.Unlock()
	if stale {
		go h.prune()
	}
	return path, nil
}

// KeepSockets takes the jobs that use a notify socket in the config now
// in force (driver.Setup.Notify) and lets the others' sockets go, on a
// goroutine of their own: it runs on the driver's. The first setup (of a
// fresh pmtr, or of one that an upgrade from a pmtr that did not name
// them started) only records them.
func (h *Health) KeepSockets(jobs []string) {
	if h.notes == nil {
		return
	}
	wanted := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		wanted[j] = true
	}
	h.mu.Lock()
	first := h.wanted == nil
	h.wanted = wanted
	stale := false
	for job := range h.paths {
		stale = stale || !wanted[job]
	}
	h.mu.Unlock()
	if stale && !first {
		go h.prune()
	}
}

// prune closes and removes the sockets of the jobs not wanted.
func (h *Health) prune() {
	h.sockMu.Lock()
	defer h.sockMu.Unlock()
	var gone []string
	h.mu.Lock()
	for job := range h.paths {
		if h.wanted != nil && !h.wanted[job] {
			gone = append(gone, job)
			delete(h.paths, job)
			delete(h.owners, job)
		}
	}
	h.mu.Unlock()
	for _, job := range gone {
		h.notes.Remove(job)
	}
}

// belongs: pid is a process of the job: in its cgroup, else in its
// process group, else its leader. On the notify reader's goroutine.
func (h *Health) belongs(job string, pid int) bool {
	if h.cg.Cgroups() && h.cg.Holds(job, pid) {
		return true
	}
	h.mu.Lock()
	leader := h.leaders[job]
	h.mu.Unlock()
	if leader == 0 {
		return false
	}
	if pid == leader {
		return true
	}
	pgid, err := unix.Getpgid(pid)
	return err == nil && pgid == leader
}

// Sent sees what spawn sends the driver: the leader of each job (for
// belongs) and, at its exit, the end of its readiness pipe.
func (h *Health) Sent(in driver.Input) {
	ev, ok := in.(driver.Event)
	if !ok {
		return
	}
	switch e := ev.Ev.(type) {
	case core.Spawned:
		h.mu.Lock()
		h.leaders[e.Job] = e.PID
		h.jobOf[e.PID] = e.Job
		h.mu.Unlock()
	case core.Exited:
		h.mu.Lock()
		job, ok := h.jobOf[e.PID]
		delete(h.jobOf, e.PID)
		if ok && h.leaders[job] == e.PID {
			delete(h.leaders, job)
		}
		h.mu.Unlock()
		if ok && h.notes != nil {
			h.notes.ClosePipe(job)
		}
	}
}
