package driver

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"pmtr/confgrammar"
	"pmtr/core"
)

// State is the driver's whole state as plain values: the core's snapshot
// and what the driver keeps beside it (the config in force, its
// dependencies and keys, the load under way). pmtr upgrade hands it to
// the new binary, whose driver (Restore) carries on where this one
// stopped. Local commands waiting for their jobs and pmtr reload callers
// are answered at the handover: their connections do not survive it.
type State struct {
	Core core.Snapshot
	Now  core.Time
	Gen  uint64
	Sum  [32]byte // of the config in force
	// Files hashes each file of the config in force (which ones a reload
	// changed) and Includes are its include lines (pmtr cat); from a pmtr
	// before include, nil: the next reload names every file as added.
	Files    map[string][32]byte
	Includes []confgrammar.Include
	Config   ConfigState
	Deps     []core.DepState // by path
	Setup    Setup
	Contain  ContainmentState
	// Reload is a read of the files that was under way or asked for:
	// the new driver reads them again (ReloadForced: applying the config
	// even when unchanged, as pmtr reload and SIGHUP ask).
	Reload  ReloadNeed
	ReadSeq uint64 // the last read's number: an answer to it is not taken for a new one
}

// ReloadNeed is what a State asks of the files.
type ReloadNeed int

// What a State asks of the files.
const (
	NoReload      ReloadNeed = iota
	ReloadChanged            // read them; only changes count
	ReloadForced             // read them and apply the config
)

// Handover asks the driver for its State (pmtr upgrade). The driver
// answers the commands waiting for their jobs and the reload callers,
// sends its state on Reply (which must have room) and pauses: Run
// returns false, and nothing happens to the core until Resume (the new
// binary did not start: this one carries on) or never (it did).
type Handover struct {
	Reply chan<- HandoverAnswer
}

// HandoverAnswer is the driver's state, or why it cannot be handed over.
type HandoverAnswer struct {
	State State
	Err   error
}

func (Handover) isInput()       {}
func (Handover) String() string { return "handover" }

// upgradeNote ends the answer of a command cut short by pmtr upgrade.
const upgradeNote = "pmtr is being upgraded: not waiting for the rest (pmtr status shows it)"

// handover answers a Handover and pauses the driver.
func (d *Driver) handover(h Handover) {
	s, err := d.State()
	if err != nil {
		h.Reply <- HandoverAnswer{Err: err}
		return
	}
	for _, w := range d.waiters {
		r, _, _ := d.progress(w, d.b.Now())
		r.Lines = append(r.Lines, upgradeNote)
		w.cmd.Reply <- r
	}
	d.waiters, d.waitWake = nil, core.Never
	for _, r := range append(d.ld.answering, d.ld.waiting...) {
		r <- Result{Code: CodeFailed, Lines: []string{"pmtr is being upgraded: the new pmtr reads the config again (see its log)"}}
	}
	d.ld = loader{seq: d.ld.seq} // an answer to the read under way is dropped: seq tells it
	h.Reply <- HandoverAnswer{State: s}
	d.paused = true
}

// Resume ends a pause of Handover: the new binary did not take over, so
// this driver carries on. The files are read again, as the handover
// dropped the read under way.
func (d *Driver) Resume(s State) {
	d.paused = false
	if s.Reload != NoReload {
		d.reload(Reload{Force: s.Reload == ReloadForced})
	}
}

// State is the driver's state now. The core must have no effects pending
// (it never has between inputs).
func (d *Driver) State() (State, error) {
	snap, err := d.m.Snapshot()
	if err != nil {
		return State{}, fmt.Errorf("driver: %w", err)
	}
	s := State{Core: snap, Now: d.now, Gen: d.gen, Sum: d.sum, Files: maps.Clone(d.files), Includes: slices.Clone(d.includes),
		Config: d.configState(), Setup: d.setup, Contain: d.contain, ReadSeq: d.ld.seq}
	for _, st := range d.deps {
		s.Deps = append(s.Deps, st)
	}
	slices.SortFunc(s.Deps, func(a, b core.DepState) int { return cmp.Compare(a.Path, b.Path) })
	switch {
	case d.ld.inflight && d.ld.force || d.ld.want && d.ld.wantForce:
		s.Reload = ReloadForced
	case d.ld.inflight || d.ld.want:
		s.Reload = ReloadChanged
	}
	return s, nil
}

// Restore makes a driver that carries on from s (the state of another
// pmtr's driver, pmtr upgrade) on backend b. It sets the world up as s's
// config asks (Apply), and reads the files when s asks for it; the core
// decides nothing until the first input.
func Restore(b Backend, o Options, s State) (*Driver, error) {
	m, err := core.Restore(s.Core)
	if err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	d := New(b, o)
	d.m, d.now, d.gen, d.sum, d.conf, d.setup = m, s.Now, s.Gen, s.Sum, s.Config, s.Setup
	d.files, d.includes, d.contain = maps.Clone(s.Files), slices.Clone(s.Includes), s.Contain
	d.ld.seq = s.ReadSeq
	if d.conf.Refused != nil {
		r := *d.conf.Refused
		d.conf.Refused = &r
	}
	for _, st := range s.Deps {
		d.deps[st.Path] = st
	}
	d.pump() // no effects (a snapshot has none): the next deadline
	d.b.Apply(d.setup)
	if s.Reload != NoReload {
		d.reload(Reload{Force: s.Reload == ReloadForced})
	}
	return d, nil
}

// Kept is the number of jobs of s that have a process.
func (s State) Kept() int { return s.Core.Kept() }

// Upgraded is the line the new pmtr logs once it has taken over.
func Upgraded(from, to string, kept int) string {
	return fmt.Sprintf("upgraded from %s to %s (%d %s kept)", from, to, kept, plural(kept, "job"))
}
