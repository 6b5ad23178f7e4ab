package confgrammar

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RestartMode says whether a job is started again after it ended by itself.
type RestartMode int

// The restart modes; the zero value is C pmtr's rule.
const (
	RestartAlways    RestartMode = iota // after every exit (exit 33 and once aside)
	RestartOnFailure                    // not after a successful exit (see Job.Success)
	RestartNever                        // never: the same as once
)

var restartWords = []string{"always", "on-failure", "never"}

func (r RestartMode) String() string {
	if r < 0 || int(r) >= len(restartWords) {
		return "restart(" + strconv.Itoa(int(r)) + ")"
	}
	return restartWords[r]
}

// Backoff spaces the starts after failed runs: the n-th failed run in a row
// waits First*2^(n-1), at most Max. The zero value is C pmtr's flat 10 s.
type Backoff struct{ First, Max time.Duration }

// GiveUp stops retrying a job after Runs failed runs within Window; it is
// tried again Retry later, or never when Retry is 0. The zero value (Runs
// 0) never gives up.
type GiveUp struct {
	Runs   int
	Window time.Duration
	Retry  time.Duration
}

// The bounds of the policy options.
const (
	MaxGiveUpRuns = 1000                           // give-up N: the core keeps N exit times per job
	maxDuration   = 100 * 365 * 24 * time.Hour     // longer waits are surely mistakes
	maxExitCode   = 255                            // an exit status is one byte
	maxSignal     = 64                             // SIGRTMAX on Linux
	sigStop       = 19                             // pauses, never ends a job
	policyHelp    = "ms, s, m, h or d, e.g. 500ms" // the units of a duration
)

// signalNumbers are the Linux signal numbers (x86, arm and most others), by
// the name kill(1) takes without its SIG prefix.
var signalNumbers = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
	"KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16,
	"CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24,
	"XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}

// SignalName is the usual name of a signal number ("SIGQUIT"), or the number.
func SignalName(n int) string {
	best := ""
	for name, k := range signalNumbers {
		// IOT and POLL are aliases: the other name is the usual one.
		if k == n && name != "IOT" && name != "POLL" && (best == "" || name < best) {
			best = name
		}
	}
	if best == "" {
		return strconv.Itoa(n)
	}
	return "SIG" + best
}

// parseSignal reads SIGQUIT, QUIT, quit or a number.
func parseSignal(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > maxSignal {
			return 0, fmt.Errorf("signal %d out of range 1 to %d", n, maxSignal)
		}
		return checkStopSignal(n)
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	n, ok := signalNumbers[name]
	if !ok {
		names := make([]string, 0, len(signalNumbers))
		for k := range signalNumbers {
			names = append(names, "SIG"+k)
		}
		slices.Sort(names)
		return 0, fmt.Errorf("unknown signal %q%s (write a name as kill -l lists it, e.g. SIGQUIT, or a number)",
			s, suggest("SIG"+name, names))
	}
	return checkStopSignal(n)
}

func checkStopSignal(n int) (int, error) {
	if n == sigStop {
		return 0, fmt.Errorf("SIGSTOP only pauses a job, it never ends it (use SIGTERM, SIGINT, SIGQUIT...)")
	}
	return n, nil
}

func durationUnit(s string) (time.Duration, string, bool) {
	if strings.HasSuffix(s, "ms") {
		return time.Millisecond, s[:len(s)-2], true
	}
	if s == "" {
		return 0, "", false
	}
	u, ok := intervalUnit(s[len(s)-1])
	return u, s[:len(s)-1], ok
}

// parseDuration reads "<n><unit>", unit one of ms s m h d, n >= 1; what
// names the value in messages ("backoff delay").
func parseDuration(s, what string) (time.Duration, error) {
	unit, num, ok := durationUnit(s)
	if !ok {
		if _, err := strconv.ParseUint(s, 10, 64); err == nil {
			return 0, fmt.Errorf("%s %q has no unit (add %s)", what, s, policyHelp)
		}
		return 0, fmt.Errorf("invalid time unit in %s %q (use %s)", what, s, policyHelp)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q (write a whole number and a unit: %s)", what, s, policyHelp)
	}
	if n == 0 {
		return 0, fmt.Errorf("%s %q must be at least 1ms", what, s)
	}
	if n > uint64(maxDuration/unit) {
		return 0, fmt.Errorf("%s %q is too long (at most 100 years)", what, s)
	}
	return time.Duration(n) * unit, nil
}

