package confgrammar

// The lexical rules follow C pmtr (tok.c), with the policy's fixes:
//   - whitespace is exactly space, tab, CR and LF (so CRLF files work);
//   - '#' at the start of a token comments out the rest of the line;
//   - option keywords count only as the first token of a line;
//   - "on", "to", "every" are keywords only right after listen, report, bounce;
//   - "{" and "}" are braces anywhere, when they stand alone;
//   - a quoted string runs to the next '"' on the same line, with no escapes;
//   - every other byte, >= 0x80 included, is a token byte.

type tokKind int

const (
	tkEOF tokKind = iota
	tkKeyword
	tkOpen
	tkClose
	tkBare
	tkQuoted
)

type token struct {
	kind tokKind
	text string // keyword name, or the string's value (quotes removed)
	pos  Pos
}

var lineKeywords = map[string]bool{
	"job": true, "name": true, "user": true, "cmd": true, "env": true,
	"dir": true, "out": true, "err": true, "in": true, "order": true,
	"disable": true, "wait": true, "once": true, "listen": true,
	"report": true, "metrics": true, "bounce": true, "depends": true, "ulimit": true,
	"nice": true, "cpu": true,
	"restart": true, "success": true, "backoff": true, "stable": true, "give-up": true,
	"stop": true, "critical": true,
	"ready": true, "after": true, "check": true, "on-check-fail": true, "watchdog": true,
	"include": true, "override": true,
}

// follower maps a keyword to the one word that is a keyword right after it.
var follower = map[string]string{"listen": "on", "report": "to", "metrics": "on", "bounce": "every"}

type lexer struct {
	src       string // one copy of the file: tokens are substrings, not allocations
	off       int
	line      int
	lineStart int  // offset of the current line's first byte
	lineUsed  bool // a token already started on this line
	prevKw    string
	errs      []lexError
}

type lexError struct {
	pos Pos
	msg string
}

func newLexer(src []byte) *lexer { return &lexer{src: string(src), line: 1} }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// skip passes whitespace and comments, counting lines.
func (l *lexer) skip() {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == '\n':
			l.off++
			l.line++
			l.lineStart = l.off
			l.lineUsed = false
		case isSpace(c):
			l.off++
		case c == '#':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.off++
			}
		default:
			return
		}
	}
}

func (l *lexer) pos() Pos { return Pos{Line: l.line, Col: l.off - l.lineStart + 1} }

func (l *lexer) next() token {
	l.skip()
	if l.off >= len(l.src) {
		return token{kind: tkEOF, pos: l.pos()}
	}
	first := !l.lineUsed
	l.lineUsed = true
	pos := l.pos()
	if l.src[l.off] == '"' {
		l.prevKw = ""
		return l.quoted(pos)
	}
	start := l.off
	for l.off < len(l.src) && !isSpace(l.src[l.off]) {
		if l.src[l.off] == 0 {
			l.errs = append(l.errs, lexError{l.pos(), "NUL byte in config file (remove it; pmtr.conf is text)"})
		}
		l.off++
	}
	word := l.src[start:l.off]
	tok := token{kind: tkBare, text: word, pos: pos}
	switch {
	case word == "{":
		tok.kind = tkOpen
	case word == "}":
		tok.kind = tkClose
	case first && lineKeywords[word]:
		tok.kind = tkKeyword
	case l.prevKw != "" && follower[l.prevKw] == word:
		tok.kind = tkKeyword
	}
	l.prevKw = ""
	if tok.kind == tkKeyword {
		l.prevKw = word
	}
	return tok
}

// quoted reads "..." on one line; an unterminated one is reported and taken
// to the end of the line so that parsing can go on.
func (l *lexer) quoted(pos Pos) token {
	l.off++ // opening quote
	start := l.off
	for l.off < len(l.src) && l.src[l.off] != '"' && l.src[l.off] != '\n' {
		if l.src[l.off] == 0 {
			l.errs = append(l.errs, lexError{l.pos(), "NUL byte in config file (remove it; pmtr.conf is text)"})
		}
		l.off++
	}
	text := l.src[start:l.off]
	if l.off < len(l.src) && l.src[l.off] == '"' {
		l.off++
	} else {
		l.errs = append(l.errs, lexError{pos, "unterminated quoted string (a quoted string must end with \" on the same line)"})
	}
	return token{kind: tkQuoted, text: text, pos: pos}
}
