// Package live is pmtr's Linux backend: it runs the core with real
// processes, real time and real signals. One goroutine (Run) owns the core;
// the reaper, signal, exec-status and output goroutines only turn OS events
// into values on one channel.
package live

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/sys/unix"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/udp"
)

// Options configure a daemon run.
type Options struct {
	ConfigPath string
	Config     *confgrammar.Config // already parsed (the caller reports parse errors)
	Source     []byte              // the bytes Config was parsed from (nil: read the file again)
	Log        *Logger
	Clock      clock.Clock // nil: the real clock
	// Ready, if set, is called once the first jobs have been started.
	Ready func()
	// StatusSocket, if set, is the unix socket "pmtr status" reads (see
	// StatusSocket()).
	StatusSocket string
	// Signals, if set, is a channel from CatchSignals made early in main, so
	// that a signal during startup is acted on, not fatal.
	Signals chan os.Signal
}

// CatchSignals starts catching every signal pmtr handles or ignores. Call it
// first thing in main and pass the channel in Options.Signals. Caught (not
// ignored) signals are reset at exec, so jobs start with the defaults.
func CatchSignals() chan os.Signal {
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, syscall.SIGCHLD, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGALRM, syscall.SIGIO, syscall.SIGWINCH)
	return ch
}

// execResult: the helper of pid exec'd the job (msg "") or failed (msg).
type execResult struct {
	pid int
	msg string
}

type reloadRequest struct{}

type shutdownRequest struct{ sig int }

// daemon is the state owned by Run's goroutine.
type daemon struct {
	o        Options
	m        *core.Machine
	sp       *spawner
	rep      *reporter
	ctl      *controller
	clk      clock.Clock
	boot     time.Time
	cwd      string
	events   chan any
	awaiting map[int]bool        // helpers whose exec status is not in yet
	deferred map[int]core.Exited // their exits, held until the status arrives
	stopping map[int]bool        // job groups pmtr has signalled
	gen      uint64
	w        *watcher
	confPath string                   // absolute, for the watcher
	confSum  [32]byte                 // content of the config in force
	deps     map[string]core.DepState // last seen content of each dependency
	logged   []chan struct{}          // output gates to open once the log is out
}

// Run supervises the jobs of o.Config until ctx ends or a TERM, INT or QUIT
// arrives, then stops every job and returns once all are reaped.
func Run(ctx context.Context, o Options) error {
	d, err := newDaemon(o)
	if err != nil {
		return err
	}
	unix.Umask(0o022) // jobs inherit it (C pmtr gave them 0)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		d.o.Log.Logf(core.Error, "can't become child subreaper: %v", err)
	}
	stop := make(chan struct{})
	defer close(stop)
	kick := make(chan struct{}, 1)
	d.watchSignals(kick, stop)
	go reap(kick, d.events, stop)
	d.w = newWatcher(d.clk, o.Log, d.events)
	defer d.w.close()
	defer d.rep.closeAll()
	defer d.ctl.closeAll()
	src := o.Source
	if src == nil {
		src, _ = readLimited(o.ConfigPath)
	}
	d.confSum = sha256.Sum256(src)
	if o.StatusSocket != "" {
		if ln := serveStatus(o.StatusSocket, d.events, o.Log); ln != nil {
			defer os.Remove(o.StatusSocket)
			defer ln.Close()
		}
	}
	d.load(o.Config)
	if o.Ready != nil {
		o.Ready()
	}
	return d.loop(ctx)
}

func newDaemon(o Options) (*daemon, error) {
	if o.Clock == nil {
		o.Clock = clock.New()
	}
	sp, err := newSpawner(o.Log)
	if err != nil {
		return nil, err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("live: working directory: %w", err)
	}
	confPath, err := filepath.Abs(o.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("live: config path: %w", err)
	}
	return &daemon{
		o: o, m: core.New(), sp: sp, rep: newReporter(o.Log), ctl: newController(o.Clock, o.Log), clk: o.Clock, boot: o.Clock.Now(),
		cwd: cwd, events: make(chan any, 256), awaiting: map[int]bool{}, deferred: map[int]core.Exited{},
		stopping: map[int]bool{}, confPath: confPath, deps: map[string]core.DepState{},
	}, nil
}

