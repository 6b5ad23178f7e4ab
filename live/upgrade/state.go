package upgrade

import (
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"pmtr/driver"
	"pmtr/handover"
)

// state gathers what the new binary needs, with the descriptors it
// inherits (duplicates made here, which the caller closes).
func (u *Upgrader) state(req *upgradeReq) (handover.State, []*os.File, error) {
	st := handover.State{From: u.d.Version, Driver: req.state, Spawns: req.spawns, At: u.d.Now(), Mono: monotonic(),
		Log: handover.Log{Syslog: u.d.LogSyslog, Verbose: u.d.Verbose}, Cgroups: u.d.Jobs.Cgroups(),
		Files: handover.Files{Control: -1, Lock: -1, Reply: -1, Rings: -1}}
	st.Pending = pending(u.kept)
	var files []*os.File
	keep := func(f *os.File, err error) int {
		if err != nil {
			return -1
		}
		files = append(files, f)
		return fdOf(f)
	}
	if u.ctl != nil {
		st.Files.Control = keep(u.ctl.File())
	}
	if u.d.Lock != nil {
		st.Files.Lock = u.d.Lock.FD()
	}
	if req.caller.Conn != nil {
		st.Files.Reply, st.Files.ReplyV = keep(req.caller.Conn.File()), req.caller.Version
	}
	if data, err := handover.EncodeRings(u.d.Rings()); err == nil {
		st.Files.Rings = keep(writeMemfd("pmtr-rings", data))
	}
	mf, err := u.d.Endpoints.Files()
	if err != nil {
		closeAll(files)
		return st, nil, err
	}
	for id, f := range mf {
		st.Files.Metrics = append(st.Files.Metrics, handover.Listener{ID: id, FD: keep(f, nil)})
	}
	uf, err := u.d.UDP.Files()
	if err != nil {
		closeAll(files)
		return st, nil, err
	}
	for id, f := range uf {
		st.Files.UDP = append(st.Files.UDP, handover.Listener{ID: id, FD: keep(f, nil)})
	}
	st.Files.Outputs = u.d.Output.Outputs()
	st.Files.Notify, st.Files.Pipes = u.d.Health.Files()
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
