// Package live is pmtr's Linux backend: real processes, real time, real
// signals, files and sockets, behind the driver's Backend interface. The
// driver goroutine only ever waits in Next; forks, file reads, DNS and
// sockets run on other goroutines and come back as inputs on one typed
// queue.
package live

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/sys/unix"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
	"pmtr/handover"
	"pmtr/live/contain"
	"pmtr/live/ctlsock"
	"pmtr/live/exepages"
	"pmtr/live/files"
	"pmtr/live/health"
	"pmtr/live/hostfacts"
	"pmtr/live/inbox"
	"pmtr/live/joboutput"
	"pmtr/live/logsink"
	"pmtr/live/metrics"
	"pmtr/live/notify"
	"pmtr/live/spawn"
	"pmtr/live/udpnet"
	"pmtr/live/upgrade"
	"pmtr/live/watch"
)

// Options configure a daemon run.
type Options struct {
	ConfigPath string
	Config     *confgrammar.Config // already parsed (the caller reports parse errors)
	Files      *confgrammar.Files  // the files Config was loaded from (nil: read them again)
	Log        *logsink.Logger
	Clock      clock.Clock // nil: the real clock
	// Ready, if set, is called once the daemon runs (its first config is
	// being started).
	Ready func()
	// StatusSocket, if set, is the control socket "pmtr status" and the
	// other commands use (see ctlsock.Path).
	StatusSocket string
	// Signals, if set, is a channel from CatchSignals made early in main, so
	// that a signal during startup is acted on, not fatal.
	Signals chan os.Signal
	// Spawners is the number of goroutines that start jobs (0: spawn.DefaultSpawners).
	Spawners int

	// For pmtr upgrade (live/upgrade): the binary pmtr was started from (the
	// default new binary), the command line to exec it with, this
	// binary's version, the config's lock and how the log was made (all
	// handed to the new binary).
	Self      string
	Args      []string
	Version   string
	Lock      *hostfacts.Lock
	LogSyslog bool
	Verbose   int
	// Resume, if set, is the state handed over by the pmtr before an
	// upgrade: this run carries on from it. Rebuild, if set, is an upgrade
	// whose state could not be read.
	Resume  *handover.State
	Rebuild *upgrade.Rebuild
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

// gcPercent: pmtr's heap is small and steady, so a tighter GC target
// costs little CPU and keeps its memory near what it uses (GOGC overrides).
const gcPercent = 50

// startGCPercent is the GC target from the daemon's start (StartGC) until
// its first burst of 32 starts or more is over, or startGCFor at the
// latest: parsing and loading the config and starting every job make
// garbage fast, and at gcPercent the collections took CPU from the starts
// (1000 jobs: 14 ms of pmtr's 186 ms; at 200 one collection was left, about
// 5 ms; at 400 none: the heap then peaks near 10 MB, and the burst's end
// returns it; docs/BENCHMARKS.md).
const (
	startGCPercent = 400
	startGCFor     = 10 * time.Second
)

// StartGC sets the GC target for the daemon's start (startGCPercent); the
// daemon calls it before it reads its config. GOGC overrides.
func StartGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(startGCPercent)
	}
}

// steadyGC sets pmtr's GC target once its start is over.
func steadyGC(once *sync.Once) {
	once.Do(func() {
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(gcPercent)
		}
	})
}

// inboxSize bounds the queue to the driver; senders wait (or give up at
// shutdown) when it is full, and control datagrams have their own queue.
const inboxSize = 1024

// backend is the live world of one run.
type backend struct {
	o       Options
	log     *logsink.Logger
	clk     clock.Clock
	boot    time.Time
	q       *inbox.Inbox // to the driver; closed when the run ends: every sender gives up
	done    <-chan struct{}
	timer   *clock.Timer
	armed   core.Time // the deadline timer is set for and has not yet delivered; core.Never: none
	out     *joboutput.Reader
	procs   *spawn.Processes
	cg      *contain.Jobs
	settled chan struct{}   // a burst of starts is over (exepages drops the binary's pages 1 s after the last)
	ctl     *ctlsock.Server // the control socket, or nil
	logs    *joboutput.Rings
	net     *udpnet.Worker
	metrics *metrics.Exporter
	latest  *metrics.Latest // the metrics' values the driver publishes
	w       *watch.Watcher
	health  *health.Health
	notes   *notify.Listener // the health room's, for its counts; nil when it could not be made
	files   *files.Reader

	endpoints *metrics.Servers
	up        *upgrade.Upgrader
}

