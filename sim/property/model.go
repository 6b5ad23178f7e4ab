package property

import (
	"fmt"
	"reflect"

	"pgregory.net/rapid"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/sim"
)

// Model drives a sim.World and checks, after every action, the invariants
// the manual and the compatibility policy promise.
type Model struct {
	w      *sim.World
	gen    uint64
	deps   map[string]core.DepState
	depRev int

	specs     map[string]confgrammar.Job // the current config
	enabled   map[string]bool
	stopped   map[string]bool // by control (disable): kept across reloads until an enable or restart
	done      map[string]bool
	notBefore map[string]core.Time // quick-exit rule: earliest legal spawn
	pidJob    map[int]string       // live pid -> job name
	pidCur    map[int]bool         // the pid belongs to a job still in the config
	pidStart  map[int]core.Time
	termAt    map[int]core.Time
	killed    map[int]bool
	grace     map[int]core.Time          // stop timeout of the stop under way, by pid
	lastSpec  map[string]confgrammar.Job // the last definition of each name, removed ones too
	counts    map[string]*counts         // restart policy (policy.go)
	check     []string                   // jobs whose counts to check once the core has seen their exit
	exitCode  int                        // what pmtr must exit with (a critical job's code)
	shutdown  bool
	finished  bool
	failure   string // the first broken rule seen inside a hook
}

// New builds a model inside rapid.Check (never outside: state must not leak
// between checks).
func New(t *rapid.T) *Model {
	s := &Model{
		deps: map[string]core.DepState{}, specs: map[string]confgrammar.Job{},
		enabled: map[string]bool{}, stopped: map[string]bool{}, done: map[string]bool{}, notBefore: map[string]core.Time{},
		pidJob: map[int]string{}, pidCur: map[int]bool{}, pidStart: map[int]core.Time{},
		termAt: map[int]core.Time{}, killed: map[int]bool{}, grace: map[int]core.Time{},
		lastSpec: map[string]confgrammar.Job{}, counts: map[string]*counts{},
	}
	for _, n := range jobNames {
		s.counts[n] = &counts{}
	}
	scripts := map[string]*sim.Script{}
	for _, n := range jobNames {
		scripts[n] = genScript(t, n)
	}
	for _, p := range depPaths {
		s.deps[p] = core.DepState{Path: p, Hash: "h0", Missing: rapid.IntRange(0, 4).Draw(t, "missing"+p) == 0}
	}
	s.w = sim.NewWorld(scripts)
	s.w.OnEvent = func(_ core.Time, ev core.Event) { s.observe(ev) }
	s.w.OnEffect = func(_ core.Time, e core.Effect) { s.checkEffect(e) }
	s.w.OnReady = func(now core.Time, rd core.Ready) { s.checkReady(now, rd) }
	s.load(t, genConfig(t))
	return s
}

// Transcript is every event and effect so far, one per line.
func (s *Model) Transcript() string { return s.w.Transcript() }

func (s *Model) now() core.Time { return s.w.Now }

func (s *Model) load(t *rapid.T, cfg *confgrammar.Config) {
	s.gen++
	next := map[string]confgrammar.Job{}
	for _, j := range cfg.Jobs {
		next[j.Name] = j
		old, had := s.specs[j.Name]
		s.enabled[j.Name] = !j.Disabled && !s.stopped[j.Name]
		if !had || edited(old, j) {
			s.clearCounts(j.Name)
			s.done[j.Name] = false
			s.notBefore[j.Name] = s.now()
		}
		s.lastSpec[j.Name] = j
	}
	for name := range s.stopped {
		if _, keep := next[name]; !keep {
			delete(s.stopped, name) // a removed job is forgotten; added again, the config decides
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
	a.File, b.File, a.Origins, b.Origins = "", "", nil, nil // where it is written, not what it is
	return !reflect.DeepEqual(a, b)
}

// step feeds one event and then everything it leads to.
func (s *Model) step(t *rapid.T, ev core.Event) {
	s.w.Step(ev)
	s.fail(t)
}

// fail stops the test with the first rule a hook saw broken.
func (s *Model) fail(t *rapid.T) {
	if s.failure != "" {
		t.Fatalf("%s\n%s", s.failure, s.Transcript())
	}
}

func (s *Model) failf(format string, args ...any) {
	if s.failure == "" {
		s.failure = fmt.Sprintf("%v: ", s.now()) + fmt.Sprintf(format, args...)
	}
}

func (s *Model) checkReady(now core.Time, rd core.Ready) {
	if rd.Deadline != core.Never && rd.Deadline <= now {
		s.failf("deadline %v is not after now", rd.Deadline)
	}
	s.checkCounts()
	if rd.Done && !s.finished {
		s.finished = true
		if code, _ := s.w.M.ExitCode(); code != s.exitCode {
			s.failf("pmtr exits %d, the rules say %d", code, s.exitCode)
		}
		if live := s.w.B.Live(); len(live) > 0 {
			s.failf("shutdown done with live processes %v", live)
		}
	}
}

// World is the simulated world the model drives (for tests that look at
// its machine, such as the snapshot property).
func (s *Model) World() *sim.World { return s.w }
