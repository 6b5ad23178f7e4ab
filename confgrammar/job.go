package confgrammar

import (
	"fmt"
	"slices"
)

// jobBuilder collects one job block and remembers where each option was set,
// so that repeats and missing options point at the right token. A job
// changed by override blocks is a builder too, merged from them (merge).
type jobBuilder struct {
	job  Job
	seen map[string]Pos
	opts int
	file string // the file of the block
	// from names the file of each option an override block set (seen
	// holds its position there); nil for a job no override changed.
	from map[string]string

	override bool // the block says override: it changes the job defined earlier
	overPos  Pos  // the override keyword
	key      string
	origins  []Origin

	namePos  Pos   // the name's value, for duplicate-name errors
	afterPos []Pos // each after name, for unknown names and cycles
}

// fileOf is the file where the option kw was set.
func (b *jobBuilder) fileOf(kw string) string {
	if f, ok := b.from[kw]; ok {
		return f
	}
	return b.file
}

func (p *parser) parseJob() {
	b := &jobBuilder{job: Job{Pos: p.tok.pos, File: p.file}, seen: map[string]Pos{}, file: p.file}
	first := len(p.origins)
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
	if _, ok := b.seen["cmd"]; !ok && !b.override {
		p.errAt(b.job.Pos, "job %q has no cmd (add: cmd /full/path/to/program [args])", b.job.Name)
	}
	b.origins = slices.Clone(p.origins[first:])
	p.origins = p.origins[:first]
	b.job.Origins = b.origins
	p.blocks = append(p.blocks, b)
	p.declared(declJob, len(p.blocks))
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
		case t.kind == tkKeyword && topKeywords[t.text]:
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
	"ready", "after", "check", "on-check-fail", "watchdog", "override"}

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

// parseOption reads one option and notes where it was set (Origins); a
// repeatable option has an origin per value (env, ulimit) or per line.
func (p *parser) parseOption(b *jobBuilder) {
	kw := p.tok
	b.key = kw.text // parsePolicy and parseReady make it "stop signal", "ready timeout"...
	values := len(b.job.Ulimits)
	p.option(b, kw)
	n := 1
	if kw.text == "ulimit" {
		n = len(b.job.Ulimits) - values
	}
	for range n {
		p.origins = append(p.origins, Origin{Key: b.key, File: p.file, Line: kw.pos.Line, Col: kw.pos.Col})
	}
}

func (p *parser) option(b *jobBuilder, kw token) {
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
	case "override":
		p.parseOverride(b, kw)
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

// parseOverride reads "override": the block changes the job of its name
// defined earlier, each option it gives replacing that job's value.
func (p *parser) parseOverride(b *jobBuilder, kw token) {
	words, _ := p.lineWords(kw)
	if !p.once(b, kw) {
		return
	}
	if len(words) > 0 {
		p.errAt(words[0].pos, "override takes no value (write it alone on its line, in the block that changes the job)")
	}
	b.override, b.overPos = true, kw.pos
}
