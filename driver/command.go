package driver

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"pmtr/confgrammar"
	"pmtr/core"
)

// Exit codes of local commands (pmtr status follows the LSB for services).
const (
	CodeOK      = 0
	CodeFailed  = 1 // the command could not be done (a failed start, a rejected reload)
	CodeDown    = 3 // status: a listed job is not running while it should
	CodeUnknown = 4 // a name is not a job of the config in force
)

// Command is a control request from the local socket: pmtr stop, start or
// restart. By names the caller for the log ("uid 0 pid 4711"), Who for
// the jobs' status ("uid 0"; empty: By). With Wait, the answer comes once
// every job got there (its group gone, or its new process running); else
// at once.
type Command struct {
	Verb  core.Verb // Disable (stop), Enable (start) or Restart
	Names []string
	By    string
	Who   string
	Wait  bool
	Reply chan<- Result
}

// Result answers a local command: an exit code and one line per job.
type Result struct {
	Code  int
	Lines []string
}

// WhyQuery asks why a job is in its state; At words the machine's times.
type WhyQuery struct {
	Name  string
	At    func(core.Time) string
	Reply chan<- Result
}

// controlWords are the control socket's words for the core's verbs
// (pmtr stop, start, restart); UDP keeps the C words (disable, enable).
var controlWords = map[core.Verb]string{core.Disable: "stop", core.Enable: "start", core.Restart: "restart"}

// ControlVerb decodes the control socket's word for a core verb.
func ControlVerb(word string) (core.Verb, bool) {
	for v, w := range controlWords {
		if w == word {
			return v, true
		}
	}
	return "", false
}

func (Command) isInput()  {}
func (WhyQuery) isInput() {}

func (c Command) String() string {
	return fmt.Sprintf("command %s %s by %s", c.Verb, strings.Join(c.Names, " "), c.By)
}
func (q WhyQuery) String() string { return "why " + q.Name }

// waiter is a command waiting for its jobs to get where it asked.
type waiter struct {
	cmd    Command
	before map[string]int // pid of each job when asked
	since  core.Time
}

// maxWait: a waiter older than this is answered with what there is (the
// client has given up by then).
const maxWait = core.Time(60e9)

// unknownJobs returns an error line per name not in the config in force.
func (d *Driver) unknownJobs(names []string) []string {
	known := d.m.Names()
	var out []string
	for _, n := range names {
		if !slices.Contains(known, n) {
			out = append(out, fmt.Sprintf("no job named %q in %s%s", n, d.o.ConfigPath, confgrammar.Suggest(n, known)))
		}
	}
	return out
}

func (d *Driver) command(c Command) {
	if bad := d.unknownJobs(c.Names); len(bad) > 0 {
		c.Reply <- Result{Code: CodeUnknown, Lines: bad}
		return
	}
	w := &waiter{cmd: c, before: map[string]int{}, since: d.b.Now()}
	for _, n := range c.Names {
		st, _ := d.m.JobStatus(n)
		w.before[n] = st.PID
	}
	verb := controlWords[c.Verb]
	d.b.Log(core.Log{Level: core.Info, Text: fmt.Sprintf("control: %s %s by %s", verb, strings.Join(c.Names, " "), c.By)})
	who := cmp.Or(c.Who, c.By)
	d.step(w.since, core.Control{Verb: c.Verb, Names: c.Names, From: who})
	if c.Verb == core.Enable { // a job that had finished for good runs again
		var done []string
		for _, n := range c.Names {
			if st, _ := d.m.JobStatus(n); st.State == core.Done {
				done = append(done, n)
			}
		}
		if len(done) > 0 {
			d.step(w.since, core.Control{Verb: core.Restart, Names: done, From: who})
		}
	}
	if !c.Wait {
		c.Reply <- Result{Lines: []string{verb + " requested: " + strings.Join(c.Names, " ")}}
		return
	}
	d.waiters = append(d.waiters, w)
	d.checkWaiters()
}

