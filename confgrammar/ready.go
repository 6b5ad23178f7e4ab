package confgrammar

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Readiness and health (issue 23): when a job counts as ready (ready),
// which jobs must be ready before it starts (after), how its health is
// checked while it runs (check, watchdog) and what a failing check does
// (on-check-fail). The rules live in the core; this file only reads and
// writes the options.

// ProbeKind is how pmtr learns that a job is ready or healthy.
type ProbeKind int

// The probe kinds; notify and fd are for ready only.
const (
	NoProbe     ProbeKind = iota
	ProbeTCP              // a TCP connect to HOST:PORT succeeds
	ProbeHTTP             // GET URL answers 2xx or 3xx
	ProbeExec             // a program exits 0
	ProbeFile             // a path exists
	ProbeNotify           // the job sends READY=1 on $NOTIFY_SOCKET (sd_notify)
	ProbeFD               // the job writes a newline to a descriptor (s6's notification-fd)
)

var probeWords = []string{"", "tcp", "http", "exec", "file", "notify", "fd"}

func (k ProbeKind) String() string {
	if k < 0 || int(k) >= len(probeWords) {
		return "probe(" + strconv.Itoa(int(k)) + ")"
	}
	return probeWords[k]
}

// Probe is a ready or check condition. The zero value is none.
type Probe struct {
	Kind   ProbeKind
	Target string   // tcp: HOST:PORT; http: the URL; file: the absolute path
	Argv   []string // exec: the program and its arguments (not searched in PATH)
	FD     int      // fd: the descriptor the job writes its newline to (3 or more)
}

// Equal: the same condition.
func (p Probe) Equal(o Probe) bool {
	return p.Kind == o.Kind && p.Target == o.Target && p.FD == o.FD && slices.Equal(p.Argv, o.Argv)
}

// Check is a health check: its probe every Every, each attempt bounded by
// Timeout; Fails failures in a row trigger the job's on-check-fail.
type Check struct {
	Probe   Probe
	Every   time.Duration // 0 = DefaultCheckEvery
	Timeout time.Duration // 0 = DefaultCheckTimeout
	Fails   int           // 0 = DefaultCheckFails
}

// Equal: the same check.
func (c Check) Equal(o Check) bool {
	return c.Probe.Equal(o.Probe) && c.Every == o.Every && c.Timeout == o.Timeout && c.Fails == o.Fails
}

// CheckAction is what fails failed checks in a row (or a missed watchdog) do.
type CheckAction int

// The actions; the zero value is restart.
const (
	CheckRestart  CheckAction = iota // stop the job, start it again at once
	CheckStop                        // stop it until pmtr start or an edit of the job
	CheckShutdown                    // stop every job; pmtr exits ExitCheckFailed
	CheckIgnore                      // log, status and metrics only
)

var checkActionWords = []string{"restart", "stop", "shutdown", "ignore"}

func (a CheckAction) String() string {
	if a < 0 || int(a) >= len(checkActionWords) {
		return "action(" + strconv.Itoa(int(a)) + ")"
	}
	return checkActionWords[a]
}

// The defaults of the readiness and health options, and their bounds.
const (
	DefaultReadyTimeout = 60 * time.Second
	DefaultCheckEvery   = 10 * time.Second
	DefaultCheckTimeout = time.Second
	DefaultCheckFails   = 3
	MaxCheckFails       = 1000
	minProbeInterval    = 100 * time.Millisecond // every, watchdog, ready timeout: shorter is surely a mistake
	maxFD               = 1023                   // below the usual open-file limit
)

// ExitCheckFailed is pmtr's exit code after on-check-fail shutdown.
const ExitCheckFailed = 3

// ReadyTimeoutOf is the job's ready timeout, its default applied.
func (j *Job) ReadyTimeoutOf() time.Duration {
	if j.ReadyTimeout > 0 {
		return j.ReadyTimeout
	}
	return DefaultReadyTimeout
}

