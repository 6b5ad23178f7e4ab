package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/handover"
	"pmtr/live"
	"pmtr/live/ctlsock"
	"pmtr/live/files"
	"pmtr/live/hostfacts"
	"pmtr/live/logsink"
	"pmtr/live/upgrade"
)

// readyEnv names the fd on which a detached daemon tells its launcher that
// it is running; the launcher exits 0 only then.
const readyEnv = "PMTR_READY_FD"

// daemon runs pmtr: parse, detach unless -F, write the pidfile, supervise.
func daemon(o options, args []string, stderr io.Writer) int {
	sigs := live.CatchSignals() // from now on a TERM or HUP is handled, not fatal
	live.StartGC()
	if fd := os.Getenv(upgrade.HandoverEnv); fd != "" {
		return takeOver(o, args, fd, sigs, stderr)
	}
	cfg, src, err := readChecked(o.config, func(s string) { fmt.Fprintf(stderr, "pmtr[%d]: %s\n", os.Getpid(), s) })
	if err != nil {
		reportParseError(stderr, o.config, err)
		return 1
	}
	readyFD := os.Getenv(readyEnv)
	if !o.foreground && readyFD == "" && os.Getpid() != 1 {
		release, err := hostfacts.LockConfig(o.config) // say it here: the daemon's stderr is /dev/null
		if err != nil {
			fmt.Fprintf(stderr, "pmtr: %v\n", err)
			return 1
		}
		release()
		if _, err := os.Stat("/dev/log"); err != nil {
			fmt.Fprintf(stderr, "pmtr: no syslog socket (/dev/log): the daemon logs to %s\n", logsink.LogFile(o.config))
		}
		return detach(args, stderr)
	}
	lock, err := hostfacts.TakeLock(o.config)
	if err != nil {
		fmt.Fprintf(stderr, "pmtr: %v\n", err)
		return 1
	}
	defer lock.Release()
	os.Unsetenv(readyEnv)
	closeInheritedFDs()
	log := logsink.NewStderrLogger(stderr, o.verbose)
	if readyFD != "" {
		log = logsink.NewSyslogLogger(stderr, o.config, o.verbose)
	}
	if n := hostfacts.SweepStale(func(hash string) []string { return []string{ctlsock.SocketName(hash)} }); n > 0 {
		log.Logf(core.Debug, "removed the lock and control socket of %d %s whose pmtr is gone from %s", n, plural(n, "config"), hostfacts.RuntimeDir())
	}
	code := supervise(o, live.Options{ConfigPath: o.config, Config: cfg, Files: src, Log: log, Signals: sigs,
		StatusSocket: ctlsock.Path(o.config), Lock: lock, LogSyslog: readyFD != "", Verbose: o.verbose,
		Self: self(), Args: args, Version: version()}, readyFD)
	if code == 0 { // a clean exit leaves nothing behind (a critical job's end keeps its log)
		log.RemoveFile()
	}
	return code
}

func supervise(o options, lo live.Options, readyFD string) int {
	log := lo.Log
	defer log.Flush() // its lines are written by a goroutine: out before exit
	if o.pidfile != "" {
		if err := os.WriteFile(o.pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Logf(core.Error, "can't open %s: %v", o.pidfile, err)
			return 1
		}
		defer os.Remove(o.pidfile)
	}
	ready := func() {
		if fd, err := strconv.Atoi(readyFD); err == nil {
			f := os.NewFile(uintptr(fd), "ready")
			f.Write([]byte("ok"))
			f.Close()
		}
	}
	lo.Ready = ready
	code, err := live.Run(context.Background(), lo)
	if err != nil {
		log.Logf(core.Error, "%v", err)
		return 1
	}
	return code // 0, or the code of the critical job that ended pmtr
}

// readChecked reads and parses the config (creating it if missing) and
// checks what parsing cannot: that report interfaces exist and key files
// can be used.
func readChecked(path string, note func(string)) (*confgrammar.Config, *confgrammar.Files, error) {
	cfg, src, err := files.ReadConfig(path, note)
	if err == nil {
		err = hostfacts.CheckInterfaces(path, cfg)
	}
	if err == nil {
		err = files.CheckKeys(path, cfg)
	}
	return cfg, src, err
}

func reportParseError(w io.Writer, file string, err error) {
	var list confgrammar.ErrorList
	if errors.As(err, &list) {
		fmt.Fprintln(w, list.Error())
		fmt.Fprintf(w, "pmtr: parse failed: %d %s in %s\n", len(list), plural(len(list), "error"), file)
		return
	}
	fmt.Fprintf(w, "pmtr: parse failed: %v\n", err)
}

