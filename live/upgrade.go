package live

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/core"
	"pmtr/driver"
	"pmtr/handover"
	"pmtr/live/ctlsock"
)

// pmtr upgrade: a new binary takes over in place. The old pmtr checks it
// (StateFormatFlag, within checkWait), holds its spawners and reaper
// still, has the driver hand its state over, waits for the requests being
// answered, holds the output reader, the listen sockets and the notify
// reader still, and writes everything into a memfd; then it execs the new
// binary, same pid, so the jobs stay its children, with the sockets,
// pipes and the lock as inherited descriptors. Inputs that came after the
// driver's state was taken go along (Pending). An exec that fails leaves
// this pmtr as it was: it resumes and says why.

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

// upgradeReq is an upgrade whose driver has handed its state over, for
// the run's goroutine to carry out.
type upgradeReq struct {
	binary string
	caller ctlsock.Caller
	spawns []handover.Spawn
	state  driver.State
	result chan error // only when the new binary did not take over
}

// upgrade is pmtr upgrade, on the request's goroutine. It returns only
// when the new binary did not take over, saying why.
func (b *backend) upgrade(binary string, c ctlsock.Caller) error {
	if !b.upMu.TryLock() {
		return errors.New("pmtr upgrade: another upgrade is under way")
	}
	defer b.upMu.Unlock()
	if binary == "" {
		binary = b.o.Self
	}
	if !filepath.IsAbs(binary) {
		return fmt.Errorf("pmtr upgrade: %s: give the new binary's absolute path; nothing changed", binary)
	}
	b.log.Logf(core.Info, "pmtr upgrade by %s: checking %s", c.By, binary)
	out, err := b.procs.CheckBinary(binary, []string{StateFormatFlag}, checkWait)
	if err == nil {
		err = handover.CheckFormats(out)
	}
	if err != nil {
		return b.refuse(fmt.Errorf("pmtr upgrade: %s refused: %v; nothing changed", binary, err))
	}
	_, err = b.procs.Pause(quietWait)
	if err != nil {
		return b.refuse(fmt.Errorf("pmtr upgrade: not now: %v; nothing changed (try again)", err))
	}
	b.health.Pause()
	reply := make(chan driver.HandoverAnswer, 1)
	if !b.q.Send(driver.Handover{Reply: reply}) {
		return errors.New("pmtr upgrade: pmtr is stopping")
	}
	a := <-reply
	if a.Err != nil {
		b.health.Resume()
		b.procs.Resume()
		return b.refuse(fmt.Errorf("pmtr upgrade: %v; nothing changed", a.Err))
	}
	// The spawns not begun are taken now, not at Pause: the driver may
	// have decided a start (a restart after an exit) since.
	req := &upgradeReq{binary: binary, caller: c, spawns: b.procs.NotBegun(), state: a.State, result: make(chan error, 1)}
	b.upgrades <- req
	return <-req.result
}

func (b *backend) refuse(err error) error {
	b.log.Logf(core.Error, "%v", err)
	return err
}

// runUpgrade waits, on the run's goroutine, for the upgrade whose driver
// has just paused, and carries it out; it returns only when the new
// binary did not take over (the driver has resumed).
func (b *backend) runUpgrade(d *driver.Driver) {
	var req *upgradeReq
	for req == nil {
		select {
		case req = <-b.upgrades:
		case in := <-b.q.C():
			b.hold(d, in)
		}
	}
	err := b.handOver(d, req)
	b.resumeRooms()
	kept := b.kept
	b.kept = nil
	d.Resume(req.state)
	for _, in := range kept {
		d.Handle(in)
	}
	err = fmt.Errorf("pmtr upgrade: %v; this pmtr carries on", err)
	b.log.Logf(core.Error, "%v", err)
	req.result <- err
}

// hold takes an input that came while the driver is handed over: queries
// are answered (they change nothing), commands are refused, and the rest
// is kept for whoever carries on.
func (b *backend) hold(d *driver.Driver, in driver.Input) {
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
		b.kept = append(b.kept, in)
	case driver.Handover:
		in.Reply <- driver.HandoverAnswer{Err: errors.New("another upgrade is under way")}
	default:
		b.kept = append(b.kept, in)
	}
}