// EveryOf, TimeoutOf and FailsOf are the check's values, defaults applied.
func (c Check) EveryOf() time.Duration   { return orDuration(c.Every, DefaultCheckEvery) }
func (c Check) TimeoutOf() time.Duration { return orDuration(c.Timeout, DefaultCheckTimeout) }
func (c Check) FailsOf() int {
	if c.Fails > 0 {
		return c.Fails
	}
	return DefaultCheckFails
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// UsesNotify: the job gets $NOTIFY_SOCKET (ready notify, or a watchdog).
func (j *Job) UsesNotify() bool { return j.Ready.Kind == ProbeNotify || j.Watchdog > 0 }

// probeLine reads the words after a ready or check keyword: bare or
// quoted (an exec probe's arguments may be quoted, as cmd's), on the
// keyword's line.
func (p *parser) probeLine(kw token) []token {
	var out []token
	p.advance()
	for (p.tok.kind == tkBare || p.tok.kind == tkQuoted) && p.tok.pos.Line == kw.pos.Line {
		out = append(out, p.tok)
		p.advance()
	}
	return out
}

const readyExample = "ready tcp 127.0.0.1:5432, ready http URL, ready exec PROGRAM, ready file PATH, ready notify or ready fd 3"

// parseReady reads "ready KIND ..." or "ready timeout D".
func (p *parser) parseReady(b *jobBuilder, kw token) {
	words := p.probeLine(kw)
	if len(words) > 0 && words[0].text == "timeout" && words[0].kind == tkBare {
		kw = token{kind: kw.kind, text: "ready timeout", pos: kw.pos}
		b.key = kw.text
		if first := p.once(b, kw); !first || !p.bare(kw, words[1:]) {
			return
		}
		if v, ok := p.single(kw, words[1:], "ready timeout 60s"); ok {
			b.job.ReadyTimeout = p.durationAtLeast(v, "ready timeout", "ready timeout 60s")
		}
		return
	}
	if !p.once(b, kw) {
		return
	}
	if len(words) == 0 {
		p.errAt(kw.pos, "missing condition after ready (write e.g. %s)", readyExample)
		return
	}
	pr, rest, ok := p.parseProbe(kw, words, true)
	if !ok {
		return
	}
	if len(rest) > 0 {
		p.errAt(rest[0].pos, "unexpected %q after ready %s (write one condition per ready line)", ShortWord(rest[0].text), pr.Kind)
		return
	}
	b.job.Ready = pr
}

// bare reports a quoted word among words (only exec arguments may be quoted).
func (p *parser) bare(kw token, words []token) bool {
	for _, w := range words {
		if w.kind == tkQuoted {
			p.errAt(w.pos, "the value of %s cannot be quoted (only the arguments of an exec probe may be quoted)", kw.text)
			return false
		}
	}
	return true
}

// parseProbe reads "KIND TARGET" (or "exec PROGRAM ARGS...") from words;
// rest is what follows it (for check: its options). forReady allows
// notify and fd.
func (p *parser) parseProbe(kw token, words []token, forReady bool) (pr Probe, rest []token, ok bool) {
	kind := words[0]
	i := slices.Index(probeWords, kind.text)
	if kind.kind == tkQuoted || i <= 0 {
		cands := probeWords[1:5]
		if forReady {
			cands = probeWords[1:]
		}
		p.errAt(kind.pos, "unknown %s kind %q%s (write one of %s)", kw.text, ShortWord(kind.text), suggest(kind.text, cands), strings.Join(cands, ", "))
		return pr, nil, false
	}
	pr.Kind = ProbeKind(i)
	args := words[1:]
	switch pr.Kind {
	case ProbeNotify:
		if !forReady {
			break
		}
		return pr, args, true
	case ProbeExec:
		argv, rest, ok := p.probeArgv(kw, args, !forReady)
		pr.Argv = argv
		return pr, rest, ok
	}
	if !forReady && (pr.Kind == ProbeNotify || pr.Kind == ProbeFD) {
		p.errAt(kind.pos, "check %s: notify and fd say when a job is ready; to check its health with sd_notify, use watchdog 30s (or check tcp, http, exec or file)", pr.Kind)
		return pr, nil, false
	}
	if len(args) == 0 || args[0].kind == tkQuoted {
		p.errAt(kind.pos, "missing %s after %s %s (write e.g. %s)", targetWord(pr.Kind), kw.text, pr.Kind, probeExample(kw.text, pr.Kind))
		return pr, nil, false
	}
	t := args[0]
	if err := setTarget(&pr, t.text); err != nil {
		p.errAt(t.pos, "%v (write e.g. %s)", err, probeExample(kw.text, pr.Kind))
		return pr, nil, false
	}
	return pr, args[1:], true
}

// probeArgv reads an exec probe's program and arguments; for a check
// (options), up to a bare every, timeout or fails: quote such a word to
// pass it to the program.
func (p *parser) probeArgv(kw token, args []token, options bool) (argv []string, rest []token, ok bool) {
	if len(args) == 0 {
		p.errAt(kw.pos, "missing program after %s exec (write e.g. %s exec /usr/bin/pg_isready -q)", kw.text, kw.text)
		return nil, nil, false
	}
	if args[0].kind == tkQuoted {
		p.errAt(args[0].pos, "the program of %s exec cannot be quoted (write it bare; only its arguments may be quoted)", kw.text)
		return nil, nil, false
	}
	for i, a := range args {
		if options && a.kind == tkBare && i > 0 && slices.Contains(checkOptions, a.text) {
			return argv, args[i:], true
		}
		argv = append(argv, a.text)
	}
	return argv, nil, true
}

var checkOptions = []string{"every", "timeout", "fails"}

func targetWord(k ProbeKind) string {
	switch k {
	case ProbeTCP:
		return "HOST:PORT"
	case ProbeHTTP:
		return "URL"
	case ProbeFile:
		return "path"
	}
	return "descriptor number"
}

func probeExample(kw string, k ProbeKind) string {
	switch k {
	case ProbeTCP:
		return kw + " tcp 127.0.0.1:5432"
	case ProbeHTTP:
		return kw + " http http://127.0.0.1:8080/healthz"
	case ProbeFile:
		return kw + " file /run/app.sock"
	}
	return kw + " fd 3"
}

// setTarget checks and stores a probe's target.
func setTarget(pr *Probe, s string) error {
	switch pr.Kind {
	case ProbeTCP:
		if err := checkHostPort(s); err != nil {
			return err
		}
	case ProbeHTTP:
		if err := checkURL(s); err != nil {
			return err
		}
	case ProbeFile:
		if !strings.HasPrefix(s, "/") {
			return fmt.Errorf("file path %q is not absolute", ShortWord(s))
		}
	case ProbeFD:
		n, err := parseInt(s, "descriptor", 3, maxFD)
		if err != nil {
			if n, e := strconv.Atoi(s); e == nil && n >= 0 && n < 3 {
				return fmt.Errorf("fd %d is the job's standard %s; use 3 or more", n, []string{"input", "output", "error"}[n])
			}
			return err
		}
		pr.FD = n
		return nil
	}
	pr.Target = s
	return nil
}

// checkHostPort checks HOST:PORT (HOST may be [IPv6]); the name is looked
// up at each attempt, not here.
func checkHostPort(s string) error {
	colon := strings.LastIndexByte(s, ':')
	if colon < 0 {
		return fmt.Errorf("tcp target %q needs a port: HOST:PORT", ShortWord(s))
	}
	host, port := s[:colon], s[colon+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	} else if strings.Contains(host, ":") {
		return fmt.Errorf("tcp target %q: write an IPv6 address in brackets, [::1]:PORT", ShortWord(s))
	}
	if host == "" {
		return fmt.Errorf("tcp target %q has no host", ShortWord(s))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q in tcp target %q out of range 1 to 65535", ShortWord(port), ShortWord(s))
	}
	return nil
}

// checkURL accepts an absolute http or https URL with a host.
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("bad URL %q", ShortWord(s))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("an http probe needs an http:// or https:// URL, found %q", ShortWord(s))
	case u.Host == "":
		return fmt.Errorf("URL %q has no host", ShortWord(s))
	}
	return nil
}