func (d *daemon) now() core.Time { return core.Time(d.clk.Since(d.boot)) }

// watchSignals turns signals into events. Every signal pmtr does not act on
// is caught and dropped (not ignored), so jobs still start with defaults.
func (d *daemon) watchSignals(kick chan<- struct{}, stop <-chan struct{}) {
	ch := d.o.Signals
	if ch == nil {
		ch = CatchSignals()
	}
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case s := <-ch:
				d.onSignal(s.(syscall.Signal), kick)
			case <-stop:
				return
			}
		}
	}()
}

func (d *daemon) onSignal(s syscall.Signal, kick chan<- struct{}) {
	switch s {
	case syscall.SIGCHLD:
		select {
		case kick <- struct{}{}:
		default: // a drain is already due
		}
	case syscall.SIGHUP:
		d.events <- reloadRequest{}
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT:
		d.events <- shutdownRequest{sig: int(s)}
	}
}

// loop is the one owner of the core: perform effects, then wait for the
// next event or deadline.
func (d *daemon) loop(ctx context.Context) error {
	timer := d.clk.Timer(time.Hour)
	done := ctx.Done()
	for {
		rd := d.drain()
		if rd.Done {
			timer.Stop()
			return nil
		}
		d.arm(timer, rd.Deadline)
		select {
		case ev := <-d.events:
			d.handle(ev)
		case m := <-d.ctl.out:
			d.onControl(m)
		case <-timer.C:
			d.m.Tick(d.now())
		case <-done:
			done = nil
			d.m.Step(d.now(), core.Shutdown{})
		}
	}
}

// drain performs effects until the core has none left (performing a spawn
// feeds an event back), so every log line of one step is out before the
// next event is handled.
func (d *daemon) drain() core.Ready {
	for {
		rd := d.m.Ready()
		if len(rd.Effects) == 0 || rd.Done {
			for _, e := range rd.Effects {
				d.perform(e)
			}
			for _, g := range d.logged {
				close(g)
			}
			d.logged = d.logged[:0]
			return rd
		}
		for _, e := range rd.Effects {
			d.perform(e)
		}
	}
}

// arm sets the timer to the core's deadline; no deadline, no wake-up.
func (d *daemon) arm(t *clock.Timer, at core.Time) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	if at != core.Never {
		t.Reset(max(time.Duration(at-d.now()), 0))
	}
}

func (d *daemon) handle(ev any) {
	switch e := ev.(type) {
	case core.Exited:
		if d.awaiting[e.PID] {
			d.deferred[e.PID] = e
			return
		}
		d.finishGroup(e.PID)
		d.m.Step(d.now(), e)
	case execResult:
		d.onExecResult(e)
	case reloadRequest:
		d.reload(true)
	case fsChange:
		d.reload(false)
		d.checkDeps()
	case shutdownRequest:
		d.m.Step(d.now(), core.Shutdown{Signal: e.sig})
	case statusRequest:
		e.reply <- statusTable(d.now(), d.m.Status())
	case core.Event:
		d.m.Step(d.now(), e)
	}
}

// onExecResult logs why a helper failed, then releases its held exit, so
// the reason always comes before the exit line.
func (d *daemon) onExecResult(e execResult) {
	delete(d.awaiting, e.pid)
	if e.msg != "" {
		d.o.Log.Log(core.Error, e.msg)
	}
	if ex, ok := d.deferred[e.pid]; ok {
		delete(d.deferred, e.pid)
		d.m.Step(d.now(), ex)
	}
}

// onControl applies a control datagram: each run of names after an enable,
// disable or restart word is one command.
func (d *daemon) onControl(m controlMsg) {
	d.o.Log.Logf(core.Debug, "received [%s] from %s", m.text, m.from)
	cmds, err := udp.ParseControl(m.text)
	for _, c := range cmds {
		d.m.Step(d.now(), core.Control{Verb: c.Verb, Names: c.Names, From: m.from})
	}
	if err != nil { // a name before any verb: the core words it
		d.m.Step(d.now(), core.Control{Verb: "invalid", From: m.from})
	}
}

