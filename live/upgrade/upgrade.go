// Package upgrade carries out pmtr upgrade: a new binary takes over in
// place. The old pmtr checks it (StateFormatFlag, within checkWait), holds
// its spawners and reaper still, has the driver hand its state over, waits
// for the requests being answered, holds the output reader, the listen
// sockets and the notify reader still, and writes everything into a memfd;
// then it execs the new binary, same pid, so the jobs stay its children,
// with the sockets, pipes and the lock as inherited descriptors. Inputs
// that came after the driver's state was taken go along (Pending). An exec
// that fails leaves this pmtr as it was: it resumes and says why. The new
// pmtr carries on from the state (TakeOver), or, when it cannot read it,
// rebuilds from the jobs' cgroups or pid records (Rebuild).
//
// An Upgrader owns that sequence and the inputs held meanwhile; the rooms
// it pauses, empties and hands over come in as narrow interfaces (Deps),
// wired by the assembly. Upgrade runs on the control request's goroutine
// and blocks until the new binary has taken over or has failed to (checks
// and pauses wait for seconds at most); CarryOut runs on the run's
// goroutine once the driver has paused, and blocks while it holds the
// rooms still, writes the state and execs. TakeOver and Rebuild run on the
// run's goroutine before the driver's loop.
package upgrade

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"pmtr/core"
	"pmtr/driver"
	"pmtr/handover"
	"pmtr/live/hostfacts"
	"pmtr/live/inbox"
)

// HandoverEnv names, in the new binary's environment, the descriptor of
// the memfd that holds the state.
const HandoverEnv = "PMTR_HANDOVER_FD"

// StateFormatFlag is the flag that makes pmtr print the state formats it
// reads (handover.FormatLine) and exit.
const StateFormatFlag = "--state-format"

// The bounds of an upgrade's steps: the new binary's answer, the starts
// and stops under way, the requests being answered.
const (
	checkWait = 5 * time.Second
	quietWait = 5 * time.Second
	idleWait  = 2 * time.Second
)

// Spawns are the jobs' processes (live/spawn's Processes): the spawners
// and the reaper pause, and the new binary is checked through them.
type Spawns interface {
	CheckBinary(path string, args []string, within time.Duration) (string, error)
	Pause(within time.Duration) ([]handover.Spawn, error)
	Resume()
	NotBegun() []handover.Spawn
}

// Leader is a job's running process, for the new pmtr to adopt: the
// fields of live/spawn's Leader.
type Leader struct {
	PID      int
	Job      string
	Stopping bool // pmtr signalled it: the rest of its group is killed at its exit
}

// Readiness is the readiness and health wiring (live/health's Health).
type Readiness interface {
	Pause()
	Resume()
	Queued() <-chan driver.Input
	Files() ([]handover.NotifySocket, []handover.ReadyPipe)
	Inherit(st *handover.State)
	Sent(in driver.Input)
}

// Listeners are sockets whose readers or accept loops pause while they
// stay open: the metrics endpoints (live/metrics' Servers).
type Listeners interface {
	Pause(within time.Duration) bool
	Resume()
	Files() (map[string]*os.File, error)
}

// UDP is the listen and report sockets' worker (live/udpnet's Worker).
type UDP interface {
	Listeners
	Control() <-chan driver.ControlText
}

// ControlSocket is the control socket's server (live/ctlsock's Server).
type ControlSocket interface {
	Pause(within time.Duration) bool
	Idle(within time.Duration) bool
	Resume()
	File() (*os.File, error)
}

// Output is the reader of the jobs' output pipes (live/joboutput's Reader).
type Output interface {
	Pause(within time.Duration) bool
	Resume()
	Outputs() []handover.Output
	Inherit(outs []handover.Output)
}

// Jobs are the jobs' cgroups or pid records (live/contain's Jobs).
type Jobs interface {
	Cgroups() bool
	Flush()
	Started(pid int, job string)
	Found(jobs []string) map[string]int
}

// Logger is pmtr's log (live/logsink's Logger).
type Logger interface {
	Logf(level core.Level, format string, args ...any)
	Flush()
}

// Caller is who asked for the upgrade: the fields of live/ctlsock's Caller.
type Caller struct {
	Conn    *net.UnixConn
	Version int    // the protocol the request was asked in
	By      string // "uid 0 pid 4711"
}

