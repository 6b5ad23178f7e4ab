package live

import (
	"os"
	"time"

	"pmtr/core"
	"pmtr/driver"
	"pmtr/handover"
	"pmtr/live/ctlsock"
	"pmtr/live/spawn"
)

// The pmtr that takes over at pmtr upgrade: this process, under the new
// binary. Its rooms were made from the descriptors it inherited
// (newBackend); takeOver restores the driver, adopts the jobs' processes,
// handles what came during the handover, and answers the upgrade's
// caller. No job is started or stopped: an exit that came meanwhile is
// reaped now and handled by the rules.

// bootOf is the wall-clock time of the driver's time 0 for a run that
// carries on from st: its clock goes on from the old pmtr's, the time
// the exec took included.
func bootOf(now time.Time, st *handover.State) time.Time {
	return now.Add(-time.Duration(st.At) - time.Duration(monotonic()-st.Mono))
}

// takeOver carries on from st.
func (b *backend) takeOver(do driver.Options, st *handover.State) (*driver.Driver, error) {
	d, err := driver.Restore(b, do, st.Driver)
	if err != nil {
		return nil, err
	}
	b.health.Inherit(st)
	ls := leaders(st.Driver.Core)
	for _, l := range ls { // the pid records (without cgroups) the old pmtr had not saved yet
		b.cg.Started(l.PID, l.Job)
	}
	b.procs.Inherit(ls, st.Spawns)
	for _, p := range st.Pending {
		in := input(p)
		b.health.Sent(in)
		d.Handle(in)
	}
	// A probe attempt out at the handover answers nobody now: the core
	// tries again (a ready attempt after its gap, a check at its next time).
	for _, j := range st.Driver.Core.Jobs {
		if seq := j.Health.Inflight; seq != 0 && !j.Deleted {
			d.Handle(driver.Event{At: b.Now(), Ev: core.ProbeResult{Job: j.Spec.Name, Seq: seq, Busy: true,
				Outcome: "the attempt was under way at pmtr upgrade"}})
		}
	}
	line := driver.Upgraded(st.From, b.o.Version, st.Driver.Kept())
	b.log.Logf(core.Info, "%s", line)
	b.log.Logf(core.Info, "pmtr upgrade: the jobs went unsupervised for %v (the state written, the exec, this binary's start)",
		time.Duration(monotonic()-st.Mono).Round(100*time.Microsecond))
	if st.Files.Reply >= 0 {
		answerCaller(st.Files.Reply, st.Files.ReplyV, line)
	}
	d.Handle(driver.Reload{}) // files saved during the handover
	return d, nil
}

// leaders are the jobs' running processes in a snapshot.
func leaders(s core.Snapshot) []spawn.Leader {
	var out []spawn.Leader
	for _, j := range s.Jobs {
		if j.PID != 0 {
			out = append(out, spawn.Leader{PID: j.PID, Job: j.Spec.Name, Stopping: j.Stopping()})
		}
	}
	return out
}

// input is a pending input as the driver takes it.
func input(p handover.Pending) driver.Input {
	switch {
	case p.Control != nil:
		return *p.Control
	case p.Reload != nil:
		return driver.Reload{Force: *p.Reload == driver.ReloadForced}
	}
	return driver.Event{At: p.At, Ev: p.Event}
}

// answerCaller answers pmtr upgrade on the connection the old pmtr
// handed over.
func answerCaller(fd, version int, line string) {
	f := os.NewFile(uintptr(fd), "pmtr upgrade")
	defer f.Close()
	f.SetWriteDeadline(time.Now().Add(5 * time.Second))
	f.WriteString(ctlsock.Answer(version, driver.CodeOK, line))
}