// detach starts the daemon in a new session with stdio on /dev/null and the
// same arguments, and returns 0 once it reports that it runs.
func detach(args []string, stderr io.Writer) int {
	signal.Reset() // the launcher itself may be interrupted while it waits
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "pmtr: can't find own binary: %v\n", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "pmtr: pipe: %v\n", err)
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "pmtr: open %s: %v\n", os.DevNull, err)
		return 1
	}
	env := append(os.Environ(), readyEnv+"=3")
	p, err := os.StartProcess(self, args, &os.ProcAttr{Env: env, Files: []*os.File{null, null, null, w},
		Sys: &syscall.SysProcAttr{Setsid: true}})
	w.Close()
	null.Close()
	if err != nil {
		fmt.Fprintf(stderr, "pmtr: can't start the daemon: %v\n", err)
		return 1
	}
	p.Release()
	msg, _ := io.ReadAll(r)
	if string(msg) != "ok" {
		fmt.Fprintln(stderr, "pmtr: the daemon exited during startup (see syslog)")
		return 1
	}
	return 0
}

// closeInheritedFDs marks descriptors inherited from whoever started pmtr
// close-on-exec, so they do not leak into jobs.
func closeInheritedFDs() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// self is the binary pmtr runs, as started: pmtr upgrade's default.
func self() string {
	p, err := os.Executable()
	if err != nil {
		return ""
	}
	return p
}

// takeOver is the daemon under the binary pmtr upgrade execs: the same
// process, with the state the old binary left in the memfd at fd.
func takeOver(o options, args []string, fd string, sigs chan os.Signal, stderr io.Writer) int {
	os.Unsetenv(upgrade.HandoverEnv) // the jobs started from now on must not see it
	st, err := readHandover(fd)
	if err != nil {
		return rebuild(o, args, err, sigs, stderr)
	}
	lock := hostfacts.InheritLock(o.config, st.Files.Lock)
	defer lock.Release()
	closeInheritedFDs()
	log := logsink.NewStderrLogger(stderr, o.verbose)
	if st.Log.Syslog {
		log = logsink.NewSyslogLogger(stderr, o.config, o.verbose)
	}
	code := supervise(o, live.Options{ConfigPath: o.config, Log: log, Signals: sigs, StatusSocket: ctlsock.Path(o.config),
		Lock: lock, LogSyslog: st.Log.Syslog, Verbose: o.verbose, Self: self(), Args: args, Version: version(), Resume: &st}, "")
	if code == 0 {
		log.RemoveFile()
	}
	return code
}

// readHandover reads the state the old binary wrote.
func readHandover(fdText string) (handover.State, error) {
	fd, err := strconv.Atoi(fdText)
	if err != nil {
		return handover.State{}, fmt.Errorf("%s=%q is not a descriptor", upgrade.HandoverEnv, fdText)
	}
	data, err := upgrade.ReadMemfd(fd)
	if err != nil {
		return handover.State{}, err
	}
	return handover.Decode(data)
}

// rebuild is the daemon under the binary pmtr upgrade execs when it
// cannot read the state: it reads the config, finds the jobs' processes
// in their cgroups (or pid records) and keeps them running.
func rebuild(o options, args []string, why error, sigs chan os.Signal, stderr io.Writer) int {
	cfg, src, err := readChecked(o.config, func(s string) { fmt.Fprintf(stderr, "pmtr[%d]: %s\n", os.Getpid(), s) })
	if err != nil {
		fmt.Fprintf(stderr, "pmtr[%d]: pmtr upgrade: the state handed over cannot be read (%v), nor the config to rebuild it from:\n", os.Getpid(), why)
		reportParseError(stderr, o.config, err)
		return 1
	}
	lock := inheritedLock(o.config)
	if lock == nil {
		if lock, err = hostfacts.TakeLock(o.config); err != nil {
			fmt.Fprintf(stderr, "pmtr: %v\n", err)
			return 1
		}
	}
	defer lock.Release()
	control, callers := upgrade.InheritedSockets(ctlsock.Path(o.config))
	closeInheritedFDs()
	syslog := stderrIsNull() // a detached daemon's stdio is /dev/null
	log := logsink.NewStderrLogger(stderr, o.verbose)
	if syslog {
		log = logsink.NewSyslogLogger(stderr, o.config, o.verbose)
	}
	code := supervise(o, live.Options{ConfigPath: o.config, Config: cfg, Files: src, Log: log, Signals: sigs,
		StatusSocket: ctlsock.Path(o.config), Lock: lock, LogSyslog: syslog, Verbose: o.verbose, Self: self(), Args: args,
		Version: version(), Rebuild: &upgrade.Rebuild{Why: why.Error(), Control: control, Callers: callers}}, "")
	if code == 0 {
		log.RemoveFile()
	}
	return code
}

// inheritedLock is the config's lock as the pmtr before the upgrade held
// it (this process, at a descriptor the state would have named), or nil.
func inheritedLock(config string) *hostfacts.Lock {
	path := hostfacts.LockPath(config)
	for _, f := range hostfacts.OpenFDs() {
		if f.Link == path {
			return hostfacts.InheritLock(config, f.FD)
		}
	}
	return nil
}

// stderrIsNull: standard error is /dev/null.
func stderrIsNull() bool {
	var fd2, null unix.Stat_t
	return unix.Fstat(2, &fd2) == nil && unix.Stat(os.DevNull, &null) == nil && fd2.Rdev == null.Rdev && fd2.Ino == null.Ino
}
