package property

import (
	"fmt"
	"pmtr/sim"
	"slices"
	"time"

	"pgregory.net/rapid"

	"pmtr/core"
)

// observe updates the model from an event before the machine sees it.
func (s *Model) observe(ev core.Event) {
	switch e := ev.(type) {
	case core.Spawned:
		s.pidJob[e.PID], s.pidCur[e.PID], s.pidStart[e.PID] = e.Job, true, s.now()
	case core.SpawnFailed:
		s.exited(e.Job, true, 255, 0, 0, false)
	case core.Exited:
		name, ok := s.pidJob[e.PID]
		if !ok {
			return // an orphan
		}
		_, termed := s.termAt[e.PID]
		s.exited(name, s.pidCur[e.PID], e.Status, e.Signal, s.now()-s.pidStart[e.PID], termed || s.killed[e.PID])
		for _, m := range []map[int]core.Time{s.pidStart, s.termAt, s.grace} {
			delete(m, e.PID)
		}
		delete(s.pidJob, e.PID)
		delete(s.pidCur, e.PID)
		delete(s.killed, e.PID)
	case core.Control:
		s.control(e)
	case core.DepChanged:
		s.deps[e.Path] = core.DepState(e)
	case core.Shutdown:
		s.shutdown = true
	}
}

// exited applies the restart rules of the manual to the model.
func (s *Model) exited(name string, current bool, status, signal int, lived core.Time, byPmtr bool) {
	now := s.now()
	spec, ok := s.specs[name]
	if !current || !ok {
		return
	}
	if !byPmtr {
		s.ownExit(name, spec, status, signal, lived)
		return
	}
	s.notBefore[name] = now
	if lived >= stableOf(spec) {
		*s.counts[name] = counts{}
	}
}

func (s *Model) control(e core.Control) {
	now := s.now()
	for _, n := range e.Names {
		if _, ok := s.specs[n]; !ok {
			continue
		}
		switch e.Verb {
		case "enable":
			s.clearCounts(n) // pmtr start: fresh counts, and no wait for backoff or give-up
			s.stopped[n] = false
			if !s.enabled[n] {
				s.enabled[n] = true
				s.notBefore[n] = min(s.notBefore[n], now)
			}
		case "disable":
			s.enabled[n], s.stopped[n] = false, true
		case "restart":
			if s.stopped[n] { // a restart of a job stopped by control starts it
				s.stopped[n], s.enabled[n] = false, true
				s.notBefore[n] = min(s.notBefore[n], now)
			}
			if s.enabled[n] {
				s.clearCounts(n)
				s.done[n] = false
				s.notBefore[n] = min(s.notBefore[n], now)
			}
		}
	}
}

// checkEffect holds every effect to the rules as it is emitted.
func (s *Model) checkEffect(e core.Effect) {
	now := s.now()
	switch e := e.(type) {
	case core.Spawn:
		if why := s.forbidden(e.Job); why != "" {
			s.failf("spawn of %s, which %s", e.Job, why)
		}
		if c := s.counts[e.Job]; c != nil && c.gaveUp { // the retry after giving up: fresh counts
			*c = counts{}
		}
	case core.Kill:
		s.checkKill(e, now)
	}
}

// checkKill: the first signal of a stop is the job's stop signal; SIGKILL
// follows exactly its stop timeout later (none when it was SIGKILL).
func (s *Model) checkKill(e core.Kill, now core.Time) {
	name, live := s.pidJob[e.PID]
	if !live {
		s.failf("kill of pid %d, which is not live", e.PID)
		return
	}
	spec := s.lastSpec[name]
	at, stopping := s.termAt[e.PID]
	switch {
	case !stopping && e.Signal != stopSignalOf(spec):
		s.failf("job %s stopped with signal %d, its stop signal is %d", name, e.Signal, stopSignalOf(spec))
	case !stopping:
		s.termAt[e.PID], s.grace[e.PID] = now, stopTimeoutOf(spec)
		s.killed[e.PID] = e.Signal == core.SIGKILL
	case e.Signal != core.SIGKILL:
		s.failf("second stop signal %d to %d", e.Signal, e.PID)
	case s.killed[e.PID] || now != at+s.grace[e.PID]:
		s.failf("SIGKILL to %d not exactly %v after its stop signal (sent at %v, killed before %v)", e.PID, time.Duration(s.grace[e.PID]), at, s.killed[e.PID])
	default:
		s.killed[e.PID] = true
	}
}

// forbidden says why job may not be spawned now, or "".
func (s *Model) forbidden(name string) string {
	now := s.now()
	spec, ok := s.specs[name]
	switch {
	case !ok:
		return "was removed from the config"
	case s.shutdown:
		return "was spawned after shutdown began"
	case !s.enabled[name]:
		return "is disabled"
	case s.done[name]:
		return "finished for good (once or exit 33)"
	case s.counts[name].gaveUp && spec.GiveUp.Retry == 0:
		return "gave up and retries never (state failed)"
	case now < s.notBefore[name]:
		return fmt.Sprintf("may not restart before %v (quick-exit rule, backoff or give-up)", s.notBefore[name])
	}
	for _, d := range spec.Depends {
		if s.deps[d].Missing {
			return "has a missing dependency " + d
		}
	}
	for pid, n := range s.pidJob {
		if n == name && s.pidCur[pid] {
			return fmt.Sprintf("already runs as pid %d", pid)
		}
	}
	return ""
}

// Check is rapid's invariant, run after every action.
func (s *Model) Check(t *rapid.T) {
	s.fail(t)
	var corePIDs []int
	for _, st := range s.w.M.Status() {
		if st.PID != 0 {
			corePIDs = append(corePIDs, st.PID)
		}
	}
	slices.Sort(corePIDs)
	if live := s.w.B.Live(); !slices.Equal(corePIDs, live) {
		t.Fatalf("core believes %v live, backend has %v\n%s", corePIDs, live, s.Transcript())
	}
	for pid, at := range s.termAt {
		if !s.killed[pid] && s.now() >= at+s.grace[pid] {
			t.Fatalf("pid %d got its stop signal at %v and neither exited nor got SIGKILL by %v", pid, at, s.now())
		}
	}
	if s.finished && len(s.w.B.Live()) > 0 {
		t.Fatalf("processes live after shutdown completed")
	}
	if j := s.w.Journal(); len(j)%7 == 0 {
		if got := sim.Replay(s.w.Seed(), j); got != s.Transcript() {
			t.Fatalf("replay differs:\n%s\n---- original:\n%s", got, s.Transcript())
		}
	}
}
