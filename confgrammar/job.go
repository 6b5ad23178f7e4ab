package confgrammar

import "fmt"

// jobBuilder collects one job block and remembers where each option was set,
// so that repeats and missing options point at the right token.
type jobBuilder struct {
	job  Job
	seen map[string]Pos
	opts int

	namePos  Pos   // the name's value, for duplicate-name errors
	afterPos []Pos // each after name, for unknown names and cycles
}

func (p *parser) parseJob() {
	b := &jobBuilder{job: Job{Pos: p.tok.pos}, seen: map[string]Pos{}}
	p.advance()
	open := p.tok.pos
	if p.tok.kind != tkOpen {
		p.errAt(p.tok.pos, "expected \"{\" after job, found %s", describe(p.tok))
		if p.tok.kind != tkKeyword || p.tok.text == "job" {
			p.skipToOption()
		}
	} else {
		p.advance()
	}
	if !p.parseBody(b, open) {
		return
	}
	if b.opts == 0 {
		p.errAt(b.job.Pos, "empty job block (a job needs at least name and cmd)")
		return
	}
	if _, ok := b.seen["name"]; !ok {
		p.errAt(b.job.Pos, "job has no name (add: name NAME)")
	}
	if _, ok := b.seen["cmd"]; !ok {
		p.errAt(b.job.Pos, "job %q has no cmd (add: cmd /full/path/to/program [args])", b.job.Name)
	}
	p.checkPolicy(b)
	p.checkReadiness(b)
	p.cfg.Jobs = append(p.cfg.Jobs, b.job)
	p.namePos = append(p.namePos, b.namePos)
	p.afterPos = append(p.afterPos, b.afterPos)
}

// parseBody reads options up to the closing brace. It returns false when
// the block was never closed.
func (p *parser) parseBody(b *jobBuilder, open Pos) bool {
	for {
		t := p.tok
		switch {
		case t.kind == tkClose:
			p.advance()
			return true
		case t.kind == tkEOF:
			p.errAt(open, "job block is not closed (add \"}\" before the end of the file)")
			return false
		case t.kind == tkKeyword && (t.text == "job" || t.text == "report" || t.text == "listen" || t.text == "metrics"):
			p.errAt(open, "job block is not closed (add \"}\" before line %d)", t.pos.Line)
			return false
		case t.kind == tkKeyword:
			b.opts++
			p.parseOption(b)
		default:
			p.unknownOption(t)
			p.advance()
			p.skipToOption()
		}
	}
}

// skipToOption moves to the next keyword, brace close or end of file.
func (p *parser) skipToOption() {
	for p.tok.kind != tkEOF && p.tok.kind != tkKeyword && p.tok.kind != tkClose {
		p.advance()
	}
}

func (p *parser) unknownOption(t token) {
	switch {
	case t.kind == tkBare && lineKeywords[t.text]:
		p.errAt(t.pos, "option %q must be the first word on its line", t.text)
	case t.kind == tkBare:
		p.errAt(t.pos, "unknown option %q in job block%s", t.text, suggest(t.text, jobOptions))
	case t.kind == tkOpen:
		p.errAt(t.pos, "unexpected \"{\" in job block (to pass { as an argument, quote it: \"{\")")
	default:
		p.errAt(t.pos, "unexpected %s in job block (expected an option such as name or cmd)", describe(t))
	}
}

var jobOptions = []string{"name", "cmd", "dir", "out", "err", "in", "env", "user", "ulimit",
	"bounce", "depends", "disable", "wait", "once", "order", "nice", "cpu",
	"restart", "success", "backoff", "stable", "give-up", "stop", "critical",
	"ready", "after", "check", "on-check-fail", "watchdog"}

// once records that an option was set; for the options that may appear only
// once it reports a repeat.
func (p *parser) once(b *jobBuilder, kw token) bool {
	if at, ok := b.seen[kw.text]; ok {
		p.errAt(kw.pos, "%s respecified (first set at line %d; each job may set %s only once)", kw.text, at.Line, kw.text)
		return false
	}
	b.seen[kw.text] = kw.pos
	return true
}

