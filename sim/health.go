package sim

import (
	"container/heap"
	"fmt"
	"time"

	"pmtr/confgrammar"
	"pmtr/core"
)

// Readiness and health in the simulated world (issue 23): a run says when
// its process is ready (its ready probes answer ok from then on, or it
// sends READY=1 or its newline then), when its checks fail, how long a
// probe takes, and how often it sends WATCHDOG=1.

// Window is a span of a run's life, from its start; To 0 is to its end.
// The zero Window is no span at all.
type Window struct {
	On       bool
	From, To time.Duration
}

func (w Window) holds(age time.Duration) bool {
	return w.On && age >= w.From && (w.To == 0 || age < w.To)
}

// timed is an input due at a time: a probe's answer, or what a process
// says (then dropped if the process has ended by then).
type timed struct {
	at    core.Time
	seq   uint64
	pid   int // the process that says it; 0: a probe's answer
	ev    core.Event
	every core.Time // a watchdog: the next one this much later...
	until core.Time // ...while before this (Never: to the end)
}

type timedQueue []timed

func (q timedQueue) Len() int { return len(q) }
func (q timedQueue) Less(i, k int) bool {
	return q[i].at < q[k].at || q[i].at == q[k].at && q[i].seq < q[k].seq
}
func (q timedQueue) Swap(i, k int) { q[i], q[k] = q[k], q[i] }
func (q *timedQueue) Push(x any)   { *q = append(*q, x.(timed)) }
func (q *timedQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func (b *Backend) later(t timed) {
	b.seq++
	t.seq = b.seq
	heap.Push(&b.timedQ, t)
}

// nextTimed is the time of the next timed input; ok is false when none.
func (b *Backend) nextTimed() (core.Time, bool) {
	if len(b.timedQ) == 0 {
		return 0, false
	}
	return b.timedQ[0].at, true
}

// dueTimed returns the first timed input due by now that is still
// meaningful (its process lives), scheduling a watchdog's next message.
func (b *Backend) dueTimed() (core.Event, bool) {
	for len(b.timedQ) > 0 && b.timedQ[0].at <= b.now {
		t := heap.Pop(&b.timedQ).(timed)
		if t.pid != 0 && b.procs[t.pid] == nil {
			continue
		}
		if t.every > 0 && (t.until == core.Never || t.at+t.every < t.until) {
			next := t
			next.at += t.every
			b.later(next)
		}
		return t.ev, true
	}
	return nil, false
}

// tell schedules what a starting process will say: READY=1 (or its
// newline) when it is ready, and WATCHDOG=1 every so often.
func (b *Backend) tell(e core.Spawn, p *proc) {
	if e.Spec == nil {
		return
	}
	r := p.run
	switch k := e.Spec.Ready.Kind; {
	case r.ReadyNever:
	case k == confgrammar.ProbeNotify:
		b.later(timed{at: p.start + core.Time(r.ReadyAfter), pid: p.pid, ev: core.Notified{Job: e.Job, PID: p.pid, Ready: true}})
	case k == confgrammar.ProbeFD:
		b.later(timed{at: p.start + core.Time(r.ReadyAfter), pid: p.pid, ev: core.Notified{Job: e.Job, Attempt: e.Attempt, Ready: true}})
	}
	if r.WatchdogEvery > 0 && e.Spec.Watchdog > 0 {
		until := core.Never
		if r.WatchdogUntil > 0 {
			until = p.start + core.Time(r.WatchdogUntil)
		}
		at := p.start + core.Time(r.WatchdogEvery)
		if until == core.Never || at < until {
			b.later(timed{at: at, pid: p.pid, every: core.Time(r.WatchdogEvery), until: until,
				ev: core.Notified{Job: e.Job, PID: p.pid, Watchdog: true}})
		}
	}
}

// Probe answers a probe attempt from the job's script: a ready attempt
// succeeds once the process is ready, a check unless it falls in the
// run's failing window; the answer comes after the run's probe time (or
// at the attempt's timeout).
func (b *Backend) Probe(e core.Probe) {
	p := b.procOf(e.Job)
	ok, took := false, time.Duration(0)
	if p != nil {
		age := time.Duration(b.now - p.start)
		switch e.Purpose {
		case core.ForReady:
			ok = !p.run.ReadyNever && age >= p.run.ReadyAfter
		default:
			ok = !p.run.CheckFails.holds(age)
		}
		took = p.run.ProbeTakes
	}
	res := core.ProbeResult{Job: e.Job, Seq: e.Seq, OK: ok, Outcome: outcomeWords(e.What, ok)}
	if took >= e.Timeout && e.Timeout > 0 {
		took = e.Timeout
		res.OK, res.Outcome = false, timeoutWords(e.What, e.Timeout)
	}
	b.later(timed{at: b.now + core.Time(took), ev: res})
}

// procOf is the job's live process, the newest if several.
func (b *Backend) procOf(job string) *proc {
	var found *proc
	for _, p := range b.procs {
		if p.job == job && (found == nil || p.pid > found.pid) {
			found = p
		}
	}
	return found
}

// outcomeWords are the probe room's words for an attempt's outcome.
func outcomeWords(pr confgrammar.Probe, ok bool) string {
	switch pr.Kind {
	case confgrammar.ProbeTCP:
		if ok {
			return pr.Target + " accepted a connection"
		}
		return pr.Target + ": connection refused"
	case confgrammar.ProbeHTTP:
		if ok {
			return pr.Target + " answered 200"
		}
		return pr.Target + " answered 503"
	case confgrammar.ProbeExec:
		if ok {
			return argv0Of(pr) + " exited 0"
		}
		return argv0Of(pr) + " exited 1"
	case confgrammar.ProbeFile:
		if ok {
			return pr.Target + " exists"
		}
		return pr.Target + " does not exist"
	}
	return fmt.Sprintf("probe: unknown kind %s", pr.Kind)
}

func timeoutWords(pr confgrammar.Probe, d time.Duration) string {
	if pr.Kind == confgrammar.ProbeExec {
		return argv0Of(pr) + " timed out after " + d.String() + ": its process group was killed"
	}
	target := pr.Target
	return target + ": no answer within " + d.String()
}

func argv0Of(pr confgrammar.Probe) string {
	if len(pr.Argv) == 0 {
		return ""
	}
	return pr.Argv[0]
}