func (d *daemon) perform(e core.Effect) {
	switch e := e.(type) {
	case core.Log:
		d.o.Log.Log(e.Level, e.Text)
	case core.Spawn:
		d.spawn(e)
	case core.Kill:
		d.kill(e)
	case core.Report:
		d.rep.send(e.Body)
	}
}

func (d *daemon) spawn(e core.Spawn) {
	st, err := d.sp.start(e.Spec)
	if err != nil {
		d.m.Step(d.now(), core.SpawnFailed{Job: e.Job, Attempt: e.Attempt, Reason: err.Error()})
		return
	}
	d.awaiting[st.pid] = true
	d.logged = append(d.logged, st.logged)
	d.m.Step(d.now(), core.Spawned{Job: e.Job, Attempt: e.Attempt, PID: st.pid})
	go func() { d.events <- execResult{pid: st.pid, msg: <-st.status} }()
}

// finishGroup: once the leader of a group pmtr stopped is gone, whatever
// is left of its group gets SIGKILL, so no process of a stopped job survives.
func (d *daemon) finishGroup(pid int) {
	if d.stopping[pid] {
		delete(d.stopping, pid)
		unix.Kill(-pid, unix.SIGKILL)
	}
}

// kill signals the job's whole process group. The core only asks for pids
// it has not seen exit, and only this process reaps, so the number is ours.
func (d *daemon) kill(e core.Kill) {
	d.stopping[e.PID] = true
	err := unix.Kill(-e.PID, syscall.Signal(e.Signal))
	if errors.Is(err, unix.ESRCH) {
		err = unix.Kill(e.PID, syscall.Signal(e.Signal))
	}
	if err != nil && !errors.Is(err, unix.ESRCH) {
		d.o.Log.Logf(core.Error, "error: %s", strerror(err))
	}
}

// load hands a parsed config to the core, with its dependencies read now,
// and watches the files it names.
func (d *daemon) load(cfg *confgrammar.Config) {
	resolveDepends(cfg, d.cwd)
	d.rep.configure(cfg.Reports)
	d.ctl.configure(cfg.Listens)
	states := depStates(cfg)
	d.deps = map[string]core.DepState{}
	files := []string{d.confPath}
	for _, st := range states {
		d.deps[st.Path] = st
		files = append(files, st.Path)
	}
	d.w.set(files)
	d.gen++
	d.m.Step(d.now(), core.ConfigLoaded{Gen: d.gen, Config: cfg, Deps: states})
}

// reload rereads the config file. Unless forced (SIGHUP), a file whose
// content has not changed is left alone. A bad or missing file keeps the
// running config.
func (d *daemon) reload(force bool) {
	src, err := readLimited(d.o.ConfigPath)
	if err == nil && !force && sha256.Sum256(src) == d.confSum {
		return
	}
	var cfg *confgrammar.Config
	if err == nil {
		cfg, err = confgrammar.Parse(d.o.ConfigPath, src)
		if err == nil {
			err = CheckInterfaces(d.o.ConfigPath, cfg)
		}
	} else {
		err = fmt.Errorf("can't open %s: %s", d.o.ConfigPath, strerror(err))
	}
	if err != nil {
		d.m.Step(d.now(), core.ConfigRejected{File: d.o.ConfigPath, Errors: confgrammar.Messages(err)})
		return
	}
	d.confSum = sha256.Sum256(src)
	d.load(cfg)
}

// checkDeps tells the core about every dependency whose content changed,
// vanished or came back since last seen.
func (d *daemon) checkDeps() {
	paths := make([]string, 0, len(d.deps))
	for p := range d.deps {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		if st := depState(p); st != d.deps[p] {
			d.deps[p] = st
			d.m.Step(d.now(), core.DepChanged(st))
		}
	}
}
