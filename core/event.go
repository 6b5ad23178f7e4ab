package core

import (
	"fmt"
	"strings"

	"pmtr/confgrammar"
)

// Event is a fact reported by the driver: something that happened.
type Event interface {
	fmt.Stringer
	isEvent()
}

// DepState is the content of one dependency file at a moment.
type DepState struct {
	Path    string // resolved path, as in ConfigLoaded's jobs
	Hash    string // content hash; compared for equality only
	Missing bool
	Reason  string // when Missing: why it can't be read, if not simply absent
}

// ConfigLoaded delivers a successfully parsed config. Its jobs' Depends must
// already be resolved paths (confgrammar.Config.ResolveDepends), and Deps
// gives the content of each of those files now.
type ConfigLoaded struct {
	Gen      uint64
	Config   *confgrammar.Config
	Deps     []DepState
	Warnings []string // "FILE:LINE:COL: warning: ...", logged as they are
	// Running are processes already running, by job name, that a new job
	// of this config takes as its run instead of starting one: pmtr
	// upgrade, when the state could not be read, finds them in the jobs'
	// cgroups or pid records.
	Running map[string]int
	// Changes words which of the config's files changed ("pmtr.d/web.conf
	// changed, pmtr.d/old.conf removed"), for the reload's log line; ""
	// for a config of one file, or when no file changed.
	Changes string
}

// ConfigRejected reports a reload that failed; the previous config stays.
type ConfigRejected struct {
	File    string
	Errors  []string
	Changes string // as in ConfigLoaded
}

// ConfigRestored: after a rejected reload, the config file holds again
// the config in force (a bad save was undone): nothing changes, and the
// last reload counts as successful again.
type ConfigRestored struct {
	File string
}

// Spawned: the process of spawn Attempt (as numbered in Spawn) of Job is
// running as PID.
type Spawned struct {
	Job     string
	Attempt uint64
	PID     int
}

// SpawnFailed: no process could be started; Reason is the log line
// (e.g. "can't exec /x: No such file or directory"). It counts as an exit
// with status 255.
type SpawnFailed struct {
	Job     string
	Attempt uint64
	Reason  string
}

// SpawnCancelled: a spawn withdrawn by Cancel never started.
type SpawnCancelled struct {
	Job     string
	Attempt uint64
}

// ExecFailed: the process PID of Job was started (Spawned came first) but
// could not become the job's program; Reason is the log line. Its exit
// (status 255) follows as an Exited event.
type ExecFailed struct {
	Job    string
	PID    int
	Reason string
}

// Exited: a child was reaped. Signal is non-zero when it was killed; OOM
// when the kernel's OOM killer did it (known where the job has a cgroup
// with the memory controller).
type Exited struct {
	PID    int
	Status int
	Signal int
	OOM    bool
}

// DepChanged: a dependency file's content changed, vanished or came back.
type DepChanged DepState

// Verb is what a control command asks.
type Verb string

// The control verbs; Invalid stands for a message that could not be decoded.
const (
	Enable  Verb = "enable"
	Disable Verb = "disable"
	Restart Verb = "restart"
	Invalid Verb = "invalid"
)

// Control is an operator command from UDP or the CLI.
type Control struct {
	Verb  Verb
	Names []string
	From  string // the sender, for the log
	Via   string // the listener it came in on; log lines it causes are limited per listener
}

// Shutdown asks for an orderly stop; Signal is the signal that asked, or 0.
type Shutdown struct{ Signal int }

// ProbeResult answers a Probe. Busy: the attempt did not run, because
// one the core sent earlier for the job (for a run since ended) still runs.
type ProbeResult struct {
	Job     string
	Seq     uint64
	OK      bool
	Busy    bool
	Outcome string // one line: "http://127.0.0.1:8080/healthz answered 503"
	Output  string // an exec probe's (or http answer's) first bytes, escaped
}

// Notified: a job said something, on its sd_notify socket (PID is the
// sender, as the kernel says, already known to be the job's) or through
// its readiness descriptor (Attempt is the spawn it was made for).
type Notified struct {
	Job        string
	PID        int
	Attempt    uint64
	Ready      bool // READY=1, or the descriptor's newline
	Watchdog   bool // WATCHDOG=1
	Stopping   bool // STOPPING=1
	HasStatus  bool // STATUS= was sent
	Status     string
	PipeClosed bool // the descriptor was closed without a newline
}