var _ driver.Backend = (*backend)(nil)

// Run supervises the jobs of o.Config until ctx ends, a TERM, INT or QUIT
// arrives or a critical job ends, then stops every job and returns once all
// are reaped, with the code pmtr exits with: 0, or the critical job's.
func Run(ctx context.Context, o Options) (int, error) {
	cfg, files := o.Config, o.Files
	o.Config, o.Files = nil, nil // once loaded, the parse and the bytes can go
	b, err := newBackend(ctx, o)
	if err != nil {
		return 1, err
	}
	defer o.Log.Flush() // the last lines (exiting, the last exits) are out before Run returns
	defer b.close()
	cwd, err := os.Getwd()
	if err != nil {
		return 1, fmt.Errorf("live: working directory: %w", err)
	}
	do := driver.Options{ConfigPath: o.ConfigPath, Cwd: cwd, Seed: jitterSeed()}
	if cfg != nil && files != nil {
		do.Initial, do.Files = cfg, files
	}
	var d *driver.Driver
	switch {
	case o.Resume != nil:
		if d, err = b.up.TakeOver(b, do, o.Resume); err != nil {
			return 1, err
		}
	case o.Rebuild != nil && cfg != nil:
		do.Running = b.up.FindJobs(cfg)
		d = driver.New(b, do)
		d.Start()
		b.up.Rebuilt(o.Rebuild, len(do.Running))
	default:
		d = driver.New(b, do)
		d.Start()
	}
	exepages.KeepDropped(b.q.Done(), b.settled) // the start touched most of the binary: its pages count in pmtr's memory until dropped
	if o.Ready != nil {
		o.Ready()
	}
	for !d.Run() { // paused: handed over for pmtr upgrade, which did not happen if we are here
		b.up.CarryOut(d)
	}
	code, _ := d.ExitCode()
	return code, nil
}

// startsSettled is the containment as the spawners see it: a burst of
// starts that is over also tells exepages, without waiting.
type startsSettled struct {
	*contain.Jobs
	note chan<- struct{}
}

func (s startsSettled) Settled() {
	s.Jobs.Settled()
	select {
	case s.note <- struct{}{}:
	default:
	}
}

// jitterSeed seeds the core's jitter of restart delays, so that pmtrs on
// many hosts do not restart their jobs in step.
func jitterSeed() uint64 {
	var b [8]byte
	crand.Read(b[:]) // never fails on Linux (getrandom)
	return binary.LittleEndian.Uint64(b[:])
}

