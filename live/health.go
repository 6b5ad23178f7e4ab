package live

import (
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/benbjohnson/clock"
	"golang.org/x/sys/unix"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
	"pmtr/live/contain"
	"pmtr/live/hostfacts"
	"pmtr/live/logsink"
	"pmtr/live/notify"
	"pmtr/live/probe"
	"pmtr/live/spawn"
)

// health wires the rooms that tell whether jobs are ready and healthy
// (issue 23) to the driver: live/probe runs the core's probe attempts,
// live/notify hears sd_notify sockets and readiness pipes, and their
// outcomes go to the driver, in order, through one forwarding goroutine
// (a full inbox holds it, never a probe worker or the notify reader for
// long). It also gives each start of a job what the job needs to speak:
// NOTIFY_SOCKET, WATCHDOG_USEC, the readiness descriptor.
type health struct {
	runner  *probe.Runner
	notes   *notify.Listener // nil when its directory could not be made (noteErr)
	noteDir string           // its directory, removed at the end (a clean exit leaves nothing)
	noteErr error
	cg      *contain.Jobs
	procs   *spawn.Processes // set once made (it takes health as its Notice)
	send    func(driver.Input) bool
	now     func() core.Time
	fwd     chan driver.Input
	stop    <-chan struct{}
	pauses  chan holdReq // pmtr upgrade holds the forwarder (upgrade.go)
	held    *holdReq

	// sockMu orders the making and removing of notify sockets (calls on
	// the file system, so never on the driver's goroutine): a socket let
	// go for a removed job and one made for it again when it comes back
	// do not cross. An upgrade holds it from pause to resume.
	sockMu   sync.Mutex
	sockHeld bool // by pause

	mu      sync.Mutex
	leaders map[string]int    // job -> its process leader, from Spawned
	jobOf   map[int]string    // leader -> job, until its exit
	paths   map[string]string // job -> its notify socket
	owners  map[string][2]int // job -> uid, gid its notify socket was made for
	wanted  map[string]bool   // the jobs that use a socket in the config in force; nil until the first setup
}

// fwdSize: outcomes waiting for room in the inbox before a probe worker
// or the notify reader waits too.
const fwdSize = 4096

func newHealth(configPath string, log *logsink.Logger, clk clock.Clock, cg *contain.Jobs, send func(driver.Input) bool,
	now func() core.Time, stop <-chan struct{}) *health {
	h := &health{cg: cg, send: send, now: now, fwd: make(chan driver.Input, fwdSize), stop: stop, pauses: make(chan holdReq),
		leaders: map[string]int{}, jobOf: map[int]string{}, paths: map[string]string{}, owners: map[string][2]int{}}
	h.runner = probe.New(probe.Config{Deliver: h.probed, Clock: clk, Spawn: h.spawnProbe})
	dir, err := hostfacts.NotifyDir(configPath)
	if err == nil {
		h.noteDir = dir
		h.notes, err = notify.New(notify.Config{Dir: dir, Deliver: h.told, Clock: clk,
			Logf: func(format string, args ...any) { log.Logf(core.Error, format, args...) }})
	}
	h.noteErr = err
	go h.forward()
	return h
}

func (h *health) close() {
	h.runner.Close()
	if h.notes != nil {
		h.notes.Close()
		os.Remove(h.noteDir) // empty now: Close removed the sockets
	}
}

// forward hands outcomes to the driver in the order they came.
func (h *health) forward() {
	for {
		select {
		case in := <-h.fwd:
			if !h.send(in) {
				return
			}
		case p := <-h.pauses: // pmtr upgrade: hold, between two outcomes
			close(p.ack)
			select {
			case <-p.resume:
			case <-h.stop:
				return
			}
		case <-h.stop:
			return
		}
	}
}

func (h *health) deliver(ev core.Event) {
	select {
	case h.fwd <- driver.Event{At: h.now(), Ev: ev}:
	case <-h.stop:
	}
}

var probeKinds = map[confgrammar.ProbeKind]probe.Kind{confgrammar.ProbeTCP: probe.TCP, confgrammar.ProbeHTTP: probe.HTTP,
	confgrammar.ProbeExec: probe.Exec, confgrammar.ProbeFile: probe.File}