const checkExample = "check tcp 127.0.0.1:5432 every 10s timeout 2s fails 3"

// parseCheck reads "check KIND TARGET [every D] [timeout D] [fails N]".
func (p *parser) parseCheck(b *jobBuilder, kw token) {
	words := p.probeLine(kw)
	if !p.once(b, kw) {
		return
	}
	if len(words) == 0 {
		p.errAt(kw.pos, "missing probe after check (write e.g. %s)", checkExample)
		return
	}
	pr, rest, ok := p.parseProbe(kw, words, false)
	if !ok {
		return
	}
	c := Check{Probe: pr}
	seen := map[string]bool{}
	for len(rest) > 0 {
		opt := rest[0]
		if opt.kind == tkQuoted || !slices.Contains(checkOptions, opt.text) {
			p.errAt(opt.pos, "unexpected %q in check (after the probe come every, timeout and fails, e.g. %s)", ShortWord(opt.text), checkExample)
			return
		}
		if seen[opt.text] {
			p.errAt(opt.pos, "%s given twice in one check", opt.text)
			return
		}
		seen[opt.text] = true
		if len(rest) < 2 || rest[1].kind == tkQuoted {
			p.errAt(opt.pos, "missing value after %s (write e.g. %s)", opt.text, checkExample)
			return
		}
		if !p.checkOption(&c, opt.text, rest[1]) {
			return
		}
		rest = rest[2:]
	}
	if c.TimeoutOf() >= c.EveryOf() {
		p.warnAt(kw.pos, "job %s: check timeout %s is not shorter than its interval %s: a check still running at its next time is skipped",
			b.job.Name, FormatDuration(c.TimeoutOf()), FormatDuration(c.EveryOf()))
	}
	b.job.Check = c
}

