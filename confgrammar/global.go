package confgrammar

import (
	"fmt"
	"strconv"
	"strings"
)

const specHint = "required format: udp://HOST:PORT"

// declValue reads "KEYWORD FOLLOWER VALUE" of a top-level line (report to,
// listen on, metrics on) and returns VALUE; write is the hint on its form.
func (p *parser) declValue(follower, write string) (token, bool) {
	kw := p.tok
	p.advance()
	if !p.isKw(follower) {
		p.errAt(kw.pos, "%s must be followed by %s (write: %s)", kw.text, follower, write)
		p.skipTop()
		return token{}, false
	}
	return p.value(p.tok)
}

func (p *parser) parseReport() {
	v, ok := p.declValue("to", "report to udp://HOST:PORT[@IFACE]")
	if !ok {
		return
	}
	host, port, iface, err := parseSpec(v.text)
	if err != nil {
		p.errAt(v.pos, "%v (%s[@IFACE])", err, specHint)
		return
	}
	p.cfg.Reports = append(p.cfg.Reports, Report{Host: host, Port: port, Iface: iface, Pos: v.pos, File: p.file})
	p.declared(declReport, len(p.cfg.Reports))
}

func (p *parser) parseListen() {
	v, ok := p.declValue("on", "listen on udp://HOST:PORT")
	if !ok {
		return
	}
	l := Listen{Pos: v.pos, File: p.file}
	host, port, iface, err := parseSpec(v.text)
	switch {
	case err != nil:
		p.errAt(v.pos, "%v (%s [key FILE])", err, specHint)
	case iface != "":
		p.errAt(v.pos, "listen on takes no @interface (%s [key FILE])", specHint)
	default:
		l.Host, l.Port = host, port
	}
	// An optional "key FILE" on the same line turns on authenticated control.
	if p.tok.kind == tkBare && p.tok.text == "key" && p.tok.pos.Line == v.pos.Line {
		keyTok := p.tok
		p.advance()
		if p.tok.kind != tkBare || p.tok.pos.Line != keyTok.pos.Line {
			p.errAt(keyTok.pos, "missing key file after key (write: listen on udp://HOST:PORT key /etc/pmtr.key)")
		} else {
			l.KeyFile = p.tok.text
			p.advance()
		}
	}
	if err == nil && iface == "" {
		p.warnOpenListen(l)
		p.cfg.Listens = append(p.cfg.Listens, l)
		p.declared(declListen, len(p.cfg.Listens))
	}
}

// parseMetrics reads "metrics on http://HOST:PORT".
func (p *parser) parseMetrics() {
	v, ok := p.declValue("on", "metrics on http://127.0.0.1:9101")
	if !ok {
		return
	}
	rest, isHTTP := strings.CutPrefix(v.text, "http://")
	rest = strings.TrimSuffix(rest, "/")
	host, port, iface, err := parseSpec("udp://" + rest)
	switch {
	case !isHTTP:
		p.errAt(v.pos, "address %q must start with http:// (write: metrics on http://127.0.0.1:9101)", v.text)
	case strings.Contains(rest, "/") || strings.Contains(rest, "@"):
		p.errAt(v.pos, "metrics on takes an address only, no path or @interface (required format: http://HOST:PORT; pmtr serves /metrics)")
	case err != nil || iface != "":
		p.errAt(v.pos, "%s (required format: http://HOST:PORT)", strings.ReplaceAll(err.Error(), "udp://", "http://"))
	default:
		m := Metrics{Host: host, Port: port, Pos: v.pos, File: p.file}
		p.warnOpenMetrics(m)
		p.cfg.Metrics = append(p.cfg.Metrics, m)
		p.declared(declMetrics, len(p.cfg.Metrics))
	}
}

func (p *parser) skipTop() {
	for p.tok.kind != tkEOF && !p.atTopKeyword() {
		p.advance()
	}
}

// parseSpec splits udp://HOST:PORT[@IFACE]; HOST may be [IPv6].
func parseSpec(s string) (host string, port int, iface string, err error) {
	rest, ok := strings.CutPrefix(s, "udp://")
	if !ok {
		return "", 0, "", fmt.Errorf("address %q must start with udp://", s)
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest, iface = rest[:at], rest[at+1:]
		if iface == "" || len(iface) > 15 {
			return "", 0, "", fmt.Errorf("bad interface name %q in %q", iface, s)
		}
	}
	colon := strings.LastIndexByte(rest, ':')
	if colon < 0 {
		return "", 0, "", fmt.Errorf("address %q has no port", s)
	}
	host, portText := rest[:colon], rest[colon+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		return "", 0, "", fmt.Errorf("address %q has no host (use 0.0.0.0 for any address)", s)
	}
	n, perr := strconv.Atoi(portText)
	if perr != nil || n < 1 || n > 65535 {
		return "", 0, "", fmt.Errorf("port %q in %q out of range 1 to 65535", portText, s)
	}
	return host, n, iface, nil
}
