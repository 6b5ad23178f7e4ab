package property

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"pgregory.net/rapid"

	"pmtr/core"
)

// Advance moves virtual time forward, delivering every exit and deadline on
// the way in time order.
func (s *Model) Advance(t *rapid.T) {
	ms := rapid.IntRange(0, 25000).Draw(t, "ms")
	s.w.RunUntil(s.now() + core.Time(time.Duration(ms)*time.Millisecond))
	s.fail(t)
}

// Crash ends a random live process with a random status or signal.
func (s *Model) Crash(t *rapid.T) {
	live := s.w.B.Live()
	if len(live) == 0 { // no skip: a fuzz input that draws only this must still run (rapid fails when every draw is skipped)
		s.Advance(t)
		return
	}
	pid := rapid.SampledFrom(live).Draw(t, "pid")
	status := rapid.SampledFrom([]int{0, 1, 33, 255}).Draw(t, "status")
	signal := rapid.SampledFrom([]int{0, 0, 9, 11}).Draw(t, "signal")
	s.w.B.Crash(pid, status, signal)
	s.w.RunUntil(s.now())
	s.fail(t)
}

// FailSpawn makes the next spawn fail as exec would: with no process
// (direct start) or in a process that then exits 255 (helper start).
func (s *Model) FailSpawn(t *rapid.T) {
	errno := rapid.SampledFrom([]string{"ENOENT", "EACCES"}).Draw(t, "errno")
	if rapid.Bool().Draw(t, "after fork") {
		s.w.B.FailNextExec(errno)
		return
	}
	s.w.B.FailNextSpawn(errno)
}

// Reload delivers a new random config.
func (s *Model) Reload(t *rapid.T) {
	if s.shutdown {
		s.Advance(t)
		return
	}
	s.load(t, genConfig(t))
}

// Control sends enable, disable or restart for one or two names.
func (s *Model) Control(t *rapid.T) {
	verb := rapid.SampledFrom([]core.Verb{core.Enable, core.Disable, core.Restart}).Draw(t, "verb")
	names := rapid.SliceOfN(rapid.SampledFrom(append(jobNames, "zz")), 1, 2).Draw(t, "names")
	s.step(t, core.Control{Verb: verb, Names: names, From: "test"})
}

// Dep changes, removes or restores a dependency file.
func (s *Model) Dep(t *rapid.T) {
	p := rapid.SampledFrom(depPaths).Draw(t, "path")
	st := core.DepState{Path: p}
	switch rapid.SampledFrom([]string{"change", "remove", "same"}).Draw(t, "how") {
	case "change":
		s.depRev++
		st.Hash = fmt.Sprintf("h%d", s.depRev)
	case "remove":
		st.Missing = true
	case "same":
		st = s.deps[p]
	}
	s.step(t, core.DepChanged(st))
}

// Shutdown asks for an orderly stop.
func (s *Model) Shutdown(t *rapid.T) {
	if rapid.IntRange(0, 3).Draw(t, "really") != 0 { // drawn rarely
		s.Advance(t)
		return
	}
	s.step(t, core.Shutdown{Signal: 15})
}

// PlanThenReload asks the machine what a random new config would do, then
// loads it: what the machine then does at once must be exactly the plan.
func (s *Model) PlanThenReload(t *rapid.T) {
	if s.shutdown {
		s.Advance(t)
		return
	}
	cfg := genConfig(t)
	var deps []core.DepState
	for _, p := range depPaths {
		deps = append(deps, s.deps[p])
	}
	plan := s.w.M.Plan(s.now(), cfg, deps)
	from := len(s.w.Lines())
	s.load(t, cfg)
	var got []string
	for i, l := range s.w.Lines()[from:] {
		_, rest, _ := strings.Cut(l, " ")
		if i > 0 && strings.HasPrefix(rest, "> ") {
			break // the load's own effects end at the next event
		}
		if strings.HasPrefix(rest, "< ") {
			got = append(got, rest[2:])
		}
	}
	want := make([]string, len(plan.Effects))
	for i, e := range plan.Effects {
		want[i] = e.String()
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the plan said\n  %s\nthe load did\n  %s\n%s", strings.Join(want, "\n  "), strings.Join(got, "\n  "), s.Transcript())
	}
}