// checkWaiters answers every waiting command whose jobs are all where it
// asked them to be, and sets when to look again without an input (a new
// process that has not been up for StayUp yet).
func (d *Driver) checkWaiters() {
	now := d.b.Now()
	d.waitWake = core.Never
	kept := d.waiters[:0]
	for _, w := range d.waiters {
		r, done, wake := d.progress(w, now)
		if !done && now-w.since < maxWait {
			kept = append(kept, w)
			d.waitWake = earliest(d.waitWake, earliest(wake, w.since+maxWait))
			continue
		}
		if !done {
			r.Code = CodeFailed
		}
		w.cmd.Reply <- r
	}
	d.waiters = kept
}

func earliest(a, b core.Time) core.Time {
	if a == core.Never || b != core.Never && b < a {
		return b
	}
	return a
}

// progress words where each job of w stands, whether all are done, and
// when one of them will be without another input.
func (d *Driver) progress(w *waiter, now core.Time) (r Result, all bool, wake core.Time) {
	all, wake = true, core.Never
	for _, n := range w.cmd.Names {
		st, ok := d.m.JobStatus(n)
		o := outcome(w.cmd.Verb, st, ok, w.before[n], w.since, now)
		r.Lines = append(r.Lines, n+": "+o.line)
		all = all && o.done
		wake = earliest(wake, o.wake)
		if o.failed {
			r.Code = CodeFailed
		}
	}
	return r, all, wake
}

// StayUp is how long a process that pmtr start or restart began must run
// before the command calls it started (supervisord's startsecs): one that
// ends sooner did not start, and the command fails saying how it ended.
const StayUp = core.Time(1e9)

// progressLine is where one job of a waiting command stands.
type progressLine struct {
	line         string
	done, failed bool
	wake         core.Time // when it is done if nothing happens meanwhile, or Never
}

// outcome: where a job stands after stop (Disable), start (Enable) or
// restart asked at since; done when it got there or cannot get further.
func outcome(verb core.Verb, st core.JobStatus, ok bool, before int, since, now core.Time) progressLine {
	switch {
	case !ok:
		return progressLine{line: "removed from the config", done: true}
	case verb == core.Disable:
		if st.Up() || st.State == core.Starting || st.State == core.Stopping {
			return progressLine{line: "stopping", wake: core.Never}
		}
		return progressLine{line: "stopped", done: true}
	case st.Up() && st.State != core.Starting && verb == core.Enable && st.PID == before:
		return progressLine{line: fmt.Sprintf("running [%d]", st.PID), done: true}
	case st.Up() && st.PID != before:
		return started(st, now)
	case newRunEnded(st, since):
		return ended(st)
	case st.State == core.Held || st.State == core.Gated || st.State == core.Disabled || st.State == core.Done:
		return progressLine{line: fmt.Sprintf("not started: %s (%s)", st.State, st.Reason), done: true, failed: st.State == core.Disabled}
	}
	return progressLine{line: string(st.State), wake: core.Never}
}

// started: a new process counts as started once it has been up for
// StayUp; one with a ready condition (issue 23), once it is ready.
func started(st core.JobStatus, now core.Time) progressLine {
	switch {
	case st.HasReady && st.Ready:
		return progressLine{line: fmt.Sprintf("started [%d], ready", st.PID), done: true}
	case st.HasReady:
		return progressLine{line: fmt.Sprintf("running [%d], not ready yet", st.PID), wake: core.Never}
	}
	if up := st.StartedAt + StayUp; now < up {
		return progressLine{line: fmt.Sprintf("running [%d], not up for %v yet", st.PID, time.Duration(StayUp)), wake: up}
	}
	return progressLine{line: fmt.Sprintf("started [%d]", st.PID), done: true}
}

// newRunEnded: a process started after the command (at since) has ended,
// or a start after it failed, and none runs now.
func newRunEnded(st core.JobStatus, since core.Time) bool {
	if !st.HasExited || st.LastExitAt < since || st.Up() || st.State == core.Starting || st.State == core.Stopping {
		return false
	}
	return st.StartedAt >= since || strings.HasPrefix(st.LastExit, failedToStart)
}

// failedToStart begins the core's LastExit of a start that failed.
const failedToStart = "failed to start"