// Deps is what an Upgrader works with; the assembly wires them.
type Deps struct {
	Inbox     *inbox.Inbox
	Log       Logger
	Now       func() core.Time
	Spawns    Spawns
	Adopt     func(leaders []Leader, spawns []handover.Spawn) // live/spawn's Inherit
	Health    Readiness
	UDP       UDP
	Endpoints Listeners
	Output    Output
	Jobs      Jobs
	Rings     func() []handover.Ring                          // the jobs' last lines (joboutput's Rings.Export)
	Answer    func(version, code int, lines ...string) string // an answer on the control socket (ctlsock.Answer)

	// The binary pmtr was started from (the default new binary), the
	// command line to exec it with, this binary's version, the config's
	// lock and how the log was made (all handed to the new binary).
	Self      string
	Args      []string
	Version   string
	Lock      *hostfacts.Lock
	LogSyslog bool
	Verbose   int
}

// Upgrader carries out pmtr upgrade for one run.
type Upgrader struct {
	d    Deps
	ctl  ControlSocket    // nil: no control socket
	mu   sync.Mutex       // one pmtr upgrade at a time
	reqs chan *upgradeReq // an upgrade whose driver has handed over, for the run's goroutine
	kept []driver.Input   // inputs that came while the driver was handed over
}

// New makes an Upgrader.
func New(d Deps) *Upgrader { return &Upgrader{d: d, reqs: make(chan *upgradeReq)} }

// SetControl names the control socket (made after the Upgrader: it takes
// Upgrade); call it before the run starts.
func (u *Upgrader) SetControl(c ControlSocket) { u.ctl = c }

// upgradeReq is an upgrade whose driver has handed its state over, for
// the run's goroutine to carry out.
type upgradeReq struct {
	binary string
	caller Caller
	spawns []handover.Spawn
	state  driver.State
	result chan error // only when the new binary did not take over
}

// Upgrade is pmtr upgrade, on the request's goroutine. It returns only
// when the new binary did not take over, saying why.
func (u *Upgrader) Upgrade(binary string, c Caller) error {
	if !u.mu.TryLock() {
		return errors.New("pmtr upgrade: another upgrade is under way")
	}
	defer u.mu.Unlock()
	if binary == "" {
		binary = u.d.Self
	}
	if !filepath.IsAbs(binary) {
		return fmt.Errorf("pmtr upgrade: %s: give the new binary's absolute path; nothing changed", binary)
	}
	u.d.Log.Logf(core.Info, "pmtr upgrade by %s: checking %s", c.By, binary)
	out, err := u.d.Spawns.CheckBinary(binary, []string{StateFormatFlag}, checkWait)
	if err == nil {
		err = handover.CheckFormats(out)
	}
	if err != nil {
		return u.refuse(fmt.Errorf("pmtr upgrade: %s refused: %v; nothing changed", binary, err))
	}
	_, err = u.d.Spawns.Pause(quietWait)
	if err != nil {
		return u.refuse(fmt.Errorf("pmtr upgrade: not now: %v; nothing changed (try again)", err))
	}
	u.d.Health.Pause()
	reply := make(chan driver.HandoverAnswer, 1)
	if !u.d.Inbox.Send(driver.Handover{Reply: reply}) {
		return errors.New("pmtr upgrade: pmtr is stopping")
	}
	a := <-reply
	if a.Err != nil {
		u.d.Health.Resume()
		u.d.Spawns.Resume()
		return u.refuse(fmt.Errorf("pmtr upgrade: %v; nothing changed", a.Err))
	}
	// The spawns not begun are taken now, not at Pause: the driver may
	// have decided a start (a restart after an exit) since.
	req := &upgradeReq{binary: binary, caller: c, spawns: u.d.Spawns.NotBegun(), state: a.State, result: make(chan error, 1)}
	u.reqs <- req
	return <-req.result
}

func (u *Upgrader) refuse(err error) error {
	u.d.Log.Logf(core.Error, "%v", err)
	return err
}

// CarryOut waits, on the run's goroutine, for the upgrade whose driver
// has just paused, and carries it out; it returns only when the new
// binary did not take over (the driver has resumed).
func (u *Upgrader) CarryOut(d *driver.Driver) {
	var req *upgradeReq
	for req == nil {
		select {
		case req = <-u.reqs:
		case in := <-u.d.Inbox.C():
			u.hold(d, in)
		}
	}
	err := u.handOver(d, req)
	u.resumeRooms()
	kept := u.kept
	u.kept = nil
	d.Resume(req.state)
	for _, in := range kept {
		d.Handle(in)
	}
	err = fmt.Errorf("pmtr upgrade: %v; this pmtr carries on", err)
	u.d.Log.Logf(core.Error, "%v", err)
	req.result <- err
}