func newBackend(ctx context.Context, o Options) (*backend, error) {
	if o.Clock == nil {
		o.Clock = clock.New()
	}
	launcher, err := spawn.NewLauncher()
	if err != nil {
		return nil, err
	}
	unix.Umask(0o022)  // jobs inherit it (C pmtr gave them 0)
	gc := &sync.Once{} // the start's GC target (StartGC) until the first burst is over
	time.AfterFunc(startGCFor, func() { steadyGC(gc) })
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		o.Log.Logf(core.Error, "can't become child subreaper: %v", err)
	}
	b := &backend{o: o, log: o.Log, clk: o.Clock, boot: o.Clock.Now(), q: inbox.New(inboxSize),
		done: ctx.Done(), logs: joboutput.NewRings(), settled: make(chan struct{}, 1)}
	st := o.Resume
	if st != nil {
		b.boot = upgrade.Boot(o.Clock.Now(), st)
		if rings, err := upgrade.RingsOf(st); err == nil {
			b.logs.Import(rings)
		} else {
			b.log.Logf(core.Error, "the jobs' log lines of before the upgrade are lost: %v", err)
		}
	}
	o.Log.SetTee(b.logs.AddAll) // pmtr's own lines join the jobs' in pmtr logs without a job
	if b.out, err = joboutput.NewReader(o.Log, b.logs); err != nil {
		return nil, err
	}
	degraded := func(p string) { b.q.Send(driver.Containment{Degraded: p}) }
	if st != nil {
		b.out.Inherit(st.Files.Outputs)
	}
	if st != nil || o.Rebuild != nil {
		b.cg = contain.Adopt(o.ConfigPath, o.Log, b.q.Done(), degraded) // what is in the job cgroups is this run's
	} else {
		b.cg = contain.New(o.ConfigPath, o.Log, b.q.Done(), degraded) // before any job starts: leftovers go first
	}
	b.timer = b.clk.Timer(time.Hour)
	b.timer.Stop()
	b.armed = core.Never
	b.health = b.newHealth()
	send := func(in driver.Input) bool { b.health.Sent(in); return b.q.Send(in) }
	b.procs = spawn.New(launcher, spawn.Deps{Log: b, SplitStreams: o.Log.SplitsStreams(), Send: send, Now: b.Now,
		Stop: b.q.Done(), Contain: startsSettled{b.cg, b.settled},
		BurstOver: func() { steadyGC(gc) }, Output: b.out, Rings: b.logs, Spawners: o.Spawners, Notice: notice{b.health}})
	b.watchSignals()
	b.latest = metrics.NewLatest(func() bool { return b.q.TrySend(driver.MetricsWanted{}) })
	b.metrics = &metrics.Exporter{Wall: b.wall, Refused: func() int64 { return b.net.Refused() }, NotifyDropped: b.notifyDropped,
		Query: func() (driver.Metrics, bool) {
			m, ok := b.latest.Get(5 * time.Second)
			m.Now = max(m.Now, b.Now()) // unchanged values hold until now
			return m, ok
		}}
	b.w = watch.New(b.clk, o.Log, b.q.Send)
	b.files = files.NewReader(b.clk, o.Log, b.q.Send)
	b.endpoints = metrics.NewServers(o.Log, metrics.Pages{Metrics: b.metrics.Write, Healthz: b.metrics.Healthz, Livez: b.metrics.Livez})
	var udp map[string]*os.File
	if st != nil {
		b.endpoints.Inherit(upgrade.ListenerFiles(st.Files.Metrics))
		udp = upgrade.ListenerFiles(st.Files.UDP)
	}
	b.net = udpnet.NewWorker(udpnet.Deps{Clock: o.Clock, Log: o.Log, Stop: b.q.Done(), Watch: b.w.Set,
		Endpoints: b.endpoints, Inherited: udp})
	b.up = b.newUpgrader()
	if o.StatusSocket != "" {
		b.serveControl(st)
	}
	if b.ctl != nil { // not a nil *Server in the interface
		b.up.SetControl(b.ctl)
	}
	return b, nil
}

// newUpgrader wires pmtr upgrade (live/upgrade) to the rooms it pauses
// and hands over.
func (b *backend) newUpgrader() *upgrade.Upgrader {
	o := b.o
	adopt := func(ls []upgrade.Leader, spawns []handover.Spawn) {
		leaders := make([]spawn.Leader, len(ls))
		for i, l := range ls {
			leaders[i] = spawn.Leader(l)
		}
		b.procs.Inherit(leaders, spawns)
	}
	return upgrade.New(upgrade.Deps{Inbox: b.q, Log: b.log, Now: b.Now, Spawns: b.procs, Adopt: adopt, Health: b.health,
		UDP: b.net, Endpoints: b.endpoints, Output: b.out, Jobs: b.cg, Rings: b.logs.Export, Answer: ctlsock.Answer,
		Self: o.Self, Args: o.Args, Version: o.Version, Lock: o.Lock, LogSyslog: o.LogSyslog, Verbose: o.Verbose})
}

// serveControl serves the control socket: the one handed over by the
// pmtr before an upgrade, or a new one.
func (b *backend) serveControl(st *handover.State) {
	d := ctlsock.Deps{Inbox: b.q, Log: b.log, Where: b.cg.Where, Rings: b.logs, Wall: b.wall, Metrics: b.metrics.Write,
		Upgrade: func(binary string, c ctlsock.Caller) error { return b.up.Upgrade(binary, upgrade.Caller(c)) }}
	control := -1
	switch {
	case st != nil:
		control = st.Files.Control
	case b.o.Rebuild != nil:
		control = b.o.Rebuild.Control
	}
	if control >= 0 {
		s, err := ctlsock.Inherit(os.NewFile(uintptr(control), "control socket"), b.o.StatusSocket, d)
		if err == nil {
			b.ctl = s
			return
		}
		b.log.Logf(core.Error, "%v; listening again", err)
	}
	b.ctl = ctlsock.Serve(b.o.StatusSocket, d)
}