// ended: the job's process ended, or could not start, after the command:
// a failure, unless the job finished as intended (once, exit 33).
func ended(st core.JobStatus) progressLine {
	if st.State == core.Done {
		return progressLine{line: fmt.Sprintf("finished: %s (%s)", exitText(st), st.Reason), done: true}
	}
	if strings.HasPrefix(st.LastExit, failedToStart) {
		return progressLine{line: st.LastExit, done: true, failed: true}
	}
	lived := time.Duration(st.LastExitAt - st.StartedAt).Round(time.Millisecond)
	return progressLine{line: fmt.Sprintf("exited after %v with %s (it did not stay up %v)", lived, exitText(st), time.Duration(StayUp)),
		done: true, failed: true}
}

func exitText(st core.JobStatus) string {
	if st.LastSignal != 0 {
		return fmt.Sprintf("signal %d", st.LastSignal)
	}
	return fmt.Sprintf("exit status %d", st.LastCode)
}

// why answers a WhyQuery.
func (d *Driver) why(q WhyQuery) {
	if bad := d.unknownJobs([]string{q.Name}); len(bad) > 0 {
		q.Reply <- Result{Code: CodeUnknown, Lines: bad}
		return
	}
	sentence, history, _ := d.m.Why(q.Name, q.At)
	r := Result{Lines: []string{q.Name + ": " + sentence}}
	if line := d.contain.Line(q.At); line != "" {
		r.Lines = append(r.Lines, line)
	}
	if len(history) > 0 {
		r.Lines = append(r.Lines, "", "last events:")
	}
	for _, e := range history {
		r.Lines = append(r.Lines, "  "+q.At(e.At)+"  "+e.Text)
	}
	q.Reply <- r
}

// StatusCode is the exit code of pmtr status for the listed jobs (all when
// none is listed), LSB style: 0 when each runs or finished as intended, 3
// when one is down while it should run, is stopped by control, is not ready
// or fails its checks, or (no job listed) when the config file on disk was
// refused, 4 for an unknown name (with a line for each).
func StatusCode(s Snapshot, names []string) (int, []string) {
	if len(names) == 0 {
		if s.Config.Refused != nil {
			return CodeDown, nil
		}
		return codeOf(s.Jobs), nil
	}
	var picked []core.JobStatus
	var bad, known []string
	for _, j := range s.Jobs {
		if !strings.HasSuffix(j.Name, "(deleted)") {
			known = append(known, j.Name)
		}
	}
	for _, n := range names {
		i := slices.IndexFunc(s.Jobs, func(j core.JobStatus) bool { return j.Name == n })
		if i < 0 {
			bad = append(bad, fmt.Sprintf("no job named %q in %s%s", n, s.Config.Path, confgrammar.Suggest(n, known)))
			continue
		}
		picked = append(picked, s.Jobs[i])
	}
	if len(bad) > 0 {
		return CodeUnknown, bad
	}
	return codeOf(picked), nil
}

// Unready names the jobs that keep pmtr from being healthy (its /healthz):
// every job that should run must be ready (or running, without a ready
// condition) and pass its checks. A removed job, one that finished as
// intended (done), and one disabled by the config or stopped by control
// do not count.
func Unready(s Snapshot) []string {
	var out []string
	for _, j := range s.Jobs {
		switch {
		case strings.HasSuffix(j.Name, "(deleted)"), j.State == core.Done, j.State == core.Disabled:
		case j.State == core.Stopped && j.Control == core.Disable:
		case j.State == core.Running, j.State == core.ReadyState:
		default:
			out = append(out, j.Name)
		}
	}
	return out
}

func codeOf(jobs []core.JobStatus) int {
	for _, j := range jobs {
		switch {
		case strings.HasSuffix(j.Name, "(deleted)"):
		case j.State == core.Starting && j.PID != 0: // started, not ready yet
			return CodeDown
		case j.State == core.Running || j.State == core.ReadyState || j.State == core.Starting || j.State == core.Done:
		case j.State == core.Disabled: // by the config (a stop by control is Stopped)
		default:
			return CodeDown
		}
	}
	return CodeOK
}
