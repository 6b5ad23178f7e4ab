package ctlproto

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// The request line names its protocol version:
//
//	pmtr/2 VERB FLAG... [-- OPERAND...]
//
// then, for a verb with a Body, the config's bytes to the end of the
// stream. A pmtr older than versions wrote "VERB ARG..." with flags and
// operands mixed: that is version 1 (Legacy), which the daemon still
// answers, in its own reply format, so that an older client works with a
// newer daemon.
const (
	Version = 2 // the newest protocol this pmtr speaks
	Legacy  = 1 // requests without a version

	// MaxLine bounds a request line (a thousand long job names fit).
	MaxLine = 64 << 10
)

const versionPrefix = "pmtr/"

// Request is one request to the daemon.
type Request struct {
	Version  int               // the protocol it was written in (set by ParseRequest)
	Verb     string            // a Verb's name
	Flags    map[string]string // the flags given, by name ("-n": "50"); a switch maps to ""
	Operands []string          // job names
	Body     []byte            // a Body verb's bytes; not in the line
}

// Has says whether the switch or flag name was given.
func (r Request) Has(name string) bool {
	_, ok := r.Flags[name]
	return ok
}

// Value is flag name's value: as given, or its default.
func (r Request) Value(name string) string {
	if s, ok := r.Flags[name]; ok {
		return s
	}
	v, _ := Lookup(r.Verb)
	f, _ := v.Flag(name)
	return f.Default
}

// Count is a Count flag's value (checked when the request was decoded).
func (r Request) Count(name string) int {
	n, _ := strconv.Atoi(r.Value(name))
	return n
}

// Follows says whether the answer goes on until the client leaves.
func (r Request) Follows() bool {
	v, _ := Lookup(r.Verb)
	for _, f := range v.Flags {
		if f.Follows && r.Has(f.Name) {
			return true
		}
	}
	return false
}

// Check tests r against its verb as the user wrote it (local flags and
// operands included): the client's check before it sends anything.
func (r Request) Check() error {
	v, ok := Lookup(r.Verb)
	if !ok {
		return refuse(UnknownVerb, "unknown verb %q (there are %s)", r.Verb, VerbNames())
	}
	return check(v, r, false)
}

// check tests the flags' values and the number of operands. On the wire
// (onWire), local flags and operands are not there to test.
func check(v Verb, r Request, onWire bool) error {
	for name, val := range r.Flags {
		f, ok := v.Flag(name)
		if !ok || onWire && f.Local {
			return refuse(BadRequest, "%s: unknown flag %s", v.Name, name)
		}
		if err := checkValue(f.Value, val); err != nil {
			return refuse(BadRequest, "%s: %s %s", v.Name, name, err)
		}
	}
	o := v.Operand
	if onWire && o.Local {
		o = Operand{}
	}
	if err := checkCount(v.Name, o, len(r.Operands)); err != nil {
		return err
	}
	for _, s := range r.Operands {
		if err := checkValue(o.Kind, s); err != nil {
			return refuse(BadRequest, "%s: %q %s", v.Name, s, err)
		}
	}
	return nil
}

func checkCount(verb string, o Operand, n int) error {
	what := strings.ToLower(o.Meta)
	switch {
	case o.Meta == "" && n > 0:
		return refuse(BadRequest, "%s: takes no operands", verb)
	case o.Min == 1 && o.Max == 1 && n != 1:
		return refuse(BadRequest, "%s: name one %s", verb, what)
	case n < o.Min:
		return refuse(BadRequest, "%s: name at least %d %s", verb, o.Min, what)
	case o.Max >= 0 && n > o.Max:
		return refuse(BadRequest, "%s: name at most %d %s", verb, o.Max, what)
	}
	return nil
}

// checkValue says what is wrong with s as a value of kind k.
func checkValue(k Kind, s string) error {
	switch k {
	case Switch:
		if s != "" {
			return fmt.Errorf("takes no value")
		}
	case Count:
		if n, err := strconv.Atoi(s); err != nil || n < 1 {
			return fmt.Errorf("needs a whole number of at least 1, not %q", s)
		}
	case Job, File:
		if s == "" || strings.IndexFunc(s, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) >= 0 {
			return fmt.Errorf("is not a name (empty, or with spaces or control characters)")
		}
	}
	return nil
}