// close ends the run's goroutines and sockets.
func (b *backend) close() {
	b.health.Close() // first: its exec probes are killed and reaped by the reaper, which stops with the queue
	b.q.Close()
	if b.ctl != nil { // before Run returns: no answer comes from a stopped pmtr
		b.ctl.Close()
	}
	b.procs.Close()
	b.out.Close()
	b.w.Close()
	b.files.Close()
	b.timer.Stop()
	b.cg.Close()
}

func (b *backend) Now() core.Time { return core.Time(b.clk.Since(b.boot)) }

// wall is the wall-clock time of a machine time.
func (b *backend) wall(t core.Time) time.Time {
	return b.boot.Add(time.Duration(t)).Round(time.Millisecond)
}

// Next waits for an input, a control message or the deadline.
func (b *backend) Next(deadline core.Time) driver.Input {
	b.arm(deadline)
	select {
	case in := <-b.q.C():
		return in
	case m := <-b.net.Control():
		return m
	case <-b.timer.C:
		b.armed = core.Never
		return driver.Tick{}
	case <-b.done:
		b.done = nil
		return driver.Event{At: b.Now(), Ev: core.Shutdown{}}
	}
}

// arm sets the timer to the core's deadline; no deadline, no wake-up. Most
// inputs leave the deadline as it was: the timer is then left alone (a
// fire it has already delivered to its channel is still there to take).
func (b *backend) arm(at core.Time) {
	if at == b.armed {
		return
	}
	b.timer.Stop()
	select {
	case <-b.timer.C:
	default:
	}
	b.armed = at
	if at != core.Never {
		b.timer.Reset(max(time.Duration(at-b.Now()), 0))
	}
}

// Start hands the spawn to the spawners.
func (b *backend) Start(e core.Spawn) { b.procs.Start(e) }

// Cancel withdraws a spawn still queued; its worker answers SpawnCancelled.
func (b *backend) Cancel(e core.Cancel) { b.procs.Cancel(e) }

// Probe starts a probe attempt (live/probe); its outcome comes back later.
func (b *backend) Probe(e core.Probe) { b.health.Probe(e) }

// Signal signals the job's process group, and its cgroup.
func (b *backend) Signal(e core.Kill) { b.procs.Signal(e) }

var _ driver.Publisher = (*backend)(nil)

// Stale: an input may have changed the metrics' values.
func (b *backend) Stale() { b.latest.Stale() }

// Wanted: a scrape waits for the metrics' values (the driver asks after
// each input).
func (b *backend) Wanted() bool { return b.latest.Wanted() }

// Publish hands the metrics' values to the scrapes.
func (b *backend) Publish(m driver.Metrics) { b.latest.Publish(m) }

var _ driver.SpawnObserver = (*backend)(nil)

// AfterSpawned: the driver has logged a job's start; its output is read
// from now on.
func (b *backend) AfterSpawned(sp core.Spawned) { b.procs.AfterSpawned(sp) }

func (b *backend) Report(body string) { b.net.Report(body) }

// Log writes a line of pmtr's log; a line about a job also goes to its ring.
func (b *backend) Log(l core.Log) {
	b.log.LogFor(l.Level, l.Job, l.Text)
	if l.Job != "" && l.Level != core.Debug {
		b.logs.Add(l.Job, l.Text)
	}
}

// Apply hands the setup to the network worker: sockets may need DNS, and
// watching a directory looks up its path (a hung file system would wait).
// The notify sockets of jobs that no longer use one go, on a goroutine.
func (b *backend) Apply(s driver.Setup) {
	b.net.Apply(s)
	b.health.KeepSockets(s.Notify)
}

// Read reads the config and hashes dependencies on a goroutine of its own.
func (b *backend) Read(r driver.ReadRequest) { b.files.Read(r) }

// watchSignals turns signals into inputs. Every signal pmtr does not act on
// is caught and dropped (not ignored), so jobs still start with defaults.
func (b *backend) watchSignals() {
	ch := b.o.Signals
	if ch == nil {
		ch = CatchSignals()
	}
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case s := <-ch:
				b.onSignal(s.(syscall.Signal))
			case <-b.q.Done():
				return
			}
		}
	}()
}

func (b *backend) onSignal(s syscall.Signal) {
	switch s {
	case syscall.SIGCHLD:
		b.procs.Reap()
	case syscall.SIGHUP:
		b.q.Send(driver.Reload{Force: true})
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT:
		b.q.Send(driver.Event{At: b.Now(), Ev: core.Shutdown{Signal: int(s)}})
	}
}
