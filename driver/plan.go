package driver

import (
	"fmt"
	"strings"

	"pmtr/confgrammar"
	"pmtr/core"
)

// PlanQuery asks what saving Source as the config file would do now, to
// the configuration in force; the driver answers on Reply, which must have
// room for it.
type PlanQuery struct {
	Source []byte
	Reply  chan<- PlanAnswer
}

func (PlanQuery) isInput() {}

func (q PlanQuery) String() string { return fmt.Sprintf("plan query (%d bytes)", len(q.Source)) }

// PlanAnswer is the core's plan for a config, or why it would be rejected.
type PlanAnswer struct {
	Errors []string // the new file would be rejected: the config in force stays
	Plan   core.Plan
}

// Text words the answer, one line per change, as pmtr plan prints it.
func (a PlanAnswer) Text() string {
	var b strings.Builder
	if len(a.Errors) > 0 {
		for _, e := range a.Errors {
			b.WriteString(e + "\n")
		}
		b.WriteString("rejected: the config in force would stay\n")
		return b.String()
	}
	for _, c := range a.Plan.Changes {
		b.WriteString(c.String() + "\n")
	}
	fmt.Fprintf(&b, "untouched: %d %s\n", a.Plan.Untouched, map[bool]string{true: "job", false: "jobs"}[a.Plan.Untouched == 1])
	return b.String()
}

// plan answers a PlanQuery from the core's own diff. Dependencies not read
// yet count as present and unchanged.
func (d *Driver) plan(src []byte) PlanAnswer {
	cfg, err := confgrammar.Parse(d.o.ConfigPath, src)
	if err != nil {
		return PlanAnswer{Errors: confgrammar.Messages(err)}
	}
	return PlanAnswer{Plan: PlanFor(d.m, max(d.now, d.b.Now()), cfg, d.o.Cwd, d.deps)}
}

// PlanFor resolves cfg's dependencies as a load does and asks m for its
// plan; known gives the dependency states already seen.
func PlanFor(m *core.Machine, now core.Time, cfg *confgrammar.Config, cwd string, known map[string]core.DepState) core.Plan {
	var states []core.DepState
	for i := range cfg.Jobs {
		cfg.Jobs[i].Depends = cfg.Jobs[i].DependPaths(cwd)
		for _, p := range cfg.Jobs[i].Depends {
			st, ok := known[p]
			if !ok {
				st = core.DepState{Path: p}
			}
			states = append(states, st)
		}
	}
	return m.Plan(now, cfg, states)
}
