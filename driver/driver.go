// Package driver runs pmtr's core against a backend: it owns the loop
// (wait for an input, step the core, perform its effects), config loading
// (read, parse, check, resolve and hash dependencies), reload and reject,
// control decoding, shutdown and the status snapshot. The live backend
// (real processes) and the sim backend (virtual time) share it, so pmtr sim
// decides exactly as the daemon does.
//
// The driver runs on one goroutine and never blocks but in Backend.Next:
// every backend call returns at once and answers come back as inputs,
// which are plain data (no functions to call). Neither it nor the pmtr
// packages it builds on import anything that does I/O or reads the clock
// (imports_test.go), so its loop cannot block by construction.
package driver

import (
	"fmt"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/datagram"
	"pmtr/logsafe"
)

// Options configure a driver.
type Options struct {
	ConfigPath string // the config file, as named to pmtr (log lines, reads)
	Cwd        string // where relative dependencies resolve when a job has no dir
	// Initial is the parsed config to start with and Files the files it
	// was loaded from; nil: read ConfigPath first.
	Initial *confgrammar.Config
	Files   *confgrammar.Files
	Hooks   Hooks
	// Running are processes already running, by job name, that the first
	// config takes as its jobs' runs (pmtr upgrade without a readable
	// state: the backend found them in the jobs' cgroups or pid records).
	Running map[string]int
	// Seed is the core's random source for the jitter of restart delays
	// (live: from crypto/rand; sim: the scenario's seed, for reproducible runs).
	Seed uint64
}

// Hooks see every call made on the core, for transcripts and tests.
type Hooks struct {
	OnEvent  func(now core.Time, ev core.Event)
	OnTick   func(now core.Time)
	OnEffect func(now core.Time, e core.Effect)
	OnReady  func(now core.Time, rd core.Ready)
}

// Driver owns a core.Machine. It is not safe for concurrent use.
type Driver struct {
	o        Options
	b        Backend
	spawned  SpawnObserver // b, if it observes Spawned events; else nil
	m        *core.Machine
	now      core.Time // time of the last call on the core
	gen      uint64
	sum      [32]byte                 // content of the config in force (filesSum)
	files    map[string][32]byte      // each file of the config in force, by path: its content
	includes []confgrammar.Include    // the include lines of the config in force (pmtr cat)
	conf     ConfigState              // the config in force, and a refusal of the file on disk
	deps     map[string]core.DepState // last seen state of each dependency
	setup    Setup                    // the outside-world part of the config in force
	ld       loader
	deadline core.Time
	done     bool
	waiters  []*waiter // local commands waiting for their jobs
	waitWake core.Time // when a waiter is done without another input, or Never
	paused   bool      // handed over (pmtr upgrade): Run returns until Resume
	contain  ContainmentState
	// The metrics' values as last published, and whether an input came
	// since that may have changed them.
	pub       Publisher // b, if it publishes the metrics' values; else nil
	published Metrics
	pubStale  bool
}

// New returns a driver; Start loads the first config.
func New(b Backend, o Options) *Driver {
	d := &Driver{o: o, b: b, m: core.NewSeeded(o.Seed), deps: map[string]core.DepState{}, deadline: core.Never, waitWake: core.Never,
		pubStale: true} // nothing published yet: the first publish copies the values
	d.spawned, _ = b.(SpawnObserver)
	d.pub, _ = b.(Publisher)
	return d
}

// Machine is the core the driver owns, for read-only inspection (Status).
func (d *Driver) Machine() *core.Machine { return d.m }

// Done reports whether shutdown has completed.
func (d *Driver) Done() bool { return d.done }

// ExitCode is the code pmtr exits with once Done: 0 after an orderly stop,
// or the code of the critical job that ended it (by names it; "" for 0).
func (d *Driver) ExitCode() (code int, by string) { return d.m.ExitCode() }

// Start loads the initial config (Options.Initial, else the file).
func (d *Driver) Start() {
	if d.o.Initial != nil {
		d.ld.files = fileSums(d.o.Files)
		d.prepare(d.o.Initial, filesSum(d.o.Files), "")
		d.o.Initial, d.o.Files = nil, nil // the core keeps what it needs: let the parse go
		return
	}
	d.reload(Reload{Force: true})
}

