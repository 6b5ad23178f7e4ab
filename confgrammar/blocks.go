package confgrammar

import (
	"fmt"
	"strconv"
	"strings"
)

// parseDepends reads "depends { FILE... }".
func (p *parser) parseDepends(kw token) []string {
	p.advance()
	if p.tok.kind != tkOpen {
		p.errAt(kw.pos, "depends needs a block: depends { FILE ... }")
		p.skipToOption()
		return nil
	}
	open := p.tok.pos
	p.advance()
	var files []string
	for p.tok.kind == tkBare || p.tok.kind == tkQuoted {
		if p.tok.kind == tkQuoted {
			p.errAt(p.tok.pos, "dependency file names cannot be quoted")
		} else {
			files = append(files, p.tok.text)
		}
		p.advance()
	}
	if !p.closeBlock("depends", open) {
		return files
	}
	if len(files) == 0 {
		p.errAt(open, "empty depends block (list at least one file, or remove the block)")
	}
	return files
}

// closeBlock consumes the "}" of an inner block, or reports it missing.
func (p *parser) closeBlock(what string, open Pos) bool {
	if p.tok.kind == tkClose {
		p.advance()
		return true
	}
	p.errAt(open, "%s block is not closed (add \"}\" before %s)", what, where(p.tok))
	return false
}

func where(t token) string {
	if t.kind == tkEOF {
		return "the end of the file"
	}
	return fmt.Sprintf("line %d", t.pos.Line)
}

// parseUlimits reads "ulimit FLAG VALUE" or "ulimit { FLAG VALUE ... }".
func (p *parser) parseUlimits(kw token) []Ulimit {
	p.advance()
	if p.tok.kind != tkOpen {
		if u, ok := p.ulimitPair(kw); ok {
			return []Ulimit{u}
		}
		return nil
	}
	open := p.tok.pos
	p.advance()
	var out []Ulimit
	for p.tok.kind == tkBare || p.tok.kind == tkQuoted {
		if u, ok := p.ulimitPair(kw); ok {
			out = append(out, u)
		}
	}
	p.closeBlock("ulimit", open)
	return out
}

// ulimitPair reads FLAG VALUE starting at the current token.
func (p *parser) ulimitPair(kw token) (Ulimit, bool) {
	flag := p.tok
	switch flag.kind {
	case tkQuoted:
		p.errAt(flag.pos, "ulimit flags cannot be quoted (write e.g. ulimit -n 1024)")
		p.advance()
		return Ulimit{}, false
	case tkBare:
	default:
		p.errAt(kw.pos, "missing ulimit flag and value (write e.g. ulimit -n 1024)")
		return Ulimit{}, false
	}
	p.advance()
	val := p.tok
	if val.kind != tkBare {
		p.errAt(flag.pos, "missing value after ulimit %s", flag.text)
		if val.kind == tkQuoted {
			p.advance()
		}
		return Ulimit{}, false
	}
	p.advance()
	u, err := parseUlimit(flag.text, val.text)
	if err != nil {
		at := val.pos
		if _, ok := rlimitByFlag[flag.text]; !ok {
			at = flag.pos
		}
		p.errAt(at, "%v", err)
		return Ulimit{}, false
	}
	return u, true
}

// Linux RLIMIT_* numbers; kept here so the grammar stays pure and portable.
var rlimitByFlag = map[string]int{
	"-t": 0, "RLIMIT_CPU": 0, "-f": 1, "RLIMIT_FSIZE": 1, "-d": 2, "RLIMIT_DATA": 2,
	"-s": 3, "RLIMIT_STACK": 3, "-c": 4, "RLIMIT_CORE": 4, "-m": 5, "RLIMIT_RSS": 5,
	"-u": 6, "RLIMIT_NPROC": 6, "-n": 7, "RLIMIT_NOFILE": 7, "-l": 8, "RLIMIT_MEMLOCK": 8,
	"-v": 9, "RLIMIT_AS": 9, "-i": 11, "RLIMIT_SIGPENDING": 11, "-q": 12, "RLIMIT_MSGQUEUE": 12,
	"-e": 13, "RLIMIT_NICE": 13, "-r": 14, "RLIMIT_RTPRIO": 14,
}

func parseUlimit(flag, val string) (Ulimit, error) {
	res, ok := rlimitByFlag[flag]
	if !ok {
		return Ulimit{}, fmt.Errorf("unknown ulimit resource %q%s", flag,
			suggest(flag, []string{"-c", "-d", "-e", "-f", "-i", "-l", "-m", "-n", "-q", "-r", "-s", "-t", "-u", "-v"}))
	}
	u := Ulimit{Flag: flag, Resource: res}
	if val == "infinity" || val == "unlimited" {
		u.Infinite = true
		return u, nil
	}
	n, err := strconv.ParseUint(val, 10, 63)
	if err != nil {
		if strings.Trim(val, "0123456789") == "" {
			return Ulimit{}, fmt.Errorf("ulimit value %s out of range 0 to %d", val, uint64(1)<<63-1)
		}
		return Ulimit{}, fmt.Errorf("non-numeric ulimit value %q (write a number, infinity or unlimited)", val)
	}
	u.Value = n
	return u, nil
}

func (p *parser) parseBounce(j *Job, kw token) {
	p.advance()
	if !p.isKw("every") {
		p.errAt(kw.pos, "bounce must be followed by every (write: bounce every 1h)")
		p.skipToOption()
		return
	}
	every := p.tok
	v, ok := p.value(every)
	if !ok {
		return
	}
	d, err := parseInterval(v.text)
	if err != nil {
		p.errAt(v.pos, "%v", err)
		return
	}
	p.warnBounce(v.pos, d)
	j.Bounce = d
}
