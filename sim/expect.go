package sim

import (
	"fmt"
	"regexp"

	"pmtr/core"
)

// check tests one expectation now; a failure is recorded with the file,
// line and time.
func (r *runner) check(x Expectation) {
	if msg := r.verdict(x); msg != "" {
		r.res.Failures = append(r.res.Failures,
			fmt.Sprintf("%s:%d: at %v: %s", r.s.File, x.Line, r.w.Now, msg))
	}
}

// verdict returns why x does not hold, or "".
func (r *runner) verdict(x Expectation) string {
	switch {
	case x.Running != "":
		if st := r.state(x.Running); st.PID == 0 {
			return fmt.Sprintf("expected job %s running, but it is %s", x.Running, st.State)
		}
	case x.Stopped != "":
		if st := r.state(x.Stopped); st.PID != 0 {
			return fmt.Sprintf("expected job %s stopped, but it is %s as pid %d", x.Stopped, st.State, st.PID)
		}
	case x.State != nil:
		if st := r.state(x.State.Job); st.State != x.State.State {
			return fmt.Sprintf("expected job %s %s, but it is %s", x.State.Job, x.State.State, st.State)
		}
	case x.Starts != nil:
		return r.startsVerdict(x.Starts)
	case x.Why != nil:
		s, _, ok := r.w.M.Why(x.Why.Job, core.Time.String)
		if !ok {
			return fmt.Sprintf("no job %s to ask why", x.Why.Job)
		}
		if !regexp.MustCompile(x.Why.Matches).MatchString(s) {
			return fmt.Sprintf("why %s: %q does not match %q", x.Why.Job, s, x.Why.Matches)
		}
	case x.Log != "":
		if !r.logged(x.Log) {
			return fmt.Sprintf("no log line matches %q", x.Log)
		}
	case x.ExitCode != nil:
		code, _ := r.w.M.ExitCode()
		switch {
		case !r.w.Done():
			return fmt.Sprintf("expected pmtr to have exited %d, but it still runs", *x.ExitCode)
		case code != *x.ExitCode:
			return fmt.Sprintf("expected pmtr to exit %d, but it exits %d%s", *x.ExitCode, code, because(r.w.M.ExitCause()))
		}
	case x.NoLog != "":
		if l := r.firstLog(x.NoLog); l != "" {
			return fmt.Sprintf("log line %q matches %q, which must never appear", l, x.NoLog)
		}
	}
	return ""
}

func because(cause string) string {
	if cause == "" {
		return ""
	}
	return " (" + cause + ")"
}

func (r *runner) state(name string) core.JobStatus {
	for _, st := range r.w.M.Status() {
		if st.Name == name {
			return st
		}
	}
	return core.JobStatus{Name: name, State: notInConfig}
}

func (r *runner) startsVerdict(w *StartsWant) string {
	to := core.Time(w.To)
	if to == 0 {
		to = r.w.Now
	}
	n := 0
	for _, at := range r.began[w.Job] {
		if at >= core.Time(w.From) && at <= to {
			n++
		}
	}
	window := fmt.Sprintf("between %v and %v", core.Time(w.From), to)
	switch {
	case w.Count != nil && n != *w.Count:
		return fmt.Sprintf("expected job %s started %d times %s, got %d", w.Job, *w.Count, window, n)
	case w.Min != nil && n < *w.Min:
		return fmt.Sprintf("expected job %s started at least %d times %s, got %d", w.Job, *w.Min, window, n)
	case w.Max != nil && n > *w.Max:
		return fmt.Sprintf("expected job %s started at most %d times %s, got %d", w.Job, *w.Max, window, n)
	}
	return ""
}

// notInConfig is the state of a job the config does not have (in sim
// expectations only).
const notInConfig core.State = "not in the config"

func (r *runner) logged(pattern string) bool { return r.firstLog(pattern) != "" }

func (r *runner) firstLog(pattern string) string {
	rx := regexp.MustCompile(pattern)
	for _, l := range r.w.Logs() {
		if rx.MatchString(l) {
			return l
		}
	}
	return ""
}