// drainWhile holds every input until work is done.
func (b *backend) drainWhile(d *driver.Driver, work func()) {
	done := make(chan struct{})
	go func() { work(); close(done) }()
	for {
		select {
		case <-done:
			return
		case in := <-b.q.C():
			b.hold(d, in)
		}
	}
}

// handOver holds the rooms still, writes the state and execs the new
// binary; it returns only when the exec failed.
func (b *backend) handOver(d *driver.Driver, req *upgradeReq) error {
	var still error
	b.drainWhile(d, func() {
		quiet := b.pauseListeners()
		switch {
		case !b.net.Pause(idleWait):
			still = fmt.Errorf("a listen socket's reader did not stop within %v", idleWait)
		case !b.out.Pause(idleWait):
			still = fmt.Errorf("the reader of the jobs' output did not stop within %v (pmtr's log is slow?)", idleWait)
		case !quiet:
			b.log.Logf(core.Error, "pmtr upgrade: requests still being answered after %v are cut off", idleWait)
		}
	})
	if still != nil {
		return still
	}
	b.drainAll(d)
	st, files, err := b.state(req)
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
	b.cg.Flush()
	n := len(st.Driver.Core.Jobs)
	b.log.Logf(core.Info, "pmtr upgrade: handing %d %s over to %s (state of %d bytes, %d a job)",
		st.Driver.Kept(), plural(st.Driver.Kept(), "job"), req.binary, len(data), len(data)/max(n, 1))
	b.log.Flush()
	env := append(slices.DeleteFunc(os.Environ(), func(e string) bool { return hasKey(e, HandoverEnv) }),
		fmt.Sprintf("%s=%d", HandoverEnv, fdOf(mem)))
	err = syscall.Exec(req.binary, b.o.Args, env)
	inheritable(fds, false)
	return fmt.Errorf("can't run %s: %w", req.binary, err)
}

// pauseListeners stops accepting on the control socket and the metrics
// endpoints, and waits for the requests being answered (pmtr upgrade's
// own and pmtr logs -f aside); false when some still are.
func (b *backend) pauseListeners() bool {
	deadline := time.Now().Add(idleWait)
	ok := true
	if b.ctl != nil {
		ok = b.ctl.Pause(idleWait) && b.ctl.Idle(time.Until(deadline))
	}
	return b.endpoints.Pause(time.Until(deadline)) && ok
}

// drainAll takes every input still queued: the driver's queue, control
// datagrams, readiness outcomes.
func (b *backend) drainAll(d *driver.Driver) {
	for {
		select {
		case in := <-b.q.C():
			b.hold(d, in)
		case m := <-b.net.Control():
			b.hold(d, m)
		case in := <-b.health.Queued():
			b.hold(d, in)
		default:
			return
		}
	}
}

// resumeRooms undoes the pauses of an upgrade that did not happen.
func (b *backend) resumeRooms() {
	b.out.Resume()
	b.net.Resume()
	b.endpoints.Resume()
	if b.ctl != nil {
		b.ctl.Resume()
	}
	b.health.Resume()
	b.procs.Resume()
}

