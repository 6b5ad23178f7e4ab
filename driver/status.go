package driver

import (
	"fmt"
	"strings"
	"time"

	"pmtr/core"
)

// Snapshot is the state of every job, and of the config file, at one time.
type Snapshot struct {
	Now         core.Time
	Jobs        []core.JobStatus
	Config      ConfigState
	Containment ContainmentState
}

// Status is the snapshot now.
func (d *Driver) Status() Snapshot {
	return Snapshot{Now: max(d.now, d.b.Now()), Jobs: d.m.Status(), Config: d.configState(), Containment: d.contain}
}

// Reason is the REASON of pmtr status for j, with times worded by at: a
// job stopped by control says by whom and when.
func Reason(j core.JobStatus, at func(core.Time) string) string {
	if j.State == core.Stopped && j.Control == core.Disable {
		return core.StoppedByControl(j.ControlBy, at(j.ControlAt))
	}
	return j.Reason
}

// Table renders the snapshot as pmtr status prints it, with times worded
// by at.
func (s Snapshot) Table(at func(core.Time) string) string {
	width := len("REASON")
	for _, j := range s.Jobs {
		width = max(width, len(Reason(j, at)))
	}
	var b strings.Builder
	for _, line := range []string{s.Config.Line(at), s.Containment.Line(at)} {
		if line != "" {
			b.WriteString(line + "\n")
		}
	}
	fmt.Fprintf(&b, "%-24s %-9s %8s %12s %7s  %-*s  %s\n", "JOB", "STATE", "PID", "FOR", "STARTS", width, "REASON", "LAST EXIT")
	for _, j := range s.Jobs {
		pid, last, reason := "-", j.LastExit, Reason(j, at)
		if j.PID != 0 {
			pid = fmt.Sprint(j.PID)
		}
		if last == "" {
			last = "-"
		}
		if reason == "" {
			reason = "-"
		}
		switch {
		case j.State == core.Failed && j.GaveUp && j.NextStart == core.Never:
			last += "; down until pmtr start"
		case j.State == core.Waiting || j.State == core.Failed:
			last += fmt.Sprintf("; starts again in %v", roundSec(j.NextStart-s.Now))
		}
		fmt.Fprintf(&b, "%-24s %-9s %8s %12v %7d  %-*s  %s\n", j.Name, j.State, pid, roundSec(s.Now-j.Since), j.Starts, width, reason, last)
	}
	return b.String()
}

func roundSec(t core.Time) time.Duration { return time.Duration(t).Round(time.Second) }

// MetricsQuery asks for what the metrics show: every job's status and the
// daemon's counters, at one time.
type MetricsQuery struct{ Reply chan<- Metrics }

// Metrics is the values of pmtr's metrics at Snapshot.Now.
type Metrics struct {
	Snapshot
	Counters core.Counters
}

func (MetricsQuery) isInput()       {}
func (MetricsQuery) String() string { return "metrics query" }
