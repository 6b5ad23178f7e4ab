package confgrammar

import (
	"cmp"
	"fmt"
	"slices"

	"pmtr/logsafe"
)

// MaxSize is the largest config file pmtr reads, as in C pmtr.
const MaxSize = 10 << 20

// Parse reads a whole config file. file is the name used in error messages.
// On failure the error is an ErrorList with every problem found.
func Parse(file string, src []byte) (*Config, error) {
	if len(src) > MaxSize {
		return nil, ErrorList{{File: file, Pos: Pos{1, 1},
			Msg: fmt.Sprintf("file too large (%d bytes; the limit is %d bytes)", len(src), MaxSize)}}
	}
	p := &parser{file: file, lx: newLexer(src)}
	p.advance()
	p.parseFile()
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *Error) int { return comparePos(a.Pos, b.Pos) })
		return nil, p.errs
	}
	sortJobs(p.cfg.Jobs)
	return &p.cfg, nil
}

func comparePos(a, b Pos) int {
	if c := cmp.Compare(a.Line, b.Line); c != 0 {
		return c
	}
	return cmp.Compare(a.Col, b.Col)
}

type parser struct {
	file string
	lx   *lexer
	tok  token
	errs ErrorList
	cfg  Config

	namePos  []Pos   // where each job of cfg.Jobs set its name, before sorting
	afterPos [][]Pos // where each job of cfg.Jobs named each of its after jobs
}

func (p *parser) advance() {
	p.tok = p.lx.next()
	for _, e := range p.lx.errs {
		p.errAt(e.pos, "%s", e.msg)
	}
	p.lx.errs = p.lx.errs[:0]
}

// maxWord: a longer word in an error message is cut, so a huge token does
// not drown the message.
const maxWord = 64

func (p *parser) errAt(pos Pos, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Pos: pos, Msg: logsafe.ShortWords(fmt.Sprintf(format, args...), maxWord)})
}

func (p *parser) isKw(name string) bool { return p.tok.kind == tkKeyword && p.tok.text == name }

func (p *parser) parseFile() {
	for p.tok.kind != tkEOF {
		switch {
		case p.isKw("job"):
			p.parseJob()
		case p.isKw("report"):
			p.parseReport()
		case p.isKw("listen"):
			p.parseListen()
		case p.isKw("metrics"):
			p.parseMetrics()
		default:
			p.topLevelJunk()
		}
	}
	p.checkDuplicates()
	p.checkAfter()
}

// topLevelJunk reports a token that cannot start a declaration and skips
// to the next one.
func (p *parser) topLevelJunk() {
	t := p.tok
	switch {
	case t.kind == tkKeyword:
		p.errAt(t.pos, "option %q outside a job block (put it inside job { ... })", t.text)
	case t.kind == tkClose:
		p.errAt(t.pos, "unexpected \"}\" (no block is open)")
	case t.kind == tkBare && t.text == "job{":
		p.errAt(t.pos, "unexpected %q (write \"job {\" with a space)", t.text)
	case t.kind == tkBare && (t.text == "job" || t.text == "report" || t.text == "listen" || t.text == "metrics"):
		p.errAt(t.pos, "%q must be the first word on its line", t.text)
	default:
		p.errAt(t.pos, "unexpected %s at top level (expected job, report to, listen on or metrics on)%s",
			describe(t), suggest(t.text, []string{"job", "report", "listen", "metrics"}))
	}
	p.advance()
	for p.tok.kind != tkEOF && !p.atTopKeyword() {
		p.advance()
	}
}

// atTopKeyword: the token starts a top-level declaration.
func (p *parser) atTopKeyword() bool {
	return p.isKw("job") || p.isKw("report") || p.isKw("listen") || p.isKw("metrics")
}

func describe(t token) string {
	switch t.kind {
	case tkEOF:
		return "end of file"
	case tkOpen:
		return "\"{\""
	case tkClose:
		return "\"}\""
	case tkQuoted:
		return fmt.Sprintf("quoted string %q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

func (p *parser) checkDuplicates() {
	first := map[string]Pos{}
	for i, j := range p.cfg.Jobs {
		if j.Name == "" {
			continue // already reported as a job without a name
		}
		if at, ok := first[j.Name]; ok {
			p.errAt(p.namePos[i], "duplicate job name %q (first used by the job at line %d; names must be unique)", j.Name, at.Line)
			continue
		}
		first[j.Name] = j.Pos
	}
}

// sortJobs orders jobs by Order, file order breaking ties. It sorts indices,
// not the large Job values.
func sortJobs(jobs []Job) {
	if slices.IsSortedFunc(jobs, func(a, b Job) int { return cmp.Compare(a.Order, b.Order) }) {
		return
	}
	idx := make([]int, len(jobs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(jobs[a].Order, jobs[b].Order) })
	sorted := make([]Job, len(jobs))
	for i, k := range idx {
		sorted[i] = jobs[k]
	}
	copy(jobs, sorted)
}