func (p *parser) checkOption(c *Check, opt string, v token) bool {
	switch opt {
	case "every":
		c.Every = p.durationAtLeast(v, "check interval", "every 10s")
		return c.Every > 0
	case "timeout":
		c.Timeout = p.durationAtLeast(v, "check timeout", "timeout 2s")
		return c.Timeout > 0
	}
	n, err := parseInt(v.text, "fails", 1, MaxCheckFails)
	if err != nil {
		if v.text == "0" {
			err = fmt.Errorf("fails 0 would act before any check failed (write at least 1, e.g. fails 3)")
		}
		p.errAt(v.pos, "%v", err)
		return false
	}
	c.Fails = n
	return true
}

// durationAtLeast parses a duration of at least minProbeInterval,
// reporting an error (with an example) at v; 0 on error.
func (p *parser) durationAtLeast(v token, what, example string) time.Duration {
	d, err := parseDuration(v.text, what)
	if err != nil && !zeroDuration(v.text) {
		p.errAt(v.pos, "%v (write e.g. %s)", err, example)
		return 0
	}
	if d < minProbeInterval {
		p.errAt(v.pos, "%s %q must be at least %s (write e.g. %s)", what, v.text, FormatDuration(minProbeInterval), example)
		return 0
	}
	return d
}

// zeroDuration: "0s", "0ms", "00m"...: a well-formed duration of zero.
func zeroDuration(s string) bool {
	_, num, ok := durationUnit(s)
	return ok && num != "" && strings.Trim(num, "0") == ""
}

// parseOnCheckFail reads "on-check-fail restart|stop|shutdown|ignore".
func (p *parser) parseOnCheckFail(b *jobBuilder, kw token) {
	words, ok := p.lineWords(kw)
	if !p.once(b, kw) || !ok {
		return
	}
	v, ok := p.single(kw, words, "on-check-fail restart")
	if !ok {
		return
	}
	i := slices.Index(checkActionWords, v.text)
	if i < 0 {
		p.errAt(v.pos, "unknown on-check-fail action %q%s (write restart, stop, shutdown or ignore)", ShortWord(v.text), suggest(v.text, checkActionWords))
		return
	}
	b.job.OnCheckFail = CheckAction(i)
}

// parseWatchdog reads "watchdog D".
func (p *parser) parseWatchdog(b *jobBuilder, kw token) {
	words, ok := p.lineWords(kw)
	if !p.once(b, kw) || !ok {
		return
	}
	if v, ok := p.single(kw, words, "watchdog 30s"); ok {
		b.job.Watchdog = p.durationAtLeast(v, "watchdog", "watchdog 30s")
	}
}

// parseAfter reads "after NAME..."; several lines add up. The names are
// checked once every job is known (checkAfter).
func (p *parser) parseAfter(b *jobBuilder, kw token) {
	words, ok := p.lineWords(kw)
	if !ok {
		return
	}
	if len(words) == 0 {
		p.errAt(kw.pos, "missing job names after after (write e.g. after db cache)")
		return
	}
	for _, w := range words {
		if slices.Contains(b.job.After, w.text) {
			continue
		}
		b.job.After = append(b.job.After, w.text)
		b.afterPos = append(b.afterPos, w.pos)
	}
}

// checkReadiness reports the readiness options of one job that never apply.
func (a *assembler) checkReadiness(b *jobBuilder) {
	j := &b.job
	if at, ok := b.seen["ready timeout"]; ok && j.Ready.Kind == NoProbe {
		a.warnAt(b.fileOf("ready timeout"), at, "job %s has no ready condition, so ready timeout never applies (add e.g. ready tcp 127.0.0.1:8080)", j.Name)
	}
	if at, ok := b.seen["on-check-fail"]; ok && j.Check.Probe.Kind == NoProbe && j.Watchdog == 0 {
		a.warnAt(b.fileOf("on-check-fail"), at, "job %s has no check and no watchdog, so on-check-fail never applies", j.Name)
	}
}

