package confgrammar

import (
	"cmp"
	"fmt"
	"slices"

	"pmtr/logsafe"
)

// MaxSize is the largest config file pmtr reads, as in C pmtr.
const MaxSize = 10 << 20

// Parse reads a whole config file that includes no other file (an include
// line is an error: there is no file system to read it from; Load has
// one). file is the name used in error messages. On failure the error is
// an ErrorList with every problem found.
func Parse(file string, src []byte) (*Config, error) {
	a := newAssembler(noFiles{})
	a.main(file, src)
	return a.finish()
}

func comparePos(a, b Pos) int {
	if c := cmp.Compare(a.Line, b.Line); c != 0 {
		return c
	}
	return cmp.Compare(a.Col, b.Col)
}

// parser reads one file into its declarations: job blocks, include lines,
// report, listen and metrics lines. What spans the config (duplicate
// names, overrides, after names, the checks of a whole job) is the
// assembler's.
type parser struct {
	file string
	lx   *lexer
	tok  token
	errs ErrorList
	cfg  Config // this file's reports, listens, metrics and warnings

	blocks   []*jobBuilder
	origins  []Origin // of the job block being read
	includes []include
	decls    []decl // every declaration in file order
}

// decl is one declaration of a file: kind and its index in the parser's
// list of that kind.
type decl struct {
	kind declKind
	i    int
}

type declKind uint8

const (
	declJob declKind = iota
	declInclude
	declReport
	declListen
	declMetrics
)

// include is one include line of a file.
type include struct {
	pos     Pos
	pattern string
}

// parseFile parses one file of a config.
func parseFile(file string, src []byte) *parser {
	p := &parser{file: file}
	if len(src) > MaxSize {
		p.errAt(Pos{1, 1}, "file too large (%d bytes; the limit is %d bytes)", len(src), MaxSize)
		return p
	}
	p.lx = newLexer(src)
	p.advance()
	p.parseFile()
	return p
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
	p.errs = append(p.errs, newError(p.file, pos, format, args...))
}

func newError(file string, pos Pos, format string, args ...any) *Error {
	return &Error{File: file, Pos: pos, Msg: logsafe.ShortWords(fmt.Sprintf(format, args...), maxWord)}
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
		case p.isKw("include"):
			p.parseInclude()
		default:
			p.topLevelJunk()
		}
	}
}

// declared notes a declaration just appended to its list.
func (p *parser) declared(kind declKind, n int) { p.decls = append(p.decls, decl{kind, n - 1}) }

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
	case t.kind == tkBare && topKeywords[t.text]:
		p.errAt(t.pos, "%q must be the first word on its line", t.text)
	default:
		p.errAt(t.pos, "unexpected %s at top level (expected job, report to, listen on or metrics on)%s",
			describe(t), suggest(t.text, []string{"job", "report", "listen", "metrics", "include"}))
	}
	p.advance()
	for p.tok.kind != tkEOF && !p.atTopKeyword() {
		p.advance()
	}
}

// topKeywords start a top-level declaration.
var topKeywords = map[string]bool{"job": true, "report": true, "listen": true, "metrics": true, "include": true}

// atTopKeyword: the token starts a top-level declaration.
func (p *parser) atTopKeyword() bool { return p.tok.kind == tkKeyword && topKeywords[p.tok.text] }

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