// Encode writes r as a request line of protocol version (Version, or an
// older one that a daemon speaks), with its newline. It fails with a
// *TooNewError when that version lacks what r asks.
func (r Request) Encode(version int) (string, error) {
	v, ok := Lookup(r.Verb)
	if !ok {
		return "", refuse(UnknownVerb, "unknown verb %q (there are %s)", r.Verb, VerbNames())
	}
	if v.Since > version {
		return "", &TooNewError{Version: version, What: "pmtr " + v.Name}
	}
	if err := check(v, r, false); err != nil { // as the user wrote it: local parts too
		return "", err
	}
	words := []string{v.Name}
	if version > Legacy {
		words = []string{versionPrefix + strconv.Itoa(version), v.Name}
	}
	for _, f := range v.Flags {
		val, given := r.Flags[f.Name]
		if !given || f.Local {
			continue
		}
		if max(f.Since, v.Since) > version {
			return "", &TooNewError{Version: version, What: "pmtr " + v.Name + " " + f.Name}
		}
		words = append(words, f.Name)
		if f.Value != Switch {
			words = append(words, val)
		}
	}
	if len(r.Operands) > 0 && !v.Operand.Local {
		if version > Legacy {
			words = append(words, "--")
		}
		words = append(words, r.Operands...)
	}
	line := strings.Join(words, " ") + "\n"
	if len(line) > MaxLine {
		return "", refuse(BadRequest, "%s: the request is longer than %d bytes: name fewer jobs at once", v.Name, MaxLine)
	}
	return line, nil
}

// TooNewError: protocol Version lacks What, so a daemon that speaks only
// that version cannot be asked it.
type TooNewError struct {
	Version int
	What    string // "pmtr health", "pmtr logs --since"
}

func (e *TooNewError) Error() string {
	return fmt.Sprintf("ctlproto: control protocol %d has no %s", e.Version, e.What)
}

// ParseRequest decodes a request line (with or without its newline), as
// the daemon does. On error the Request still carries the Version to
// answer in and the Verb as far as known, and the error is a *RefusedError.
func ParseRequest(line string) (Request, error) {
	line = strings.TrimSuffix(line, "\n")
	words := strings.Fields(line)
	r := Request{Version: Legacy, Flags: map[string]string{}}
	if len(words) > 0 && strings.HasPrefix(words[0], versionPrefix) {
		n, err := strconv.Atoi(strings.TrimPrefix(words[0], versionPrefix))
		if err != nil || n < Legacy || n > Version {
			r.Version = Version
			return r, refuse(UnknownVersion, "this pmtr speaks control protocol %d at most, not %q: use the pmtr client of the daemon's version, or restart the daemon with the newer pmtr", Version, words[0])
		}
		r.Version, words = n, words[1:]
	}
	if len(words) > 0 {
		r.Verb = words[0]
	}
	if len(line) > MaxLine {
		return r, refuse(BadRequest, "request line longer than %d bytes", MaxLine)
	}
	if len(words) == 0 {
		if r.Version == Legacy { // a bare newline asks for the status, as before versions
			r.Verb = "status"
			return r, nil
		}
		return r, refuse(BadRequest, "the request names no verb (there are %s)", VerbNames())
	}
	v, ok := Lookup(r.Verb)
	if !ok {
		return r, refuse(UnknownVerb, "unknown verb %q: this pmtr knows %s (is the client newer than the daemon? restart the daemon with the newer pmtr, or use the pmtr client of the daemon's version)", r.Verb, VerbNames())
	}
	var err error
	if r.Version == Legacy {
		err = parseLegacy(v, words[1:], &r)
	} else {
		err = parseArgs(v, words[1:], &r)
	}
	if err == nil {
		err = check(v, r, true)
	}
	return r, err
}

// parseArgs reads FLAG... [-- OPERAND...].
func parseArgs(v Verb, args []string, r *Request) error {
	for i := 0; i < len(args); i++ {
		if args[i] == "--" {
			if len(args) > i+1 { // none stays nil, as without "--"
				r.Operands = args[i+1:]
			}
			return nil
		}
		f, ok := v.Flag(args[i])
		if !ok {
			return refuse(BadRequest, "%s: unknown flag %s (operands come after --)", v.Name, args[i])
		}
		val := ""
		if f.Value != Switch {
			if i+1 == len(args) {
				return refuse(BadRequest, "%s: %s needs a value", v.Name, f.Name)
			}
			i++
			val = args[i]
		}
		r.Flags[f.Name] = val
	}
	return nil
}

// parseLegacy reads flags and operands in any order, as pmtr did before
// versions: a word that is one of the verb's flags is that flag.
func parseLegacy(v Verb, args []string, r *Request) error {
	for i := 0; i < len(args); i++ {
		f, ok := v.Flag(args[i])
		if !ok || f.Local {
			r.Operands = append(r.Operands, args[i])
			continue
		}
		val := ""
		if f.Value != Switch && i+1 < len(args) {
			i++
			val = args[i]
		}
		r.Flags[f.Name] = val
	}
	return nil
}