// FormatDuration prints a duration with the largest exact unit, down to ms.
func FormatDuration(d time.Duration) string {
	if d%time.Second != 0 {
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	return FormatInterval(d)
}

// lineWords consumes the words that follow the keyword kw on its own line;
// a quoted one is reported (only cmd arguments may be quoted).
func (p *parser) lineWords(kw token) ([]token, bool) {
	var out []token
	ok := true
	p.advance()
	for (p.tok.kind == tkBare || p.tok.kind == tkQuoted) && p.tok.pos.Line == kw.pos.Line {
		if p.tok.kind == tkQuoted {
			p.errAt(p.tok.pos, "the value of %s cannot be quoted (only cmd arguments may be quoted)", kw.text)
			ok = false
		}
		out = append(out, p.tok)
		p.advance()
	}
	return out, ok
}

// parsePolicy reads the options of the restart policy (issue 24): restart,
// success, backoff, stable, give-up, stop signal, stop timeout, critical.
func (p *parser) parsePolicy(b *jobBuilder, kw token) {
	words, ok := p.lineWords(kw)
	if kw.text == "stop" && len(words) > 0 && (words[0].text == "signal" || words[0].text == "timeout") {
		kw = token{kind: kw.kind, text: "stop " + words[0].text, pos: kw.pos}
		words = words[1:]
		b.key = kw.text
	}
	first := p.once(b, kw)
	if !ok || !first {
		return
	}
	j := &b.job
	switch kw.text {
	case "critical":
		if len(words) > 0 {
			p.errAt(words[0].pos, "critical takes no value (write it alone on its line)")
			return
		}
		j.Critical = true
	case "restart":
		p.parseRestart(j, kw, words)
	case "success":
		p.parseSuccess(j, kw, words)
	case "backoff":
		p.parseBackoff(j, kw, words)
	case "stable":
		if v, ok := p.single(kw, words, "stable 30s"); ok {
			j.Stable = p.duration(v, "stable time")
		}
	case "give-up":
		p.parseGiveUp(j, kw, words)
	case "stop signal":
		if v, ok := p.single(kw, words, "stop signal SIGQUIT"); ok {
			n, err := parseSignal(v.text)
			p.report(v, err)
			j.StopSignal = n
		}
	case "stop timeout":
		if v, ok := p.single(kw, words, "stop timeout 30s"); ok {
			j.StopTimeout = p.duration(v, "stop timeout")
		}
	default: // "stop" followed by neither signal nor timeout
		p.errAt(kw.pos, "stop must be followed by signal or timeout (write: stop signal SIGQUIT, or stop timeout 30s)")
	}
}

// single checks that exactly one word follows kw.
func (p *parser) single(kw token, words []token, example string) (token, bool) {
	switch {
	case len(words) == 0:
		p.errAt(kw.pos, "missing value after %s (write e.g. %s)", kw.text, example)
		return token{}, false
	case len(words) > 1:
		p.errAt(words[1].pos, "%s takes one value, found %q after it (write e.g. %s)", kw.text, ShortWord(words[1].text), example)
		return token{}, false
	}
	return words[0], true
}

func (p *parser) report(at token, err error) {
	if err != nil {
		p.errAt(at.pos, "%v", err)
	}
}

// duration parses a duration word, reporting an error at it (then 0).
func (p *parser) duration(v token, what string) time.Duration {
	d, err := parseDuration(v.text, what)
	p.report(v, err)
	return d
}

func (p *parser) parseRestart(j *Job, kw token, words []token) {
	v, ok := p.single(kw, words, "restart on-failure")
	if !ok {
		return
	}
	i := slices.Index(restartWords, v.text)
	if i < 0 {
		p.errAt(v.pos, "unknown restart mode %q%s (write always, on-failure or never)", ShortWord(v.text), suggest(v.text, restartWords))
		return
	}
	j.Restart = RestartMode(i)
}

func (p *parser) parseSuccess(j *Job, kw token, words []token) {
	if len(words) == 0 {
		p.errAt(kw.pos, "missing exit codes after success (write e.g. success 0 3)")
		return
	}
	var codes []int
	for _, w := range words {
		n, err := parseInt(w.text, "exit code", 0, maxExitCode)
		if err != nil {
			p.errAt(w.pos, "%v", err)
			return
		}
		codes = append(codes, n)
	}
	slices.Sort(codes)
	j.Success = slices.Compact(codes)
}

func (p *parser) parseBackoff(j *Job, kw token, words []token) {
	const example = "backoff 1s max 5m"
	switch {
	case len(words) == 0:
		p.errAt(kw.pos, "missing delays after backoff (write e.g. %s)", example)
		return
	case len(words) < 3 || words[1].text != "max":
		at := kw.pos
		if len(words) > 1 {
			at = words[1].pos
		}
		p.errAt(at, "backoff needs its cap: write backoff FIRST max MAX, e.g. %s", example)
		return
	case len(words) > 3:
		p.errAt(words[3].pos, "unexpected %q after backoff %s max %s", ShortWord(words[3].text), words[0].text, words[2].text)
		return
	}
	first, max := p.duration(words[0], "backoff delay"), p.duration(words[2], "backoff cap")
	if first == 0 || max == 0 {
		return
	}
	if max < first {
		p.errAt(words[2].pos, "backoff cap %s is below the first delay %s (write a cap of at least %s)", words[2].text, words[0].text, words[0].text)
		return
	}
	j.Backoff = Backoff{First: first, Max: max}
}

func (p *parser) parseGiveUp(j *Job, kw token, words []token) {
	const example = "give-up 5 in 1m retry 10m"
	if len(words) == 0 {
		p.errAt(kw.pos, "missing values after give-up (write e.g. %s, or retry never)", example)
		return
	}
	n, err := parseInt(words[0].text, "give-up count", 1, MaxGiveUpRuns)
	if err != nil {
		if words[0].text == "0" {
			err = fmt.Errorf("give-up 0 would give up before the first run (write at least 1, e.g. %s)", example)
		}
		p.errAt(words[0].pos, "%v", err)
		return
	}
	if len(words) != 5 || words[1].text != "in" || words[3].text != "retry" {
		at := kw.pos
		if len(words) > 1 {
			at = words[1].pos
		}
		p.errAt(at, "give-up needs a window and a retry: write give-up N in WINDOW retry AFTER (or retry never), e.g. %s", example)
		return
	}
	g := GiveUp{Runs: n, Window: p.duration(words[2], "give-up window")}
	if words[4].text != "never" {
		g.Retry = p.duration(words[4], "retry delay")
		if g.Retry == 0 {
			return
		}
	}
	if g.Window != 0 {
		j.GiveUp = g
	}
}

// checkPolicy reports options of one job that contradict each other.
func (a *assembler) checkPolicy(b *jobBuilder) {
	j := &b.job
	if _, ok := b.seen["once"]; ok && j.Restart != RestartNever {
		if _, ok := b.seen["restart"]; ok {
			kw := b.later("once", "restart")
			a.errAt(b.fileOf(kw), b.seen[kw], "once and restart %s contradict each other (once means restart never; keep one)", j.Restart)
		}
	}
	warn := func(kw, format string, args ...any) { a.warnAt(b.fileOf(kw), b.seen[kw], format, args...) }
	if j.Restart == RestartNever || j.Once {
		for _, kw := range []string{"backoff", "give-up"} {
			if _, ok := b.seen[kw]; ok {
				warn(kw, "job %s never restarts (once or restart never), so %s never applies", j.Name, kw)
			}
		}
	}
	if _, ok := b.seen["success"]; ok && j.Restart != RestartOnFailure {
		warn("success", "job %s: success codes count only with restart on-failure (add it, or remove success)", j.Name)
	}
	if j.Critical && j.GiveUp.Runs == 0 {
		for _, kw := range []string{"restart", "backoff", "stable"} {
			if _, ok := b.seen[kw]; ok {
				warn(kw, "job %s is critical without give-up: its first exit ends pmtr, so %s never applies (add give-up to retry it first)", j.Name, kw)
			}
		}
	}
	if j.GiveUp.Runs > 1 && j.Backoff.First > 0 {
		if least := backoffSpan(j.Backoff, j.GiveUp.Runs); least > j.GiveUp.Window {
			warn("give-up", "job %s: %d failed runs take at least %v with backoff %s max %s, longer than the give-up window %s: it never gives up",
				j.Name, j.GiveUp.Runs, least.Round(time.Millisecond), FormatDuration(j.Backoff.First), FormatDuration(j.Backoff.Max), FormatDuration(j.GiveUp.Window))
		}
	}
	a.warnStableBeforeReady(b)
}

// warnStableBeforeReady: a run that has lived stable counts as no failure
// (and resets the backoff) even if it never became ready, when stable is
// set shorter than the job's ready timeout.
func (a *assembler) warnStableBeforeReady(b *jobBuilder) {
	j := &b.job
	at, ok := b.seen["stable"]
	if !ok || j.Stable == 0 || j.Ready.Kind == NoProbe {
		return
	}
	timeout := j.ReadyTimeout
	if timeout == 0 {
		timeout = DefaultReadyTimeout
	}
	if j.Stable < timeout {
		a.warnAt(b.fileOf("stable"), at, "job %s: stable %s is shorter than its ready timeout %s: a run that never became ready still counts as stable (and resets the backoff) once it has lived %s (make stable at least the ready timeout)",
			j.Name, FormatDuration(j.Stable), FormatDuration(timeout), FormatDuration(j.Stable))
	}
}

// backoffSpan is the shortest time from the first to the n-th failed run
// in a row: the waits between them, each at its jitter's low end.
func backoffSpan(b Backoff, n int) time.Duration {
	var sum time.Duration
	d := b.First
	for k := 1; k < n; k++ {
		sum += d - d/10
		if sum > maxDuration {
			return sum
		}
		d = min(2*d, b.Max)
	}
	return sum
}

// later is the one of the options k1 and k2 that was set later: the one
// an override set, or the later in the block.
func (b *jobBuilder) later(k1, k2 string) string {
	_, over1 := b.from[k1]
	_, over2 := b.from[k2]
	switch {
	case over1 != over2 && over1:
		return k1
	case over1 != over2:
		return k2
	case comparePos(b.seen[k1], b.seen[k2]) > 0:
		return k1
	}
	return k2
}

// formatPolicy writes the policy options of a job in canonical syntax.
func formatPolicy(line func(kw, v string), j *Job) {
	if j.Restart != RestartAlways {
		line("restart", j.Restart.String())
	}
	if len(j.Success) > 0 {
		codes := make([]string, len(j.Success))
		for i, c := range j.Success {
			codes[i] = strconv.Itoa(c)
		}
		line("success", strings.Join(codes, " "))
	}
	if j.Backoff.First > 0 {
		line("backoff", FormatBackoff(j.Backoff))
	}
	if j.Stable > 0 {
		line("stable", FormatDuration(j.Stable))
	}
	if j.GiveUp.Runs > 0 {
		line("give-up", FormatGiveUp(j.GiveUp))
	}
	if j.StopSignal != 0 {
		line("stop signal", SignalName(j.StopSignal))
	}
	if j.StopTimeout > 0 {
		line("stop timeout", FormatDuration(j.StopTimeout))
	}
}

// FormatBackoff prints a backoff as pmtr.conf writes it after the keyword.
func FormatBackoff(b Backoff) string {
	return FormatDuration(b.First) + " max " + FormatDuration(b.Max)
}

// FormatGiveUp prints a give-up as pmtr.conf writes it after the keyword.
func FormatGiveUp(g GiveUp) string {
	retry := "never"
	if g.Retry > 0 {
		retry = FormatDuration(g.Retry)
	}
	return fmt.Sprintf("%d in %s retry %s", g.Runs, FormatDuration(g.Window), retry)
}
