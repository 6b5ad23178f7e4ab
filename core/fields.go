package core

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"pmtr/confgrammar"
)

// FieldEffect is what a change of one field does to a job already in force.
// The values are ordered: a reload does what the strongest change asks.
type FieldEffect int

// The effects of a changed field, weakest first.
const (
	// NotCompared: the name is the job's identity (jobs are matched by it)
	// and the position only says where the job is written.
	NotCompared FieldEffect = iota
	// SwitchesJob: disable turns the job off or on; it is not an edit of the job.
	SwitchesJob
	// AppliesInPlace: the field steers when the job starts, not the process, so
	// it applies in place; an edited job that had finished runs again.
	AppliesInPlace
	// RestartsJob: the process is made from the field, so a running one stops
	// and starts again with the new definition.
	RestartsJob
)

// JobField is one field of a job definition: the one place that says how a
// reload compares it, what a change of it does and how plan names it.
type JobField struct {
	Name   string // the config keyword, as plan names it ("env, nice changed")
	Go     string // the confgrammar.Job field it is
	Effect FieldEffect
	Same   func(a, b *confgrammar.Job) bool
	Show   func(j *confgrammar.Job) string // the value as pmtr.conf writes it, "" when unset
}

// jobSpec shortens the table below.
type jobSpec = confgrammar.Job

// JobFields lists every field of confgrammar.Job, in the order plan names
// changes. A field missing here fails TestJobFieldsCoverJob.
var JobFields = []JobField{
	list("cmd", "Cmd", func(j *jobSpec) []string { return j.Cmd }, confgrammar.FormatArgv),
	text("dir", "Dir", RestartsJob, func(j *jobSpec) string { return j.Dir }),
	text("out", "Out", RestartsJob, func(j *jobSpec) string { return j.Out }),
	text("err", "Err", RestartsJob, func(j *jobSpec) string { return j.Err }),
	text("in", "In", RestartsJob, func(j *jobSpec) string { return j.In }),
	list("env", "Env", func(j *jobSpec) []string { return j.Env }, joinComma),
	text("user", "User", RestartsJob, func(j *jobSpec) string { return j.User }),
	list("ulimit", "Ulimits", func(j *jobSpec) []confgrammar.Ulimit { return j.Ulimits }, showUlimits),
	number("nice", "Nice", RestartsJob, func(j *jobSpec) int { return j.Nice }),
	list("cpu", "CPUs", func(j *jobSpec) []int { return j.CPUs }, confgrammar.FormatCPUs),
	number("order", "Order", AppliesInPlace, func(j *jobSpec) int { return j.Order }),
	{"bounce", "Bounce", AppliesInPlace, func(a, b *jobSpec) bool { return a.Bounce == b.Bounce }, showBounce},
	list("depends", "Depends", func(j *jobSpec) []string { return j.Depends }, joinComma),
	flag("wait", "Wait", AppliesInPlace, func(j *jobSpec) bool { return j.Wait }),
	flag("once", "Once", AppliesInPlace, func(j *jobSpec) bool { return j.Once }),
	// The restart policy steers what pmtr does around the process, never the
	// process itself: a change applies in place (issue 24).
	{"restart", "Restart", AppliesInPlace, func(a, b *jobSpec) bool { return a.Restart == b.Restart }, showRestart},
	{"success", "Success", AppliesInPlace, func(a, b *jobSpec) bool { return slices.Equal(a.Success, b.Success) }, showCodes},
	{"backoff", "Backoff", AppliesInPlace, func(a, b *jobSpec) bool { return a.Backoff == b.Backoff }, showBackoff},
	duration("stable", "Stable", func(j *jobSpec) time.Duration { return j.Stable }),
	{"give-up", "GiveUp", AppliesInPlace, func(a, b *jobSpec) bool { return a.GiveUp == b.GiveUp }, showGiveUp},
	{"stop signal", "StopSignal", AppliesInPlace, func(a, b *jobSpec) bool { return a.StopSignal == b.StopSignal }, showStopSignal},
	duration("stop timeout", "StopTimeout", func(j *jobSpec) time.Duration { return j.StopTimeout }),
	flag("critical", "Critical", AppliesInPlace, func(j *jobSpec) bool { return j.Critical }),
	// Readiness and health (issue 23). ready and watchdog go into the
	// process (NOTIFY_SOCKET, WATCHDOG_USEC, the readiness descriptor) and
	// a running job's readiness was judged under the old condition: a
	// change restarts it. The others steer pmtr around the process.
	{"ready", "Ready", RestartsJob, func(a, b *jobSpec) bool { return a.Ready.Equal(b.Ready) }, showReady},
	duration("ready timeout", "ReadyTimeout", func(j *jobSpec) time.Duration { return j.ReadyTimeout }),
	{"after", "After", AppliesInPlace, func(a, b *jobSpec) bool { return slices.Equal(a.After, b.After) }, func(j *jobSpec) string { return strings.Join(j.After, " ") }},
	{"check", "Check", AppliesInPlace, func(a, b *jobSpec) bool { return a.Check.Equal(b.Check) }, showCheck},
	{"on-check-fail", "OnCheckFail", AppliesInPlace, func(a, b *jobSpec) bool { return a.OnCheckFail == b.OnCheckFail }, showOnCheckFail},
	{"watchdog", "Watchdog", RestartsJob, func(a, b *jobSpec) bool { return a.Watchdog == b.Watchdog }, showWatchdog},
	flag("disable", "Disabled", SwitchesJob, func(j *jobSpec) bool { return j.Disabled }),
	text("name", "Name", NotCompared, func(j *jobSpec) string { return j.Name }),
	{"pos", "Pos", NotCompared, func(a, b *jobSpec) bool { return a.Pos == b.Pos }, showPos},
	// Where a job is written (its file, the lines of its options) is no
	// part of it: moving a job to a drop-in file restarts nothing.
	text("file", "File", NotCompared, func(j *jobSpec) string { return j.File }),
	{"origins", "Origins", NotCompared, func(a, b *jobSpec) bool { return slices.Equal(a.Origins, b.Origins) }, showOrigins},
}

