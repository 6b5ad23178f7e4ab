package sim

import (
	"fmt"
	"strings"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
	"pmtr/handover"
)

// World is the shared driver run on the simulated Backend in virtual time:
// the daemon's own loop, with time jumping from one deadline or scripted
// exit to the next.
type World struct {
	M   *core.Machine // the driver's machine, for Status
	B   *Backend
	D   *driver.Driver
	Now core.Time

	// OnEvent and OnEffect, when set, see every event before the machine
	// does and every effect as it is emitted (property tests check rules there).
	OnEvent  func(now core.Time, ev core.Event)
	OnEffect func(now core.Time, e core.Effect)
	// OnReady, when set, sees every Ready (its effects already reported).
	OnReady func(now core.Time, rd core.Ready)

	opts    driver.Options
	lines   []string
	journal []Call
	gen     uint64
	seed    uint64 // the core's
}

// Call is one call made on the machine: Step (Ev set), Tick, or Ready (Read).
type Call struct {
	Now  core.Time
	Ev   core.Event
	Read bool
}

// Replay makes the same calls on a fresh machine seeded with seed and
// returns its transcript, which must equal the original: the core is
// deterministic.
func Replay(seed uint64, calls []Call) string {
	m := core.NewSeeded(seed)
	var lines []string
	for _, c := range calls {
		switch {
		case c.Read:
			for _, e := range m.Ready().Effects {
				lines = append(lines, fmt.Sprintf("%v < %v", c.Now, e))
			}
		case c.Ev != nil:
			lines = append(lines, fmt.Sprintf("%v > %v", c.Now, c.Ev))
			m.Step(c.Now, c.Ev)
		default:
			m.Tick(c.Now)
		}
	}
	return strings.Join(lines, "\n")
}

// Journal is every call made on the machine so far, for Replay.
func (w *World) Journal() []Call { return w.journal }

// Seed is the core's seed, for Replay.
func (w *World) Seed() uint64 { return w.seed }

// NewWorld returns a world at +0s with no config loaded; its config file
// is "pmtr.conf" and dependencies resolve from "/".
func NewWorld(scripts map[string]*Script) *World {
	return NewWorldWith(scripts, driver.Options{ConfigPath: "pmtr.conf", Cwd: "/"})
}

// NewWorldWith returns a world whose driver has the options o (its hooks are
// the world's).
func NewWorldWith(scripts map[string]*Script, o driver.Options) *World {
	w := &World{B: NewBackend(scripts), seed: o.Seed}
	o.Hooks = driver.Hooks{OnEvent: w.onEvent, OnTick: w.onTick, OnEffect: w.onEffect, OnReady: w.onReady}
	w.opts = o
	w.D = driver.New(w.B, o)
	w.M = w.D.Machine()
	return w
}

func (w *World) onEvent(now core.Time, ev core.Event) {
	w.Now = now
	if w.OnEvent != nil {
		w.OnEvent(now, ev)
	}
	w.lines = append(w.lines, fmt.Sprintf("%v > %v", now, ev))
	w.journal = append(w.journal, Call{Now: now, Ev: ev})
}

func (w *World) onTick(now core.Time) {
	w.Now = now
	w.journal = append(w.journal, Call{Now: now})
}

func (w *World) onEffect(now core.Time, e core.Effect) {
	w.lines = append(w.lines, fmt.Sprintf("%v < %v", now, e))
	if w.OnEffect != nil {
		w.OnEffect(now, e)
	}
}

func (w *World) onReady(now core.Time, rd core.Ready) {
	w.journal = append(w.journal, Call{Now: now, Read: true})
	if w.OnReady != nil {
		w.OnReady(now, rd)
	}
}

// Upgrade does what pmtr upgrade does to the driver: its state goes,
// through the bytes the live backend hands the new binary (handover), to
// a new driver on the same world, which carries on from there.
func (w *World) Upgrade() error {
	reply := make(chan driver.HandoverAnswer, 1)
	w.D.Handle(driver.Handover{Reply: reply})
	a := <-reply
	if a.Err != nil {
		return fmt.Errorf("sim: %w", a.Err)
	}
	b, err := handover.Encode(handover.State{From: "sim", Driver: a.State})
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	s, err := handover.Decode(b)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	d, err := driver.Restore(w.B, w.opts, s.Driver)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	w.D, w.M = d, d.Machine()
	w.RunUntil(w.Now)
	return nil
}

// Start loads the driver's initial config and runs until quiet.
func (w *World) Start() {
	w.D.Start()
	w.RunUntil(w.Now)
}

// Load delivers a parsed config with the given dependency states.
func (w *World) Load(cfg *confgrammar.Config, deps ...core.DepState) {
	w.gen++
	w.Step(core.ConfigLoaded{Gen: w.gen, Config: cfg, Deps: deps})
}

// LoadText parses src and loads it; a parse error is returned, not loaded.
func (w *World) LoadText(src string, deps ...core.DepState) error {
	cfg, err := confgrammar.Parse("sim.conf", []byte(src))
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	w.Load(cfg, deps...)
	return nil
}

// Step feeds one event now and handles everything that follows at once.
func (w *World) Step(ev core.Event) { w.Input(driver.Event{At: w.B.Now(), Ev: ev}) }

// Input hands the driver one input now and runs until quiet.
func (w *World) Input(in driver.Input) {
	w.B.Inject(in)
	w.RunUntil(w.Now)
}

// RunUntil moves time forward to t, delivering every answer, exit and
// deadline on the way in time order, and stops early once shutdown has
// completed.
func (w *World) RunUntil(t core.Time) {
	w.B.limit = max(t, w.B.now)
	w.D.Run()
	w.Now = w.B.Now()
}

// Done reports whether shutdown has completed.
func (w *World) Done() bool { return w.D.Done() }

// Transcript is every event (">") and effect ("<") so far, one per line.
func (w *World) Transcript() string { return strings.Join(w.lines, "\n") }

// Lines returns the transcript lines so far.
func (w *World) Lines() []string { return w.lines }

// Logs returns the texts of the log effects so far, each prefixed with its time.
func (w *World) Logs() []string {
	var out []string
	for _, l := range w.lines {
		if i := strings.Index(l, " < log "); i >= 0 {
			text := l[i+len(" < log "):]
			text = text[strings.Index(text, ": ")+2:]
			out = append(out, l[:i]+" "+text)
		}
	}
	return out
}
