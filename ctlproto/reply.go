package ctlproto

import (
	"fmt"
	"strconv"
	"strings"
)

// A reply is a header line, then text to the end of the stream:
//
//	pmtr/2 CODE out|err [REFUSAL]
//
// CODE is the client's exit code; out or err says where the client
// prints the text. The daemon answers in the request's version: a Legacy
// request gets "pmtr/1 CODE out|err", the header older clients expect.

// Refusal says why the daemon did not take a request.
type Refusal string

const (
	UnknownVersion Refusal = "unknown-version" // the header names the version the daemon speaks
	UnknownVerb    Refusal = "unknown-verb"
	BadRequest     Refusal = "bad-request" // unknown flags, bad values, the wrong number of operands
)

// CodeRefused is the exit code of a refused request: a usage error.
const CodeRefused = 2

// RefusedError is a request the daemon does not take; Text is what it
// tells the client.
type RefusedError struct {
	Why  Refusal
	Text string
}

func (e *RefusedError) Error() string { return "ctlproto: " + e.Text }

func refuse(why Refusal, format string, args ...any) *RefusedError {
	return &RefusedError{Why: why, Text: fmt.Sprintf(format, args...)}
}

// Reply is a reply's header.
type Reply struct {
	Version int
	Code    int
	ToErr   bool    // the text goes to the client's stderr
	Refusal Refusal // "" when the daemon took the request
}

// Header writes the header line, with its newline.
func (r Reply) Header() string {
	where := "out"
	if r.ToErr {
		where = "err"
	}
	h := fmt.Sprintf("%s%d %d %s", versionPrefix, r.Version, r.Code, where)
	if r.Refusal != "" && r.Version > Legacy { // older clients read exactly three words
		h += " " + string(r.Refusal)
	}
	return h + "\n"
}

// ParseReply decodes a header line from a daemon of any version up to
// this pmtr's.
func ParseReply(line string) (Reply, error) {
	f := strings.Fields(line)
	bad := fmt.Errorf("ctlproto: not a pmtr reply: %q", strings.TrimSpace(line))
	if len(f) < 3 || !strings.HasPrefix(f[0], versionPrefix) {
		return Reply{}, bad
	}
	var r Reply
	var err error
	if r.Version, err = strconv.Atoi(strings.TrimPrefix(f[0], versionPrefix)); err != nil || r.Version < Legacy {
		return Reply{}, bad
	}
	if r.Version > Version {
		return Reply{}, fmt.Errorf("ctlproto: the daemon answers in control protocol %d, newer than this pmtr's %d", r.Version, Version)
	}
	if r.Code, err = strconv.Atoi(f[1]); err != nil || f[2] != "out" && f[2] != "err" {
		return Reply{}, bad
	}
	r.ToErr = f[2] == "err"
	switch {
	case len(f) == 4 && r.Version > Legacy:
		r.Refusal = Refusal(f[3])
	case len(f) != 3:
		return Reply{}, bad
	}
	return r, nil
}

// legacyUnknown starts what a daemon older than versions answers a
// versioned request: it took "pmtr/2" for a verb.
const legacyUnknown = `unknown request "` + versionPrefix

// Fallback says in which older version to ask again when a reply to a
// request of version sent (text: the reply's text, at least its first
// line) shows that the daemon does not speak it.
func Fallback(sent int, r Reply, text string) (int, bool) {
	switch {
	case r.Version >= sent:
		return 0, false
	case r.Version == Legacy && r.Code == CodeRefused && strings.HasPrefix(text, legacyUnknown):
		return Legacy, true
	case r.Refusal == UnknownVersion:
		return r.Version, true
	}
	return 0, false
}
