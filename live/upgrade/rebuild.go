package upgrade

import (
	"fmt"
	"maps"
	"os"
	"slices"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/ctlproto"
	"pmtr/handover"
	"pmtr/live/hostfacts"
)

// Rebuild is a pmtr upgrade whose state the new binary could not read:
// it reads the config file, finds the jobs' processes in their cgroups
// (or pid records) and keeps them as the jobs' runs instead of starting
// them; their counts and readiness start afresh. Of the descriptors it
// inherited, it takes those /proc tells apart: the control socket, the
// upgrade's connection, the jobs' output pipes.
type Rebuild struct {
	Why     string // why the state could not be read
	Control int    // the control socket's listener, or -1
	Callers []int  // pmtr upgrade's connections, answered once it runs
}

// FindJobs finds the jobs' processes and their output pipes; the first
// config keeps them (driver.Options.Running).
func (u *Upgrader) FindJobs(cfg *confgrammar.Config) map[string]int {
	var names []string
	for _, j := range cfg.Jobs {
		names = append(names, j.Name)
	}
	found := u.d.Jobs.Found(names)
	var ls []Leader
	for _, name := range slices.Sorted(maps.Keys(found)) {
		ls = append(ls, Leader{PID: found[name], Job: name})
	}
	u.d.Adopt(ls, nil)
	u.d.Output.Inherit(outputsOf(ls))
	return found
}

// outputsOf are this process's descriptors that read the leaders' stdout
// and stderr pipes.
func outputsOf(ls []Leader) []handover.Output {
	ours := map[string]int{}
	for _, f := range hostfacts.OpenFDs() {
		ours[f.Link] = f.FD
	}
	var out []handover.Output
	for _, l := range ls {
		o1, o2 := hostfacts.ProcFD(l.PID, 1), hostfacts.ProcFD(l.PID, 2)
		if fd, ok := ours[o1]; ok && o1 != "" {
			out = append(out, handover.Output{FD: fd, Job: l.Job, PID: l.PID})
			delete(ours, o1)
		}
		if fd, ok := ours[o2]; ok && o2 != "" && o2 != o1 {
			out = append(out, handover.Output{FD: fd, Job: l.Job, PID: l.PID, Stderr: true})
			delete(ours, o2)
		}
	}
	return out
}

// Rebuilt logs the rebuild and answers the upgrade's callers.
func (u *Upgrader) Rebuilt(r *Rebuild, kept int) {
	line := fmt.Sprintf("upgraded to %s, but the state handed over could not be read (%s): rebuilt from the jobs' %s; %d %s kept, their counts and readiness start afresh",
		u.d.Version, r.Why, map[bool]string{true: "cgroups", false: "pid records"}[u.d.Jobs.Cgroups()], kept, plural(kept, "job"))
	u.d.Log.Logf(core.Error, "%s", line)
	for _, fd := range r.Callers {
		u.answerCaller(fd, ctlproto.Version, line)
	}
}

// InheritedSockets sorts this process's inherited sockets for a Rebuild:
// the listener at the control socket's path, the connections to it, and
// the others (closed: metrics and listen sockets are bound again).
func InheritedSockets(controlPath string) (control int, callers []int) {
	control = -1
	socks := hostfacts.UnixSockets()
	for _, f := range hostfacts.OpenFDs() {
		s, unix := socks[f.Link]
		switch {
		case len(f.Link) < 7 || f.Link[:7] != "socket:":
		case unix && s.Path == controlPath && s.Listening && control < 0:
			control = f.FD
		case unix && s.Path == controlPath:
			callers = append(callers, f.FD)
		default:
			os.NewFile(uintptr(f.FD), "inherited socket").Close()
		}
	}
	return control, callers
}