// Probe starts an attempt and returns at once; an exec probe first finds
// its job's user on a goroutine of its own (a look-up may wait for NSS).
func (h *health) Probe(e core.Probe) {
	req := probe.Request{ID: probe.ID{Job: e.Job, Seq: e.Seq}, Kind: probeKinds[e.What.Kind], Target: e.What.Target, Timeout: e.Timeout}
	if e.What.Kind == confgrammar.ProbeExec {
		go h.startExec(e, req)
		return
	}
	if !h.runner.Start(req) {
		go h.deliver(core.ProbeResult{Job: e.Job, Seq: e.Seq, Busy: true, Outcome: "an earlier attempt still runs"})
	}
}

func (h *health) startExec(e core.Probe, req probe.Request) {
	spec, err := h.execSpec(e.Spec, e.What.Argv)
	if err != nil {
		h.deliver(core.ProbeResult{Job: e.Job, Seq: e.Seq, Outcome: err.Error()})
		return
	}
	req.Exec = spec
	if !h.runner.Start(req) {
		h.deliver(core.ProbeResult{Job: e.Job, Seq: e.Seq, Busy: true, Outcome: "an earlier attempt still runs"})
	}
}

// execSpec runs an exec probe as its job runs: its user and groups, its
// environment (HOME, USER and LOGNAME its user's), its dir and its cgroup.
func (h *health) execSpec(j *confgrammar.Job, argv []string) (probe.ExecSpec, error) {
	spec := probe.ExecSpec{Argv: argv, Dir: j.Dir, Cgroup: h.cg.Dir(j.Name)}
	env := os.Environ()
	if j.User != "" {
		u, cred, err := lookupCred(j.User)
		if err != nil {
			return spec, err
		}
		spec.Cred = cred
		env = setEnvVar(env, "HOME="+u.HomeDir, "USER="+u.Username, "LOGNAME="+u.Username)
	}
	spec.Env = setEnvVar(env, j.Env...)
	return spec, nil
}

// lookupCred finds a user's ids and groups.
func lookupCred(name string) (*user.User, *syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, nil, fmt.Errorf("unknown user: %s", name)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.Atoi(g); err == nil && n != gid {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return u, cred, nil
}

// setEnvVar sets each VAR=VALUE in a copy of env, replacing earlier values.
func setEnvVar(env []string, kvs ...string) []string {
	env = slices.Clone(env)
	for _, kv := range kvs {
		k, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		if i >= 0 {
			env[i] = kv
		} else {
			env = append(env, kv)
		}
	}
	return env
}

// spawnProbe starts an exec probe through pmtr's reaper, which waits for
// every child (wait4(-1)): a probe's own wait would race it.
func (h *health) spawnProbe(path string, argv []string, attr *os.ProcAttr) (probe.Child, error) {
	exited := make(chan probe.Exit, 1)
	pid, kill, err := h.procs.StartWatched(path, argv, attr, func(ws unix.WaitStatus) { exited <- probe.Exit{Status: ws} })
	if err != nil {
		return probe.Child{}, err
	}
	return probe.Child{PID: pid, Exited: exited, Kill: kill}, nil
}

// probed forwards an attempt's outcome.
func (h *health) probed(r probe.Result) {
	h.deliver(core.ProbeResult{Job: r.ID.Job, Seq: r.ID.Seq, OK: r.OK, Outcome: r.Outcome, Output: r.Output})
}

// told forwards what a job said.
func (h *health) told(n notify.Notification) {
	h.deliver(core.Notified{Job: n.Job, PID: n.PID, Attempt: uint64(n.Attempt), Ready: n.Ready, Watchdog: n.Watchdog,
		Stopping: n.Stopping, HasStatus: n.HasStatus, Status: n.Status, PipeClosed: n.PipeClosed})
}

// ForStart gives a start of a job what it needs to say it is ready or
// alive: its socket (made, or made again for a new owner) as
// NOTIFY_SOCKET, WATCHDOG_USEC, and a fresh readiness pipe at its fd. On a
// spawner goroutine.
func (h *health) ForStart(e core.Spawn) (spawn.StartNotice, error) {
	var n spawn.StartNotice
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
func (h *health) socket(j *confgrammar.Job) (string, error) {
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

// keepSockets takes the jobs that use a notify socket in the config now
// in force (driver.Setup.Notify) and lets the others' sockets go, on a
// goroutine of their own: it runs on the driver's. The first setup (of a
// fresh pmtr, or of one that an upgrade from a pmtr that did not name
// them started) only records them.
func (h *health) keepSockets(jobs []string) {
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
func (h *health) prune() {
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
func (h *health) belongs(job string, pid int) bool {
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

// sent sees what spawn sends the driver: the leader of each job (for
// belongs) and, at its exit, the end of its readiness pipe.
func (h *health) sent(in driver.Input) {
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
