// Package health wires the rooms that tell whether jobs are ready and
// healthy (issue 23) to the driver: it turns the core's Probe effects into
// attempts of live/probe's runner (an exec probe runs as its job runs: its
// user, environment, dir and cgroup), it hands their outcomes and what jobs
// say through live/notify to the driver, in the order they came, and it
// gives each start of a job what the job needs to speak: NOTIFY_SOCKET,
// WATCHDOG_USEC, the readiness descriptor. It also tells the notify
// listener who speaks for a job (belongs). The runner and the listener
// come in as the narrow interfaces Prober and Notes, made by the assembly.
//
// Health owns the job bookkeeping this takes (each job's leader, notify
// socket and its owner) behind one lock, and runs one goroutine: the
// forwarder, which alone sends the outcomes to the driver, so that a full
// inbox holds it, never a probe worker or the notify reader for long.
// Probe returns at once (the driver calls it; an exec probe's user is
// looked up on a goroutine of its own, a look-up may wait for NSS).
// ForStart makes socket files and may block: a spawner calls it. Sent
// never blocks, nor does KeepSockets (the driver calls it; the sockets
// of jobs that no longer use one go on a goroutine of their own). Pause waits for the forwarder to stop between two
// outcomes (pmtr upgrade).
package health

import (
	"os"
	"sync"

	"pmtr/core"
	"pmtr/driver"
	"pmtr/handover"
	"pmtr/live/hostfacts"
)

// Prober runs probe attempts (live/probe's runner, through the assembly):
// Start queues one and returns at once, false when the job's earlier
// attempt has not reported yet; exec is used by exec probes only.
type Prober interface {
	Start(e core.Probe, exec ExecSpec) bool
	Close()
}

// Notes hears the jobs' sd_notify sockets and readiness pipes
// (live/notify's Listener).
type Notes interface {
	Open(job string, uid, gid int, belongs func(pid int) bool) (string, error)
	Remove(job string)
	Pipe(job string, attempt int) (*os.File, error)
	ClosePipe(job string)
	Pause()
	Resume()
	Files() ([]handover.NotifySocket, []handover.ReadyPipe)
	Inherit(socks []handover.NotifySocket, pipes []handover.ReadyPipe, belongs func(job string) func(pid int) bool) error
	Close()
}

// Cgroups places a job's processes (live/contain's Jobs).
type Cgroups interface {
	Cgroups() bool
	Holds(job string, pid int) bool
	Dir(job string) string
}

// Deps is what New needs; the assembly wires them.
type Deps struct {
	ConfigPath string // the notify sockets go to its runtime directory
	// Probes makes the probe runner; it hands each outcome (a
	// core.ProbeResult) to deliver, which never blocks for long.
	Probes func(deliver func(core.Event)) Prober
	// Notes makes the notify listener in dir; it hands what a job said (a
	// core.Notified) to deliver.
	Notes func(dir string, deliver func(core.Event)) (Notes, error)
	Jobs  Cgroups
	Send  func(driver.Input) bool // to the driver; false once the run has ended
	Now   func() core.Time
	Stop  <-chan struct{} // closed when the run ends
}

// Health is the readiness and health wiring of one run.
type Health struct {
	runner  Prober
	notes   Notes  // nil when its directory could not be made (noteErr)
	noteDir string // its directory, removed at the end (a clean exit leaves nothing)
	noteErr error
	cg      Cgroups
	send    func(driver.Input) bool
	now     func() core.Time
	fwd     chan driver.Input
	stop    <-chan struct{}
	pauses  chan holdReq // pmtr upgrade holds the forwarder (handover.go)
	held    *holdReq

	// sockMu orders the making and removing of notify sockets (calls on
	// the file system, so never on the driver's goroutine): a socket let
	// go for a removed job and one made for it again when it comes back
	// do not cross. An upgrade holds it from pause to resume.
	sockMu   sync.Mutex
	sockHeld bool // by Pause

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

// New makes the runner and the listener and starts the forwarder.
func New(d Deps) *Health {
	h := &Health{cg: d.Jobs, send: d.Send, now: d.Now, fwd: make(chan driver.Input, fwdSize), stop: d.Stop, pauses: make(chan holdReq),
		leaders: map[string]int{}, jobOf: map[int]string{}, paths: map[string]string{}, owners: map[string][2]int{}}
	h.runner = d.Probes(h.deliver)
	dir, err := hostfacts.NotifyDir(d.ConfigPath)
	if err == nil {
		h.noteDir = dir
		h.notes, err = d.Notes(dir, h.deliver)
	}
	h.noteErr = err
	go h.forward()
	return h
}

// Close stops the probes (an exec probe is killed) and the listener, and
// removes the sockets' directory.
func (h *Health) Close() {
	h.runner.Close()
	if h.notes != nil {
		h.notes.Close()
		os.Remove(h.noteDir) // empty now: Close removed the sockets
	}
}

// forward hands outcomes to the driver in the order they came.
func (h *Health) forward() {
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

// deliver queues an outcome for the forwarder.
func (h *Health) deliver(ev core.Event) {
	select {
	case h.fwd <- driver.Event{At: h.now(), Ev: ev}:
	case <-h.stop:
	}
}
