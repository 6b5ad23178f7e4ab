package property

import (
	"fmt"
	"reflect"
	"strings"

	"pgregory.net/rapid"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/sim"
)

// op is one call made on the machine, kept so the run can be replayed.
type op struct {
	now  core.Time
	ev   core.Event // nil: a Tick
	read bool       // a Ready call
}

// Model drives a core.Machine over a sim.Backend and checks, after every
// action, the invariants the manual and the compatibility policy promise.
type Model struct {
	m   *core.Machine
	be  *sim.Backend
	now core.Time
	gen uint64

	deps   map[string]core.DepState
	depRev int
	ops    []op
	lines  []string

	specs     map[string]confgrammar.Job // the current config
	enabled   map[string]bool
	done      map[string]bool
	notBefore map[string]core.Time // quick-exit rule: earliest legal spawn
	pidJob    map[int]string       // live pid -> job name
	pidCur    map[int]bool         // the pid belongs to a job still in the config
	pidStart  map[int]core.Time
	termAt    map[int]core.Time
	killed    map[int]bool
	shutdown  bool
	finished  bool
}

// New builds a model inside rapid.Check (never outside: state must not leak
// between checks).
func New(t *rapid.T) *Model {
	s := &Model{
		deps: map[string]core.DepState{}, specs: map[string]confgrammar.Job{},
		enabled: map[string]bool{}, done: map[string]bool{}, notBefore: map[string]core.Time{},
		pidJob: map[int]string{}, pidCur: map[int]bool{}, pidStart: map[int]core.Time{},
		termAt: map[int]core.Time{}, killed: map[int]bool{},
	}
	scripts := map[string]*sim.Script{}
	for _, n := range jobNames {
		scripts[n] = genScript(t, n)
	}
	for _, p := range depPaths {
		s.deps[p] = core.DepState{Path: p, Hash: "h0", Missing: rapid.IntRange(0, 4).Draw(t, "missing"+p) == 0}
	}
	s.m, s.be = core.New(), sim.NewBackend(scripts)
	s.load(t, genConfig(t))
	return s
}

// Transcript is every event and effect so far, one per line.
func (s *Model) Transcript() string { return strings.Join(s.lines, "\n") }

func (s *Model) load(t *rapid.T, cfg *confgrammar.Config) {
	s.gen++
	next := map[string]confgrammar.Job{}
	for _, j := range cfg.Jobs {
		next[j.Name] = j
		old, had := s.specs[j.Name]
		s.enabled[j.Name] = !j.Disabled
		if !had || edited(old, j) {
			s.done[j.Name] = false
			s.notBefore[j.Name] = s.now
		}
	}
	for pid, name := range s.pidJob {
		if _, keep := next[name]; !keep {
			s.pidCur[pid] = false
		}
	}
	s.specs = next
	var deps []core.DepState
	for _, p := range depPaths {
		deps = append(deps, s.deps[p])
	}
	s.step(t, core.ConfigLoaded{Gen: s.gen, Config: cfg, Deps: deps})
}

// edited: a change other than disable/enable, which makes the job run again.
func edited(a, b confgrammar.Job) bool {
	a.Pos, b.Pos, a.Disabled, b.Disabled = confgrammar.Pos{}, confgrammar.Pos{}, false, false
	return !reflect.DeepEqual(a, b)
}

// step feeds one event and then everything it leads to.
func (s *Model) step(t *rapid.T, ev core.Event) {
	s.observe(t, ev)
	s.ops = append(s.ops, op{now: s.now, ev: ev})
	s.lines = append(s.lines, fmt.Sprintf("%v > %v", s.now, ev))
	s.m.Step(s.now, ev)
	s.pump(t)
}

func (s *Model) tick(t *rapid.T) {
	s.ops = append(s.ops, op{now: s.now})
	s.m.Tick(s.now)
	s.pump(t)
}

// pump drains Ready, checks each effect, and feeds back the backend's
// immediate answers until the machine is quiet.
func (s *Model) pump(t *rapid.T) {
	for {
		s.ops = append(s.ops, op{now: s.now, read: true})
		rd := s.m.Ready()
		if rd.Deadline != core.Never && rd.Deadline <= s.now {
			t.Fatalf("deadline %v is not after now %v", rd.Deadline, s.now)
		}
		for _, e := range rd.Effects {
			s.lines = append(s.lines, fmt.Sprintf("%v < %v", s.now, e))
			s.checkEffect(t, e)
		}
		if rd.Done && !s.finished {
			s.finished = true
			if live := s.be.Live(); len(live) > 0 {
				t.Fatalf("shutdown done with live processes %v", live)
			}
		}
		answers := s.be.Apply(s.now, rd.Effects)
		if len(answers) == 0 {
			return
		}
		for _, ev := range answers {
			s.observe(t, ev)
			s.ops = append(s.ops, op{now: s.now, ev: ev})
			s.lines = append(s.lines, fmt.Sprintf("%v > %v", s.now, ev))
			s.m.Step(s.now, ev)
		}
	}
}
