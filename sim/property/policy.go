package property

import (
	"slices"
	"time"

	"pgregory.net/rapid"

	"pmtr/confgrammar"
	"pmtr/core"
)

// The restart policy of issue 24, modelled on its own words: a failed run
// is one shorter than stable, or (restart on-failure) one that is not a
// success; the n-th failed run in a row waits FIRST*2^(n-1) capped at MAX,
// +-10%, or C pmtr's 10 s without backoff; a stable run resets the count;
// give-up N in WINDOW puts the job in state failed, with no start before
// its retry.

// counts is the model's restart-policy record of one job.
type counts struct {
	failed    int         // failed runs in a row
	failTimes []core.Time // ends of the last failed runs, at most GiveUp.Runs
	gaveUp    bool
	wait      bool // the next start waits for backoff or give-up (pmtr start makes it now)
	exitAt    core.Time
	lo, hi    core.Time // the bounds of the wait the core must choose, when checked
}

// genPolicy sets at most one restart-policy option, a third of the time,
// and critical rarely, so that reloads still often keep a job as it was.
func genPolicy(t *rapid.T, name string, j *confgrammar.Job) {
	switch rapid.IntRange(0, 20).Draw(t, name+".policy") {
	case 0:
		j.Restart, j.Once = confgrammar.RestartOnFailure, false // once would contradict it
		if rapid.Bool().Draw(t, name+".success") {
			j.Success = []int{0, 1}
		}
	case 1:
		j.Restart = confgrammar.RestartNever
		j.Once = false
	case 2, 3, 4:
		first := time.Duration(rapid.SampledFrom([]int{300, 1000, 2000}).Draw(t, name+".first")) * time.Millisecond
		j.Backoff = confgrammar.Backoff{First: first, Max: first * time.Duration(rapid.SampledFrom([]int{1, 4, 30}).Draw(t, name+".max"))}
	case 5:
		j.Stable = time.Duration(rapid.SampledFrom([]int{3, 20}).Draw(t, name+".stable")) * time.Second
	case 6, 7:
		j.GiveUp = confgrammar.GiveUp{Runs: rapid.IntRange(1, 3).Draw(t, name+".giveup"),
			Window: time.Duration(rapid.SampledFrom([]int{30, 120}).Draw(t, name+".window")) * time.Second,
			Retry:  time.Duration(rapid.SampledFrom([]int{0, 60}).Draw(t, name+".retry")) * time.Second}
		if rapid.Bool().Draw(t, name+".giveup.backoff") {
			j.Backoff = confgrammar.Backoff{First: time.Second, Max: 4 * time.Second}
		}
	case 8:
		j.StopSignal = rapid.SampledFrom([]int{2, 3, 9}).Draw(t, name+".stopsignal")
	case 9:
		j.StopTimeout = time.Duration(rapid.SampledFrom([]int{2, 30}).Draw(t, name+".stoptimeout")) * time.Second
	}
	j.Critical = rapid.IntRange(0, 15).Draw(t, name+".critical") == 0
}

func stableOf(j confgrammar.Job) core.Time {
	if j.Stable > 0 {
		return core.Time(j.Stable)
	}
	return core.QuickExit
}

func stopTimeoutOf(j confgrammar.Job) core.Time {
	if j.StopTimeout > 0 {
		return core.Time(j.StopTimeout)
	}
	return core.KillGrace
}

func stopSignalOf(j confgrammar.Job) int {
	if j.StopSignal != 0 {
		return j.StopSignal
	}
	return core.SIGTERM
}

func success(j confgrammar.Job, status, signal int) bool {
	codes := j.Success
	if len(codes) == 0 {
		codes = []int{0}
	}
	return signal == 0 && slices.Contains(codes, status)
}

