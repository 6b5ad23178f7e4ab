package sim

import (
	"fmt"
	"strings"

	"pmtr/confgrammar"
	"pmtr/core"
)

// World is a core.Machine wired to a simulated Backend in virtual time: the
// same loop the live driver runs, with time jumping from one deadline or
// scripted exit to the next.
type World struct {
	M   *core.Machine
	B   *Backend
	Now core.Time

	// OnEvent and OnEffect, when set, see every event before the machine
	// does and every effect as it is emitted (property tests check rules there).
	OnEvent  func(now core.Time, ev core.Event)
	OnEffect func(now core.Time, e core.Effect)
	// OnReady, when set, sees every Ready (its effects already reported).
	OnReady func(now core.Time, rd core.Ready)

	lines   []string
	journal []Call
	gen     uint64
	done    bool
}

// Call is one call made on the machine: Step (Ev set), Tick, or Ready (Read).
type Call struct {
	Now  core.Time
	Ev   core.Event
	Read bool
}

// Replay makes the same calls on a fresh machine and returns its transcript,
// which must equal the original: the core is deterministic.
func Replay(calls []Call) string {
	m := core.New()
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

func (w *World) ready() core.Ready {
	w.journal = append(w.journal, Call{Now: w.Now, Read: true})
	return w.M.Ready()
}

// NewWorld returns a world at +0s with no config loaded.
func NewWorld(scripts map[string]*Script) *World {
	return &World{M: core.New(), B: NewBackend(scripts)}
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

// Step feeds one event now and everything the backend answers at once.
func (w *World) Step(ev core.Event) {
	w.feed(ev)
	w.Pump()
}

func (w *World) feed(ev core.Event) {
	if w.OnEvent != nil {
		w.OnEvent(w.Now, ev)
	}
	w.lines = append(w.lines, fmt.Sprintf("%v > %v", w.Now, ev))
	w.journal = append(w.journal, Call{Now: w.Now, Ev: ev})
	w.M.Step(w.Now, ev)
}

// Tick tells the machine the time now.
func (w *World) Tick() {
	w.journal = append(w.journal, Call{Now: w.Now})
	w.M.Tick(w.Now)
	w.Pump()
}

// Pump drains Ready, hands effects to the backend and feeds back its
// immediate answers until the machine is quiet. It returns the deadline.
func (w *World) Pump() core.Time {
	for {
		rd := w.ready()
		for _, e := range rd.Effects {
			w.lines = append(w.lines, fmt.Sprintf("%v < %v", w.Now, e))
			if w.OnEffect != nil {
				w.OnEffect(w.Now, e)
			}
		}
		if w.OnReady != nil {
			w.OnReady(w.Now, rd)
		}
		w.done = w.done || rd.Done
		answers := append(w.B.Apply(w.Now, rd.Effects), w.B.Due(w.Now)...)
		if len(answers) == 0 {
			return rd.Deadline
		}
		for _, ev := range answers {
			w.feed(ev)
		}
	}
}

// next is the earliest of the machine's deadline and the backend's next exit.
func (w *World) next() (core.Time, bool) {
	rd := w.ready() // Pump has left no effects behind
	if len(rd.Effects) > 0 {
		panic(fmt.Sprintf("sim: effects left behind: %v", rd.Effects))
	}
	at, ok := w.B.Next()
	if rd.Deadline != core.Never && (!ok || rd.Deadline < at) {
		return rd.Deadline, true
	}
	return at, ok
}

// RunUntil moves time forward to t, delivering every exit and deadline on
// the way in time order, and stops early once shutdown has completed.
func (w *World) RunUntil(t core.Time) {
	for !w.done {
		at, ok := w.next()
		if !ok || at > t {
			break
		}
		w.Now = max(at, w.Now)
		for _, ev := range w.B.Due(w.Now) {
			w.Step(ev)
		}
		w.Tick()
	}
	if t > w.Now {
		w.Now = t
		w.Tick()
	}
}

// Done reports whether shutdown has completed.
func (w *World) Done() bool { return w.done }

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
