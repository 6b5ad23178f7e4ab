package core

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"pmtr/confgrammar"
)

// Change is what loading a config would do to one job right away.
type Change struct {
	Job    string // the job's name
	Action string // start, restart, stop, update, hold
	Why    string // "env, nice changed", "disabled", ...
	// Fields are the fields that differ from the job's definition in force,
	// with their old and new values as pmtr.conf writes them.
	Fields []FieldDiff
}

func (c Change) String() string {
	if c.Why == "" {
		return c.Action + " " + c.Job
	}
	return fmt.Sprintf("%s %s (%s)", c.Action, c.Job, c.Why)
}

// Plan is what loading a config would do now.
type Plan struct {
	Changes   []Change
	Untouched int      // jobs the load leaves alone
	Effects   []Effect // exactly what the machine would emit at once
}

// Plan tells what loading cfg (with its dependencies' states) at now would
// do at once, by loading it into a copy of the machine: the plan is the
// core's own decision, not a second implementation of it.
func (m *Machine) Plan(now Time, cfg *confgrammar.Config, deps []DepState) Plan {
	c := m.clone()
	c.Step(now, ConfigLoaded{Config: cfg, Deps: deps})
	p := Plan{Effects: c.Ready().Effects}
	acted := map[string]string{} // job name -> first action
	for _, e := range p.Effects {
		switch e := e.(type) {
		case Spawn:
			if acted[e.Job] == "" {
				acted[e.Job] = "start"
			}
		case Kill, Cancel:
			acted[effectJob(e)] = "stop"
		}
	}
	old := map[string]*job{}
	for _, j := range m.jobs {
		if !j.deleted {
			old[j.spec.Name] = j
		}
	}
	kept := map[string]bool{}
	for i := range cfg.Jobs {
		spec := &cfg.Jobs[i]
		kept[spec.Name] = true
		after := c.byName[spec.Name]
		p.add(planFor(old[spec.Name], spec, acted[spec.Name], after, c.state(after)))
	}
	for _, j := range m.jobs {
		switch {
		case j.deleted || kept[j.spec.Name]:
		case acted[j.spec.Name] == "stop":
			p.Changes = append(p.Changes, Change{Job: j.spec.Name, Action: "stop", Why: "removed from the config"})
		default:
			p.Changes = append(p.Changes, Change{Job: j.spec.Name, Action: "remove", Why: "not running"})
		}
	}
	return p
}

func (p *Plan) add(c Change) {
	if c.Action == "" {
		p.Untouched++
		return
	}
	p.Changes = append(p.Changes, c)
}

func effectJob(e Effect) string {
	switch e := e.(type) {
	case Kill:
		return e.Job
	case Cancel:
		return e.Job
	}
	return ""
}

// planFor words what happens to one job of the new config: before is its
// job now (nil: new), acted the first thing the copy did to it, after and
// state the job in the copy.
func planFor(before *job, spec *confgrammar.Job, acted string, after *job, state State) Change {
	c := Change{Job: spec.Name}
	var names []string
	if before != nil {
		c.Fields = diffFields(&before.spec, spec)
	}
	for _, f := range c.Fields {
		names = append(names, f.Field)
	}
	why := strings.Join(names, ", ")
	if why != "" {
		why += " changed"
	}
	switch {
	case before == nil && acted == "start":
		c.Action = "start"
	case before == nil:
		c.Action, c.Why = "add", "not started now: "+string(state)
	case acted == "stop" && !after.enabled():
		c.Action, c.Why = "stop", "disabled"
	case acted == "stop":
		c.Action, c.Why = "restart", why
	case acted == "start":
		c.Action, c.Why = "start", cmpOr(why, "enabled")
	case len(c.Fields) > 0 && after.stoppedByControl():
		c.Action, c.Why = "update", why+"; it stays stopped (pmtr stop) until pmtr start"
	case len(c.Fields) > 0:
		c.Action, c.Why = "update", why+"; no restart needed now"
	}
	return c
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// clone is a deep copy of the machine (specs are shared: they are never
// modified in place).
func (m *Machine) clone() *Machine {
	c := *m
	copies := map[*job]*job{}
	cp := func(j *job) *job {
		if j == nil {
			return nil
		}
		if k, ok := copies[j]; ok {
			return k
		}
		k := *j
		k.history = slices.Clone(j.history) // jlogf shifts it in place
		k.failTimes = slices.Clone(j.failTimes)
		copies[j] = &k
		return &k
	}
	c.jobs = make([]*job, len(m.jobs))
	for i, j := range m.jobs {
		c.jobs[i] = cp(j)
	}
	c.byName = remap(m.byName, cp)
	c.byPID = remap(m.byPID, cp)
	c.afterOf = make(map[string][]*job, len(m.afterOf))
	for name, js := range m.afterOf {
		for _, j := range js {
			c.afterOf[name] = append(c.afterOf[name], cp(j))
		}
	}
	c.spawning = remap(m.spawning, cp)
	c.deps = maps.Clone(m.deps)
	c.wakes = make(wakeHeap, len(m.wakes))
	for i, w := range m.wakes {
		c.wakes[i] = wake{at: w.at, seq: w.seq, job: cp(w.job)}
	}
	c.netLimits = make(map[string]*netLimit, len(m.netLimits))
	for k, v := range m.netLimits {
		nl := *v
		c.netLimits[k] = &nl
	}
	c.effects = nil
	return &c
}

func remap[K comparable](in map[K]*job, cp func(*job) *job) map[K]*job {
	out := make(map[K]*job, len(in))
	for k, j := range in {
		out[k] = cp(j)
	}
	return out
}