// ownExit applies the rules to a job whose process ended by itself.
func (s *Model) ownExit(name string, spec confgrammar.Job, status, signal int, lived core.Time) {
	now, c := s.now(), s.counts[name]
	finished := spec.Once || spec.Restart == confgrammar.RestartNever || signal == 0 && status == 33 ||
		spec.Restart == confgrammar.RestartOnFailure && success(spec, status, signal)
	if spec.Critical && spec.GiveUp.Runs == 0 {
		s.criticalEnd(status, signal)
		s.done[name] = finished
		return
	}
	if finished {
		s.done[name] = true
		if spec.Critical {
			s.criticalEnd(status, signal)
		}
		return
	}
	quick := lived < stableOf(spec)
	if !quick {
		*c = counts{}
	}
	if !quick && (spec.Restart != confgrammar.RestartOnFailure || success(spec, status, signal)) {
		s.notBefore[name] = now // a stable run: at once
		c.exitAt = now
		s.check = append(s.check, name)
		return
	}
	c.failed++
	c.exitAt = now
	if g := spec.GiveUp; g.Runs > 0 {
		c.failTimes = append(c.failTimes, now)
		if len(c.failTimes) > g.Runs {
			c.failTimes = c.failTimes[1:]
		}
		if len(c.failTimes) == g.Runs && now-c.failTimes[0] <= core.Time(g.Window) {
			c.gaveUp, c.wait, c.lo, c.hi = true, true, core.Time(g.Retry), core.Time(g.Retry)
			s.notBefore[name] = now + core.Time(g.Retry)
			s.check = append(s.check, name)
			if spec.Critical {
				s.criticalEnd(status, signal)
			}
			return
		}
	}
	c.lo, c.hi, c.wait = core.RestartWait, core.RestartWait, false
	if b := spec.Backoff; b.First > 0 {
		base := core.Time(b.First)
		for i := 1; i < c.failed && base < core.Time(b.Max); i++ {
			base *= 2
		}
		base = min(base, core.Time(b.Max))
		c.lo, c.hi, c.wait = base-base/10, base+base/10, true
	}
	s.notBefore[name] = now + c.lo
	s.check = append(s.check, name)
}

// criticalEnd: the first critical job to end decides pmtr's exit code.
func (s *Model) criticalEnd(status, signal int) {
	if s.shutdown {
		return
	}
	s.shutdown, s.exitCode = true, status
	if signal != 0 {
		s.exitCode = 128 + signal
	}
}

// clearCounts is pmtr start, restart, or an edit of the job.
func (s *Model) clearCounts(name string) {
	c := s.counts[name]
	if c.wait {
		s.notBefore[name] = min(s.notBefore[name], s.now())
	}
	*c = counts{}
}

// checkCounts holds the core's restart-policy state of each job that just
// failed to the model: its count of failed runs, whether it gave up, and
// its wait, within [0.9, 1.1] of its backoff step (which lies in
// [FIRST*0.9, MAX*1.1]) or exactly C pmtr's 10 s without backoff.
func (s *Model) checkCounts() {
	for _, name := range s.check {
		c, spec := s.counts[name], s.specs[name]
		st, ok := s.w.M.JobStatus(name)
		if !ok || st.Starts == 0 && !st.HasExited {
			continue
		}
		if st.FailedRuns != c.failed || st.GaveUp != c.gaveUp {
			s.failf("job %s: core counts %d failed runs (gave up %v), the rules %d (gave up %v)", name, st.FailedRuns, st.GaveUp, c.failed, c.gaveUp)
			continue
		}
		if c.gaveUp && spec.GiveUp.Retry == 0 {
			if st.NextStart != core.Never || st.State != core.Failed && !s.shutdown {
				s.failf("job %s gave up for good but shows next start %v, state %s", name, st.NextStart, st.State)
			}
			continue
		}
		wait := st.NextStart - c.exitAt
		if wait < c.lo || wait > c.hi {
			s.failf("job %s: failed run %d waits %v, outside [%v, %v]", name, c.failed, time.Duration(wait), time.Duration(c.lo), time.Duration(c.hi))
		}
		if b := spec.Backoff; b.First > 0 && c.failed > 0 && !c.gaveUp && (wait < core.Time(b.First)*9/10 || wait > core.Time(b.Max)*11/10) {
			s.failf("job %s: wait %v outside [FIRST*0.9, MAX*1.1] of backoff %s", name, time.Duration(wait), confgrammar.FormatBackoff(b))
		}
		s.notBefore[name] = st.NextStart // no start before the core's own choice
	}
	s.check = s.check[:0]
}
