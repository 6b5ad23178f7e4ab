package core

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"pmtr/confgrammar"
)

// Effect is a request to the driver. The core never assumes it happened
// until the matching event comes back (Spawn -> Spawned or SpawnFailed;
// Signal -> Exited).
type Effect interface {
	fmt.Stringer
	isEffect()
}

// Signal numbers (Linux), so that core needs no syscall import.
const (
	SIGKILL = 9
	SIGTERM = 15
)

// Spawn starts a job's process, in its own process group.
type Spawn struct {
	Job     string
	Attempt uint64 // unique to this spawn; echoed in Spawned or SpawnFailed
	Spec    *confgrammar.Job
}

// Cancel withdraws a Spawn that has not been answered, when the job is to
// stop before it started. If the driver has not begun that spawn it answers
// SpawnCancelled; otherwise the spawn's answer comes as usual.
type Cancel struct {
	Job     string
	Attempt uint64
}

// Kill signals a job's whole process group (pid is the group leader).
type Kill struct {
	Job    string
	PID    int
	Signal int
}

// Report sends the status report; Body holds one line per job
// ("NAME e|d SECONDS PID ARGV0\n"), the driver adds the "report ID" header.
type Report struct{ Body string }

// Level is a log severity.
type Level int

const (
	Info Level = iota
	Error
	Debug
)

func (l Level) String() string { return [...]string{"info", "error", "debug"}[l] }

// Log is one line for pmtr's log, in the wording of C pmtr. Job names the
// job the line is about, if any (for per-job logs).
type Log struct {
	Level Level
	Text  string
	Job   string
}

// Purpose says what a probe attempt is for.
type Purpose uint8

// The purposes of a probe attempt.
const (
	ForReady Purpose = iota + 1 // is the job ready yet?
	ForCheck                    // is the job still healthy?
)

func (p Purpose) String() string {
	if p == ForCheck {
		return "check"
	}
	return "ready"
}

// Probe asks for one probe attempt (tcp, http, exec or file) for a job;
// its outcome comes back as ProbeResult with the same Job and Seq. The
// core never has two attempts of one job out at once.
type Probe struct {
	Job     string
	Seq     uint64 // unique to this attempt; echoed in ProbeResult
	Purpose Purpose
	What    confgrammar.Probe
	Timeout time.Duration    // the attempt gives up then
	Spec    *confgrammar.Job // exec probes only: the job's definition (its user, env and dir); nil for the others
}

func (Spawn) isEffect()  {}
func (Probe) isEffect()  {}
func (Cancel) isEffect() {}
func (Kill) isEffect()   {}
func (Report) isEffect() {}
func (Log) isEffect()    {}

func (e Spawn) String() string {
	argv := ""
	if e.Spec != nil {
		argv = strings.Join(e.Spec.Cmd, " ")
	}
	return fmt.Sprintf("spawn %s attempt=%d cmd=%q", e.Job, e.Attempt, argv)
}

func (e Probe) String() string {
	return fmt.Sprintf("probe %s seq=%d %s %s timeout=%s", e.Job, e.Seq, e.Purpose, confgrammar.FormatProbe(e.What), confgrammar.FormatDuration(e.Timeout))
}

func (e Cancel) String() string { return fmt.Sprintf("cancel %s attempt=%d", e.Job, e.Attempt) }

func (e Kill) String() string {
	return fmt.Sprintf("kill %s pgid=%d %s", e.Job, e.PID, signalName(e.Signal))
}

// signalName is "SIGQUIT", or "signal 40" for a number without a name.
func signalName(n int) string {
	name := confgrammar.SignalName(n)
	if name == strconv.Itoa(n) {
		return "signal " + name
	}
	return name
}

func (e Report) String() string {
	return fmt.Sprintf("report %q", e.Body)
}

func (e Log) String() string { return fmt.Sprintf("log %s: %s", e.Level, e.Text) }