func (ConfigLoaded) isEvent()   {}
func (ProbeResult) isEvent()    {}
func (Notified) isEvent()       {}
func (ConfigRejected) isEvent() {}
func (ConfigRestored) isEvent() {}
func (Spawned) isEvent()        {}
func (SpawnFailed) isEvent()    {}
func (ExecFailed) isEvent()     {}
func (SpawnCancelled) isEvent() {}
func (Exited) isEvent()         {}
func (DepChanged) isEvent()     {}
func (Control) isEvent()        {}
func (Shutdown) isEvent()       {}

func (e ConfigLoaded) String() string {
	n := 0
	if e.Config != nil {
		n = len(e.Config.Jobs)
	}
	return fmt.Sprintf("config-loaded gen=%d jobs=%d deps=%d", e.Gen, n, len(e.Deps))
}

func (e ProbeResult) String() string {
	verdict := "fail"
	switch {
	case e.Busy:
		verdict = "busy"
	case e.OK:
		verdict = "ok"
	}
	s := fmt.Sprintf("probe-result %s seq=%d %s outcome=%q", e.Job, e.Seq, verdict, e.Outcome)
	if e.Output != "" {
		s += fmt.Sprintf(" output=%q", e.Output)
	}
	return s
}

func (e Notified) String() string {
	var parts []string
	for _, f := range []struct {
		on   bool
		word string
	}{{e.Ready, "ready"}, {e.Watchdog, "watchdog"}, {e.Stopping, "stopping"}, {e.PipeClosed, "pipe-closed"}} {
		if f.on {
			parts = append(parts, f.word)
		}
	}
	if e.HasStatus {
		parts = append(parts, fmt.Sprintf("status=%q", e.Status))
	}
	from := fmt.Sprintf("pid=%d", e.PID)
	if e.Attempt != 0 {
		from = fmt.Sprintf("attempt=%d", e.Attempt)
	}
	return fmt.Sprintf("notified %s %s %s", e.Job, from, strings.Join(parts, " "))
}

func (e ConfigRejected) String() string {
	return fmt.Sprintf("config-rejected file=%s errors=%d", e.File, len(e.Errors))
}

func (e ConfigRestored) String() string { return "config-restored file=" + e.File }

func (e Spawned) String() string {
	return fmt.Sprintf("spawned %s attempt=%d pid=%d", e.Job, e.Attempt, e.PID)
}

func (e SpawnFailed) String() string {
	return fmt.Sprintf("spawn-failed %s attempt=%d reason=%q", e.Job, e.Attempt, e.Reason)
}

func (e SpawnCancelled) String() string {
	return fmt.Sprintf("spawn-cancelled %s attempt=%d", e.Job, e.Attempt)
}

func (e ExecFailed) String() string {
	return fmt.Sprintf("exec-failed %s pid=%d reason=%q", e.Job, e.PID, e.Reason)
}

func (e Exited) String() string {
	if e.OOM {
		return fmt.Sprintf("exited pid=%d signal=%d oom", e.PID, e.Signal)
	}
	if e.Signal != 0 {
		return fmt.Sprintf("exited pid=%d signal=%d", e.PID, e.Signal)
	}
	return fmt.Sprintf("exited pid=%d status=%d", e.PID, e.Status)
}

func (e DepChanged) String() string {
	if e.Missing && e.Reason != "" {
		return fmt.Sprintf("dep-missing %s reason=%q", e.Path, e.Reason)
	}
	if e.Missing {
		return fmt.Sprintf("dep-missing %s", e.Path)
	}
	return fmt.Sprintf("dep-changed %s hash=%s", e.Path, e.Hash)
}

func (e Control) String() string {
	if e.Via != "" {
		return fmt.Sprintf("control %s %s from=%s via=%s", e.Verb, strings.Join(e.Names, " "), e.From, e.Via)
	}
	return fmt.Sprintf("control %s %s from=%s", e.Verb, strings.Join(e.Names, " "), e.From)
}

func (e Shutdown) String() string { return fmt.Sprintf("shutdown signal=%d", e.Signal) }
