package upgrade

import (
	"os"
	"time"

	"pmtr/core"
	"pmtr/driver"
	"pmtr/handover"
)

// The pmtr that takes over at pmtr upgrade: this process, under the new
// binary. Its rooms were made from the descriptors it inherited
// (the assembly, with Boot, RingsOf and ListenerFiles); TakeOver restores the driver, adopts the jobs' processes,
// handles what came during the handover, and answers the upgrade's
// caller. No job is started or stopped: an exit that came meanwhile is
// reaped now and handled by the rules.

// Boot is the wall-clock time of the driver's time 0 for a run that
// carries on from st: its clock goes on from the old pmtr's, the time
// the exec took included.
func Boot(now time.Time, st *handover.State) time.Time {
	return now.Add(-time.Duration(st.At) - time.Duration(monotonic()-st.Mono))
}

// TakeOver carries on from st, with the driver restored on b.
func (u *Upgrader) TakeOver(b driver.Backend, do driver.Options, st *handover.State) (*driver.Driver, error) {
	d, err := driver.Restore(b, do, st.Driver)
	if err != nil {
		return nil, err
	}
	u.d.Health.Inherit(st)
	ls := leaders(st.Driver.Core)
	for _, l := range ls { // the pid records (without cgroups) the old pmtr had not saved yet
		u.d.Jobs.Started(l.PID, l.Job)
	}
	u.d.Adopt(ls, st.Spawns)
	for _, p := range st.Pending {
		in := input(p)
		u.d.Health.Sent(in)
		d.Handle(in)
	}
	// A probe attempt out at the handover answers nobody now: the core
	// tries again (a ready attempt after its gap, a check at its next time).
	for _, j := range st.Driver.Core.Jobs {
		if seq := j.Health.Inflight; seq != 0 && !j.Deleted {
			d.Handle(driver.Event{At: u.d.Now(), Ev: core.ProbeResult{Job: j.Spec.Name, Seq: seq, Busy: true,
				Outcome: "the attempt was under way at pmtr upgrade"}})
		}
	}
	line := driver.Upgraded(st.From, u.d.Version, st.Driver.Kept())
	u.d.Log.Logf(core.Info, "%s", line)
	u.d.Log.Logf(core.Info, "pmtr upgrade: the jobs went unsupervised for %v (the state written, the exec, this binary's start)",
		time.Duration(monotonic()-st.Mono).Round(100*time.Microsecond))
	if st.Files.Reply >= 0 {
		u.answerCaller(st.Files.Reply, st.Files.ReplyV, line)
	}
	d.Handle(driver.Reload{}) // files saved during the handover
	return d, nil
}

// leaders are the jobs' running processes in a snapshot.
func leaders(s core.Snapshot) []Leader {
	var out []Leader
	for _, j := range s.Jobs {
		if j.PID != 0 {
			out = append(out, Leader{PID: j.PID, Job: j.Spec.Name, Stopping: j.Stopping()})
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
func (u *Upgrader) answerCaller(fd, version int, line string) {
	f := os.NewFile(uintptr(fd), "pmtr upgrade")
	defer f.Close()
	f.SetWriteDeadline(time.Now().Add(5 * time.Second))
	f.WriteString(u.d.Answer(version, driver.CodeOK, line))
}

// RingsOf are the jobs' last lines the pmtr before an upgrade kept (none
// when it kept none).
func RingsOf(st *handover.State) ([]handover.Ring, error) {
	if st.Files.Rings < 0 {
		return nil, nil
	}
	data, err := ReadMemfd(st.Files.Rings)
	if err != nil {
		return nil, err
	}
	return handover.DecodeRings(data)
}

// ListenerFiles are handed-over sockets by id.
func ListenerFiles(ls []handover.Listener) map[string]*os.File {
	out := map[string]*os.File{}
	for _, l := range ls {
		out[l.ID] = os.NewFile(uintptr(l.FD), l.ID)
	}
	return out
}