// state gathers what the new binary needs, with the descriptors it
// inherits (duplicates made here, which the caller closes).
func (b *backend) state(req *upgradeReq) (handover.State, []*os.File, error) {
	st := handover.State{From: b.o.Version, Driver: req.state, Spawns: req.spawns, At: b.Now(), Mono: monotonic(),
		Log: handover.Log{Syslog: b.o.LogSyslog, Verbose: b.o.Verbose}, Cgroups: b.cg.Cgroups(),
		Files: handover.Files{Control: -1, Lock: -1, Reply: -1, Rings: -1}}
	st.Pending = pending(b.kept)
	var files []*os.File
	keep := func(f *os.File, err error) int {
		if err != nil {
			return -1
		}
		files = append(files, f)
		return fdOf(f)
	}
	if b.ctl != nil {
		st.Files.Control = keep(b.ctl.File())
	}
	if b.o.Lock != nil {
		st.Files.Lock = b.o.Lock.FD()
	}
	if req.caller.Conn != nil {
		st.Files.Reply, st.Files.ReplyV = keep(req.caller.Conn.File()), req.caller.Version
	}
	if data, err := handover.EncodeRings(b.logs.Export()); err == nil {
		st.Files.Rings = keep(writeMemfd("pmtr-rings", data))
	}
	mf, err := b.endpoints.Files()
	if err != nil {
		closeAll(files)
		return st, nil, err
	}
	for id, f := range mf {
		st.Files.Metrics = append(st.Files.Metrics, handover.Listener{ID: id, FD: keep(f, nil)})
	}
	uf, err := b.net.Files()
	if err != nil {
		closeAll(files)
		return st, nil, err
	}
	for id, f := range uf {
		st.Files.UDP = append(st.Files.UDP, handover.Listener{ID: id, FD: keep(f, nil)})
	}
	st.Files.Outputs = b.out.Outputs()
	st.Files.Notify, st.Files.Pipes = b.health.Files()
	return st, files, nil
}

// pending are the inputs kept for the new binary, in order: core events,
// control datagrams, reloads (a file read under way is done again there).
func pending(ins []driver.Input) []handover.Pending {
	var out []handover.Pending
	for _, in := range ins {
		switch in := in.(type) {
		case driver.Event:
			out = append(out, handover.Pending{At: in.At, Event: in.Ev})
		case driver.ControlText:
			out = append(out, handover.Pending{Control: &in})
		case driver.Reload:
			need := driver.ReloadChanged
			if in.Force {
				need = driver.ReloadForced
			}
			out = append(out, handover.Pending{Reload: &need})
		}
	}
	return out
}

// inheritedFDs are the descriptors the new binary inherits.
func inheritedFDs(st handover.State) []int {
	f := st.Files
	fds := []int{f.Control, f.Lock, f.Reply, f.Rings}
	for _, l := range append(slices.Clone(f.Metrics), f.UDP...) {
		fds = append(fds, l.FD)
	}
	for _, o := range f.Outputs {
		fds = append(fds, o.FD)
	}
	for _, s := range f.Notify {
		fds = append(fds, s.FD)
	}
	for _, p := range f.Pipes {
		fds = append(fds, p.FD)
	}
	return slices.DeleteFunc(fds, func(fd int) bool { return fd < 0 })
}

// inheritable clears (on) or sets close-on-exec on fds.
func inheritable(fds []int, on bool) error {
	for _, fd := range fds {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil {
			if on {
				flags &^= unix.FD_CLOEXEC
			} else {
				flags |= unix.FD_CLOEXEC
			}
			_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags)
		}
		if err != nil && on {
			return fmt.Errorf("live: descriptor %d for the new binary: %w", fd, err)
		}
	}
	return nil
}

// writeMemfd makes a memfd holding data (close-on-exec until the exec
// asks otherwise).
func writeMemfd(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("live: memfd for the state: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("live: write the state: %w", err)
	}
	return f, nil
}

// ReadMemfd reads a memfd written by writeMemfd (from its start) and
// closes it.
func ReadMemfd(fd int) ([]byte, error) {
	f := os.NewFile(uintptr(fd), "handover")
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("live: the handed-over state (fd %d): %w", fd, err)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("live: read the handed-over state: %w", err)
	}
	return b, nil
}

// fdOf is f's descriptor. Not f.Fd(), which would make it blocking: a
// duplicate of a socket shares that flag with the socket this pmtr goes on
// using when the exec fails (a blocking accept no deadline interrupts).
func fdOf(f *os.File) int {
	fd := -1
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(u uintptr) { fd = int(u) })
	}
	return fd
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func hasKey(env, key string) bool { return len(env) > len(key) && env[:len(key)+1] == key+"=" }

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
