package confgrammar

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Warning is a likely mistake that does not stop the config from loading:
// pmtr -t prints it (--strict makes it an error), the daemon logs it at
// load and reload.
type Warning struct {
	File string
	Pos  Pos
	Msg  string
}

func (w Warning) String() string {
	return fmt.Sprintf("%s:%d:%d: warning: %s", w.File, w.Pos.Line, w.Pos.Col, w.Msg)
}

// SortWarnings puts warnings in file order: by the file's place in files
// (a Config's Files; a file not there goes first), then by position.
func SortWarnings(files []string, ws []Warning) {
	slices.SortStableFunc(ws, func(a, b Warning) int {
		return cmp.Or(cmp.Compare(slices.Index(files, a.File), slices.Index(files, b.File)), comparePos(a.Pos, b.Pos))
	})
}

// MinBounce is the shortest bounce interval the manual recommends.
const MinBounce = 10 * time.Second

func (p *parser) warnAt(pos Pos, format string, args ...any) {
	p.cfg.Warnings = append(p.cfg.Warnings, Warning{File: p.file, Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// warnContinued: C pmtr's grammar lets cmd go on over following lines, so a
// misspelled option after cmd silently becomes arguments of the program.
func (p *parser) warnContinued(kw, t token) {
	hint := "an option must start its own line"
	if s := suggest(t.text, jobOptions); s != "" {
		hint = strings.TrimSuffix(strings.TrimPrefix(s, " ("), ")") + " An option must start its own line"
	}
	p.warnAt(t.pos, "the cmd of line %d goes on here: %q and the words after it become arguments of the program (%s; to pass arguments, write them on the cmd line)",
		kw.pos.Line, ShortWord(t.text), hint)
}

func (p *parser) warnBounce(pos Pos, d time.Duration) {
	if d < MinBounce {
		p.warnAt(pos, "bounce every %v is under %v: the job is stopped before pmtr can tell a crash from a normal run (the manual asks for more than 10 s)", d, MinBounce)
	}
}

// warnOpenListen: a listen address others can reach, without a key, lets
// anyone who can send it a datagram stop every job.
func (p *parser) warnOpenListen(l Listen) {
	if l.KeyFile != "" {
		return
	}
	ip, err := netip.ParseAddr(l.Host)
	if err != nil || ip.IsLoopback() {
		return // a host name is checked when it is resolved
	}
	p.warnAt(l.Pos, "listen on %s without a key: anyone who can reach it can stop your jobs (add: key FILE, or listen on 127.0.0.1)", l.Host)
}

// warnOpenMetrics: the metrics are read-only and unauthenticated.
func (p *parser) warnOpenMetrics(m Metrics) {
	ip, err := netip.ParseAddr(m.Host)
	if err != nil || ip.IsLoopback() {
		return
	}
	p.warnAt(m.Pos, "metrics on %s: anyone who can reach it can read the metrics (names of jobs, their states); prefer 127.0.0.1 or a private address", m.Host)
}

// ShortWord cuts a word for a message.
func ShortWord(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