// hold takes an input that came while the driver is handed over: queries
// are answered (they change nothing), commands are refused, and the rest
// is kept for whoever carries on.
func (u *Upgrader) hold(d *driver.Driver, in driver.Input) {
	switch in := in.(type) {
	case driver.StatusQuery, driver.MetricsQuery, driver.WhyQuery, driver.PlanQuery, driver.CatQuery:
		d.Handle(in)
	case driver.Command:
		in.Reply <- driver.Result{Code: driver.CodeFailed, Lines: []string{"pmtr is being upgraded: nothing was done; try again in a moment"}}
	case driver.Reload:
		if in.Reply != nil {
			in.Reply <- driver.Result{Code: driver.CodeFailed, Lines: []string{"pmtr is being upgraded: the new pmtr reads the config again (see its log)"}}
			in.Reply = nil
		}
		u.kept = append(u.kept, in)
	case driver.Handover:
		in.Reply <- driver.HandoverAnswer{Err: errors.New("another upgrade is under way")}
	default:
		u.kept = append(u.kept, in)
	}
}

// drainWhile holds every input until work is done.
func (u *Upgrader) drainWhile(d *driver.Driver, work func()) {
	done := make(chan struct{})
	go func() { work(); close(done) }()
	for {
		select {
		case <-done:
			return
		case in := <-u.d.Inbox.C():
			u.hold(d, in)
		}
	}
}

// handOver holds the rooms still, writes the state and execs the new
// binary; it returns only when the exec failed.
func (u *Upgrader) handOver(d *driver.Driver, req *upgradeReq) error {
	var still error
	u.drainWhile(d, func() {
		quiet := u.pauseListeners()
		switch {
		case !u.d.UDP.Pause(idleWait):
			still = fmt.Errorf("a listen socket's reader did not stop within %v", idleWait)
		case !u.d.Output.Pause(idleWait):
			still = fmt.Errorf("the reader of the jobs' output did not stop within %v (pmtr's log is slow?)", idleWait)
		case !quiet:
			u.d.Log.Logf(core.Error, "pmtr upgrade: requests still being answered after %v are cut off", idleWait)
		}
	})
	if still != nil {
		return still
	}
	u.drainAll(d)
	st, files, err := u.state(req)
	if err != nil {
		return err
	}
	defer closeAll(files)
	data, err := handover.Encode(st)
	if err != nil {
		return err
	}
	mem, err := writeMemfd("pmtr-state", data)
	if err != nil {
		return err
	}
	defer mem.Close()
	fds := append(inheritedFDs(st), fdOf(mem))
	if err := inheritable(fds, true); err != nil {
		return err
	}
	u.d.Jobs.Flush()
	n := len(st.Driver.Core.Jobs)
	u.d.Log.Logf(core.Info, "pmtr upgrade: handing %d %s over to %s (state of %d bytes, %d a job)",
		st.Driver.Kept(), plural(st.Driver.Kept(), "job"), req.binary, len(data), len(data)/max(n, 1))
	u.d.Log.Flush()
	env := append(slices.DeleteFunc(os.Environ(), func(e string) bool { return hasKey(e, HandoverEnv) }),
		fmt.Sprintf("%s=%d", HandoverEnv, fdOf(mem)))
	err = syscall.Exec(req.binary, u.d.Args, env)
	inheritable(fds, false)
	return fmt.Errorf("can't run %s: %w", req.binary, err)
}

// pauseListeners stops accepting on the control socket and the metrics
// endpoints, and waits for the requests being answered (pmtr upgrade's
// own and pmtr logs -f aside); false when some still are.
func (u *Upgrader) pauseListeners() bool {
	deadline := time.Now().Add(idleWait)
	ok := true
	if u.ctl != nil {
		ok = u.ctl.Pause(idleWait) && u.ctl.Idle(time.Until(deadline))
	}
	return u.d.Endpoints.Pause(time.Until(deadline)) && ok
}

// drainAll takes every input still queued: the driver's queue, control
// datagrams, readiness outcomes.
func (u *Upgrader) drainAll(d *driver.Driver) {
	for {
		select {
		case in := <-u.d.Inbox.C():
			u.hold(d, in)
		case m := <-u.d.UDP.Control():
			u.hold(d, m)
		case in := <-u.d.Health.Queued():
			u.hold(d, in)
		default:
			return
		}
	}
}

// resumeRooms undoes the pauses of an upgrade that did not happen.
func (u *Upgrader) resumeRooms() {
	u.d.Output.Resume()
	u.d.UDP.Resume()
	u.d.Endpoints.Resume()
	if u.ctl != nil {
		u.ctl.Resume()
	}
	u.d.Health.Resume()
	u.d.Spawns.Resume()
}
