// Package core is pmtr's job lifecycle and config-diff rules as a pure,
// deterministic state machine. It decides every start, stop, restart and
// report, and performs none of them.
//
// The driver (live or sim) owns the machine and runs this loop on one
// goroutine:
//
//	m := core.New()
//	m.Step(now, core.ConfigLoaded{...})
//	for {
//		rd := m.Ready()          // effects to perform, next deadline
//		for _, e := range rd.Effects { perform(e) } // results come back as events
//		if rd.Done { return }
//		wait for an event or until rd.Deadline
//		m.Step(now, ev) or m.Tick(now)
//	}
//
// Time is a monotonic offset passed in by the caller; the package owns no
// goroutine, clock, I/O or random source, and emits effects in job order,
// never in map order. Every Event and Effect prints as one stable line, so a
// run is a readable transcript.
package core
