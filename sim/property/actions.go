package property

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"pgregory.net/rapid"

	"pmtr/confgrammar"
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
	before, running := s.specs, map[string]bool{}
	for _, st := range s.w.M.Status() {
		running[st.Name] = st.State == core.Running
	}
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
	for _, spec := range cfg.Jobs {
		old, had := before[spec.Name]
		if why := checkChange(plan, spec, old, had, running[spec.Name]); why != "" {
			t.Fatalf("%s: %s\n%s", spec.Name, why, s.Transcript())
		}
	}
}

// checkChange holds the plan's words for one job of the new config to the
// effects of the load (which the plan's effects equal) and to core.JobFields:
// a running job that stays enabled restarts exactly when a field that goes
// into its process changed, or when a changed bounce interval is due at
// once. It says what is wrong, or "".
func checkChange(plan core.Plan, spec, old confgrammar.Job, had, running bool) string {
	c := core.Change{Job: spec.Name} // untouched, unless the plan names it
	for _, pc := range plan.Changes {
		if pc.Job == spec.Name {
			c = pc
		}
	}
	stopped, spawned, bounced := false, false, false
	for _, e := range plan.Effects {
		switch e := e.(type) {
		case core.Kill:
			stopped = stopped || e.Job == spec.Name
		case core.Cancel:
			stopped = stopped || e.Job == spec.Name
		case core.Spawn:
			spawned = spawned || e.Job == spec.Name
		case core.Log: // a new bounce interval can be due at once
			bounced = bounced || strings.HasPrefix(e.Text, "bouncing job "+spec.Name+" [")
		}
	}
	restarts, named := false, map[string]bool{}
	for _, f := range c.Fields {
		named[f.Field] = true
	}
	for _, f := range core.JobFields {
		restarts = restarts || had && f.Effect == core.RestartsJob && !f.Same(&old, &spec)
	}
	switch {
	case c.Action == "restart" && !(stopped && (restarts || bounced)):
		return fmt.Sprintf("plan says %q, but the load stopped it: %v, a field that restarts changed: %v, bounced: %v", c, stopped, restarts, bounced)
	case c.Action == "stop" && !stopped, c.Action == "start" && !spawned:
		return fmt.Sprintf("plan says %q, but the load did not", c)
	case (c.Action == "" || c.Action == "update" || c.Action == "add") && (stopped || spawned):
		return fmt.Sprintf("plan says %q, but the load stopped (%v) or started (%v) it", c, stopped, spawned)
	case running && !spec.Disabled && !bounced && restarts != (c.Action == "restart"):
		return fmt.Sprintf("it was running and a field that restarts changed: %v, but plan says %q", restarts, c)
	case had && edited(old, spec) != (len(named) > 0 && !(len(named) == 1 && named["disable"])):
		return fmt.Sprintf("edited %v, but plan names %v changed", edited(old, spec), c.Fields)
	case had && (old.Disabled != spec.Disabled) != named["disable"]:
		return fmt.Sprintf("disable went %v -> %v, but plan names %v changed", old.Disabled, spec.Disabled, c.Fields)
	}
	return ""
}