// checkAfter reports after names that are no job of the config, and
// cycles (naming every job of the cycle); it warns of a job after a
// disabled one. The jobs are in file order, overrides applied.
func (a *assembler) checkAfter() {
	byName := map[string]int{}
	var names []string
	for i, b := range a.blocks {
		if _, dup := byName[b.job.Name]; !dup && b.job.Name != "" {
			byName[b.job.Name] = i
			names = append(names, b.job.Name)
		}
	}
	where := "this file"
	if len(a.cfg.Files) > 1 {
		where = "the config's files"
	}
	bad := false
	for _, b := range a.blocks {
		j, file := &b.job, b.fileOf("after")
		for k, name := range j.After {
			at := b.afterPos[k]
			switch o, ok := byName[name]; {
			case name == j.Name:
				a.errAt(file, at, "job %s is after itself (remove %s from its after line)", j.Name, name)
				bad = true
			case !ok:
				a.errAt(file, at, "unknown job %q in after%s (after names jobs of %s)", ShortWord(name), suggest(name, names), where)
				bad = true
			case a.blocks[o].job.Disabled:
				a.warnAt(file, at, "job %s is after %s, which is disabled: %s does not start until %s is enabled", j.Name, name, j.Name, name)
			}
		}
	}
	if !bad {
		a.findCycle(byName)
	}
}

// findCycle reports the first cycle of after names, in file order.
func (a *assembler) findCycle(byName map[string]int) {
	const (
		unseen = iota
		onPath
		finished
	)
	mark := make([]int, len(a.blocks))
	var path []int
	var visit func(i int) bool
	visit = func(i int) bool {
		mark[i] = onPath
		path = append(path, i)
		b := a.blocks[i]
		for k, name := range b.job.After {
			o := byName[name]
			switch mark[o] {
			case onPath:
				a.reportCycle(path, o, b.fileOf("after"), b.afterPos[k])
				return true
			case unseen:
				if visit(o) {
					return true
				}
			}
		}
		path = path[:len(path)-1]
		mark[i] = finished
		return false
	}
	for i := range a.blocks {
		if mark[i] == unseen && visit(i) {
			return
		}
	}
}

func (a *assembler) reportCycle(path []int, back int, file string, at Pos) {
	start := slices.Index(path, back)
	var names []string
	for _, i := range path[start:] {
		names = append(names, a.blocks[i].job.Name)
	}
	names = append(names, a.blocks[back].job.Name)
	a.errAt(file, at, "after makes a cycle: %s (each would wait for the other to be ready; remove one of these after names)", strings.Join(names, " -> "))
}

// formatReadiness writes the readiness options of a job in canonical syntax.
func formatReadiness(line func(kw, v string), j *Job) {
	if j.Ready.Kind != NoProbe {
		line("ready", FormatProbe(j.Ready))
	}
	if j.ReadyTimeout > 0 {
		line("ready timeout", FormatDuration(j.ReadyTimeout))
	}
	if len(j.After) > 0 {
		line("after", strings.Join(j.After, " "))
	}
	if j.Check.Probe.Kind != NoProbe {
		line("check", FormatCheck(j.Check))
	}
	if j.OnCheckFail != CheckRestart {
		line("on-check-fail", j.OnCheckFail.String())
	}
	if j.Watchdog > 0 {
		line("watchdog", FormatDuration(j.Watchdog))
	}
}

// FormatProbe prints a probe as pmtr.conf writes it after ready or check.
func FormatProbe(pr Probe) string {
	switch pr.Kind {
	case ProbeExec:
		out := make([]string, len(pr.Argv))
		for i, a := range pr.Argv {
			if i > 0 && (needsQuotes(a) || slices.Contains(checkOptions, a)) {
				a = `"` + a + `"`
			}
			out[i] = a
		}
		return "exec " + strings.Join(out, " ")
	case ProbeNotify:
		return "notify"
	case ProbeFD:
		return "fd " + strconv.Itoa(pr.FD)
	}
	return pr.Kind.String() + " " + pr.Target
}

// FormatCheck prints a check as pmtr.conf writes it after the keyword.
func FormatCheck(c Check) string {
	s := FormatProbe(c.Probe)
	if c.Every > 0 {
		s += " every " + FormatDuration(c.Every)
	}
	if c.Timeout > 0 {
		s += " timeout " + FormatDuration(c.Timeout)
	}
	if c.Fails > 0 {
		s += " fails " + strconv.Itoa(c.Fails)
	}
	return s
}