// Run handles inputs until shutdown has completed (true), or the backend
// pauses the run or the driver has handed its state over (false).
func (d *Driver) Run() bool {
	for !d.done {
		in := d.b.Next(earliest(d.deadline, d.waitWake))
		if in == nil {
			return false
		}
		d.Handle(in)
		if d.paused {
			return false
		}
	}
	return true
}

// Paused reports whether the driver has handed its state over (Handover)
// and not resumed.
func (d *Driver) Paused() bool { return d.paused }

// Handle acts on one input and performs what the core asks in response.
func (d *Driver) Handle(in Input) {
	switch e := in.(type) {
	case Event:
		d.step(e.At, e.Ev)
		if s, ok := e.Ev.(core.Spawned); ok && d.spawned != nil {
			d.spawned.AfterSpawned(s)
		}
	case Tick:
		d.tick()
	case Reload:
		d.reload(e)
	case ControlText:
		d.control(e)
	case StatusQuery:
		e.Reply <- d.Status()
	case MetricsQuery:
		e.Reply <- Metrics{Snapshot: d.Status(), Counters: d.m.Counters()}
	case PlanQuery:
		e.Reply <- d.plan(e.Source)
	case Command:
		d.command(e)
	case WhyQuery:
		d.why(e)
	case CatQuery:
		d.cat(e)
	case FilesRead:
		d.onRead(e)
	case Handover:
		d.handover(e)
	case Containment:
		d.onContainment(e)
	case MetricsWanted: // publish, below
	default:
		d.unknown(in)
	}
	if len(d.waiters) > 0 {
		d.checkWaiters()
	}
	d.publish(in)
}

// unknown reports an input of no known type (a backend bug) and goes on.
func (d *Driver) unknown(in Input) {
	what := "nil"
	if in != nil {
		what = logsafe.Text(in.String())
	}
	d.b.Log(core.Log{Level: core.Error, Text: fmt.Sprintf("driver: unknown input %T (%s) ignored", in, what)})
}

// step feeds one event to the core and performs the effects.
func (d *Driver) step(at core.Time, ev core.Event) {
	d.now = max(d.now, at)
	if h := d.o.Hooks.OnEvent; h != nil {
		h(d.now, ev)
	}
	d.m.Step(at, ev)
	d.pump()
}

func (d *Driver) tick() {
	d.now = max(d.now, d.b.Now())
	if h := d.o.Hooks.OnTick; h != nil {
		h(d.now)
	}
	d.m.Tick(d.now)
	d.pump()
}

// pump performs the core's pending effects. None of them answers at once
// (answers are inputs), so one Ready drains the core.
func (d *Driver) pump() {
	rd := d.m.Ready()
	for _, e := range rd.Effects {
		if h := d.o.Hooks.OnEffect; h != nil {
			h(d.now, e)
		}
	}
	if h := d.o.Hooks.OnReady; h != nil {
		h(d.now, rd)
	}
	for _, e := range rd.Effects {
		d.perform(e)
	}
	d.deadline, d.done = rd.Deadline, rd.Done
}

func (d *Driver) perform(e core.Effect) {
	switch e := e.(type) {
	case core.Log:
		d.b.Log(e)
	case core.Spawn:
		d.b.Start(e)
	case core.Cancel:
		d.b.Cancel(e)
	case core.Kill:
		d.b.Signal(e)
	case core.Probe:
		d.b.Probe(e)
	case core.Report:
		d.b.Report(e.Body)
	}
}

// control decodes a control message: each run of names after an enable,
// disable or restart word is one command; a name before any verb makes
// the message invalid (the core words that), after the commands before it.
func (d *Driver) control(c ControlText) {
	d.b.Log(core.Log{Level: core.Debug, Text: fmt.Sprintf("received [%s] from %s", logsafe.Text(c.Text), logsafe.Text(c.From))})
	now := d.b.Now()
	cmds, err := datagram.ParseControl(c.Text)
	for _, cmd := range cmds {
		d.step(now, core.Control{Verb: core.Verb(cmd.Verb), Names: cmd.Names, From: c.From, Via: c.Via})
	}
	if err != nil {
		d.step(now, core.Control{Verb: core.Invalid, From: c.From, Via: c.Via})
	}
}