// specChange is the strongest effect among the fields that differ between
// a job's definition in force and its new one; NotCompared when none does.
func specChange(a, b *confgrammar.Job) FieldEffect {
	strongest := NotCompared
	for i := range JobFields {
		f := &JobFields[i]
		if f.Effect > strongest && !f.Same(a, b) {
			strongest = f.Effect
		}
	}
	return strongest
}

// FieldDiff is one compared field that differs, as pmtr.conf writes it.
type FieldDiff struct{ Field, Old, New string }

// diffFields lists the compared fields that differ, in table order.
func diffFields(a, b *confgrammar.Job) []FieldDiff {
	var out []FieldDiff
	for i := range JobFields {
		f := &JobFields[i]
		if f.Effect != NotCompared && !f.Same(a, b) {
			out = append(out, FieldDiff{f.Name, f.Show(a), f.Show(b)})
		}
	}
	return out
}

// text is a string field; "" is unset.
func text(name, goName string, effect FieldEffect, get func(*jobSpec) string) JobField {
	return JobField{name, goName, effect, func(a, b *jobSpec) bool { return get(a) == get(b) }, get}
}

// number is an integer field; 0 is unset.
func number(name, goName string, effect FieldEffect, get func(*jobSpec) int) JobField {
	show := func(j *jobSpec) string {
		if get(j) == 0 {
			return ""
		}
		return strconv.Itoa(get(j))
	}
	return JobField{name, goName, effect, func(a, b *jobSpec) bool { return get(a) == get(b) }, show}
}

// list is a field of many values, each of which goes into the process (or
// into when it may start, for depends): a change restarts the job.
func list[T comparable](name, goName string, get func(*jobSpec) []T, show func([]T) string) JobField {
	return JobField{name, goName, RestartsJob, func(a, b *jobSpec) bool { return slices.Equal(get(a), get(b)) },
		func(j *jobSpec) string { return show(get(j)) }}
}

// flag is a keyword without a value: Show gives the keyword when it is set.
func flag(name, goName string, effect FieldEffect, get func(*jobSpec) bool) JobField {
	show := func(j *jobSpec) string {
		if get(j) {
			return name
		}
		return ""
	}
	return JobField{name, goName, effect, func(a, b *jobSpec) bool { return get(a) == get(b) }, show}
}

func joinComma(vs []string) string { return strings.Join(vs, ", ") }

func showUlimits(us []confgrammar.Ulimit) string {
	parts := make([]string, len(us))
	for i, u := range us {
		parts[i] = u.Flag + " " + u.ValueString()
	}
	return strings.Join(parts, ", ")
}

func showBounce(j *jobSpec) string {
	if j.Bounce <= 0 {
		return ""
	}
	return confgrammar.FormatInterval(j.Bounce)
}

// duration is a policy duration; 0 is unset.
func duration(name, goName string, get func(*jobSpec) time.Duration) JobField {
	show := func(j *jobSpec) string {
		if get(j) <= 0 {
			return ""
		}
		return confgrammar.FormatDuration(get(j))
	}
	return JobField{name, goName, AppliesInPlace, func(a, b *jobSpec) bool { return get(a) == get(b) }, show}
}

func showRestart(j *jobSpec) string {
	if j.Restart == confgrammar.RestartAlways {
		return ""
	}
	return j.Restart.String()
}

func showCodes(j *jobSpec) string {
	parts := make([]string, len(j.Success))
	for i, c := range j.Success {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, " ")
}

func showBackoff(j *jobSpec) string {
	if j.Backoff.First <= 0 {
		return ""
	}
	return confgrammar.FormatBackoff(j.Backoff)
}

func showGiveUp(j *jobSpec) string {
	if j.GiveUp.Runs <= 0 {
		return ""
	}
	return confgrammar.FormatGiveUp(j.GiveUp)
}

func showStopSignal(j *jobSpec) string {
	if j.StopSignal == 0 {
		return ""
	}
	return confgrammar.SignalName(j.StopSignal)
}

func showOrigins(j *jobSpec) string { return strconv.Itoa(len(j.Origins)) + " origins" }

func showPos(j *jobSpec) string { return strconv.Itoa(j.Pos.Line) + ":" + strconv.Itoa(j.Pos.Col) }

func showReady(j *jobSpec) string {
	if j.Ready.Kind == confgrammar.NoProbe {
		return ""
	}
	return confgrammar.FormatProbe(j.Ready)
}

func showCheck(j *jobSpec) string {
	if j.Check.Equal(confgrammar.Check{}) {
		return ""
	}
	return confgrammar.FormatCheck(j.Check)
}

func showOnCheckFail(j *jobSpec) string {
	if j.OnCheckFail == confgrammar.CheckRestart {
		return ""
	}
	return j.OnCheckFail.String()
}

func showWatchdog(j *jobSpec) string {
	if j.Watchdog <= 0 {
		return ""
	}
	return confgrammar.FormatDuration(j.Watchdog)
}