// value reads the single bare word that follows the keyword kw.
func (p *parser) value(kw token) (token, bool) {
	p.advance()
	t := p.tok
	switch t.kind {
	case tkBare:
		p.advance()
		return t, true
	case tkQuoted:
		p.errAt(t.pos, "the value of %s cannot be quoted (only cmd arguments may be quoted)", kw.text)
		p.advance()
		return t, false
	}
	p.errAt(kw.pos, "missing value after %s", kw.text)
	return t, false
}

func (p *parser) parseOption(b *jobBuilder) {
	kw := p.tok
	j := &b.job
	switch kw.text {
	case "name", "dir", "out", "err", "in":
		first := p.once(b, kw)
		if v, ok := p.value(kw); ok && first {
			p.setString(j, kw.text, v)
			if kw.text == "name" {
				b.namePos = v.pos
			}
		}
	case "cmd":
		first := p.once(b, kw)
		if argv := p.parseCmd(kw); argv != nil && first {
			j.Cmd = argv
		}
	case "disable", "wait", "once":
		if _, ok := b.seen[kw.text]; !ok {
			b.seen[kw.text] = kw.pos // for the checks of contradicting options
		}
		p.setFlag(j, kw.text)
		p.advance()
	case "depends":
		j.Depends = append(j.Depends, p.parseDepends(kw)...)
	case "ulimit":
		j.Ulimits = append(j.Ulimits, p.parseUlimits(kw)...)
	case "bounce":
		p.parseBounce(j, kw)
	case "restart", "success", "backoff", "stable", "give-up", "stop", "critical":
		p.parsePolicy(b, kw)
	case "ready":
		p.parseReady(b, kw)
	case "check":
		p.parseCheck(b, kw)
	case "after":
		p.parseAfter(b, kw)
	case "on-check-fail":
		p.parseOnCheckFail(b, kw)
	case "watchdog":
		p.parseWatchdog(b, kw)
	default:
		p.parseNumberish(b, kw)
	}
}

func (p *parser) setString(j *Job, kw string, v token) {
	switch kw {
	case "name":
		j.Name = v.text
	case "dir":
		j.Dir = v.text
	case "out":
		j.Out = v.text
	case "err":
		j.Err = v.text
	case "in":
		j.In = v.text
	}
}

func (p *parser) setFlag(j *Job, kw string) {
	switch kw {
	case "disable":
		j.Disabled = true
	case "wait":
		j.Wait = true
	case "once":
		j.Once = true
	}
}

// parseNumberish handles the single-value options that need checking:
// env, user, order, nice, cpu.
func (p *parser) parseNumberish(b *jobBuilder, kw token) {
	v, ok := p.value(kw)
	if !ok {
		return
	}
	j := &b.job
	var err error
	switch kw.text {
	case "env":
		err = checkEnv(v.text)
		if err == nil {
			j.Env = append(j.Env, v.text)
		}
	case "user":
		j.User, err = checkUser(v.text)
	case "order":
		j.Order, err = parseInt(v.text, "order", -1<<31, 1<<31-1)
	case "nice":
		j.Nice, err = parseInt(v.text, "nice", -20, 19)
	case "cpu":
		var cpus []int
		cpus, err = parseCPUs(v.text)
		j.CPUs = mergeCPUs(j.CPUs, cpus)
	default:
		err = fmt.Errorf("internal: unhandled option %q", kw.text)
	}
	if err != nil {
		p.errAt(v.pos, "%v", err)
	}
}

func (p *parser) parseCmd(kw token) []string {
	p.advance()
	t := p.tok
	switch t.kind {
	case tkQuoted:
		p.errAt(t.pos, "the program in cmd cannot be quoted (write it bare; only its arguments may be quoted)")
	case tkBare:
	default:
		p.errAt(kw.pos, "missing program after cmd (write: cmd /full/path/to/program [args])")
		return nil
	}
	argv := []string{t.text}
	warned := false
	for p.advance(); p.tok.kind == tkBare || p.tok.kind == tkQuoted; p.advance() {
		if p.tok.pos.Line != kw.pos.Line && !warned {
			p.warnContinued(kw, p.tok)
			warned = true
		}
		argv = append(argv, p.tok.text)
	}
	if t.kind == tkQuoted {
		return nil
	}
	return argv
}
