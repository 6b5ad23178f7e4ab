// Package ctlproto is the protocol of pmtr's local control socket: the
// verbs a client may ask the daemon (pmtr status, stop, start, ...), their
// flags and operands, and how requests and replies are written on the
// wire. The client (pmtr's subcommands), the daemon's server, the bash
// completion and the man page all follow the one table here (a test checks
// the last two). It is pure: no I/O, no clock.
package ctlproto

import (
	"slices"
	"strings"
)

// Kind is what a flag's value or an operand must be.
type Kind int

const (
	Switch Kind = iota // a flag without a value
	Job                // the name of a job of the config
	Count              // a whole number of at least 1
	File               // a file name, read by the client
)

// Flag is one option of a verb, written as the user types it.
type Flag struct {
	Name    string // "--json", "-n"
	Value   Kind   // Switch, or the kind of its value
	Meta    string // the value's name in the usage ("N", "OLDFILE")
	Default string // the value when the flag is not given
	Local   bool   // the client's own: never sent (plan --against)
	Follows bool   // the answer goes on until the client leaves (logs -f)
	Since   int    // the protocol version that brought it; 0: as old as its verb
	Help    string
}

// Operand is what follows a verb's flags.
type Operand struct {
	Meta     string // "JOB", "NEWFILE"; "" when the verb takes none
	Kind     Kind
	Min, Max int  // how many; Max -1: no bound
	Local    bool // read by the client, not sent (plan's NEWFILE is sent as the body)
}

// Verb is one request the daemon answers.
type Verb struct {
	Name    string
	Help    string // one line: what it does
	Flags   []Flag
	Operand Operand
	Body    bool // a config file's bytes follow the request line (plan)
	Waits   bool // the daemon may wait for jobs before it answers: a longer timeout
	Since   int  // the protocol version that brought it (1: pmtr before versioned requests)
}

// ConfigFlag is every verb's -c FILE: which daemon to ask (the one that
// runs FILE). The client reads it; it is never sent.
var ConfigFlag = Flag{Name: "-c", Value: File, Meta: "FILE", Local: true,
	Help: "ask the pmtr that runs this config file"}

var jobs = Operand{Meta: "JOB", Kind: Job, Min: 1, Max: -1}
var noWait = Flag{Name: "--no-wait", Help: "return as soon as the daemon has the request"}

// verbs in the order the usage lists them. A new verb goes here (Since:
// Version), gets its handler in the server, and its lines in
// dist/pmtr.bash, docs/pmtr.8 and README.md (the tests say what is
// missing). It needs no new protocol version: a daemon that lacks it
// refuses it as UnknownVerb, which the client words. A new version is for
// a change of the request or reply format.
var verbs = []Verb{
	{Name: "status", Help: "print the jobs (all, or those named) and their states", Since: 1,
		Flags:   []Flag{{Name: "--json", Help: "print them as JSON"}},
		Operand: Operand{Meta: "JOB", Kind: Job, Min: 0, Max: -1}},
	{Name: "stop", Help: "stop the jobs, and wait until they are; they stay stopped across reloads until pmtr start", Since: 1,
		Flags: []Flag{noWait}, Operand: jobs, Waits: true},
	{Name: "start", Help: "start the jobs (a job the config disables: until the next reload), and wait until they have been up 1 s", Since: 1,
		Flags: []Flag{noWait}, Operand: jobs, Waits: true},
	{Name: "restart", Help: "stop the jobs and start them again at once, and wait until the new processes have been up 1 s", Since: 1,
		Flags: []Flag{noWait}, Operand: jobs, Waits: true},
	{Name: "reload", Help: "rescan the config file now and print what changed", Since: 1, Waits: true},
	{Name: "why", Help: "say why the job is in its state, then its last events", Since: 1,
		Operand: Operand{Meta: "JOB", Kind: Job, Min: 1, Max: 1}},
	{Name: "logs", Help: "print the job's last lines (its output and pmtr's lines about it); without JOB, pmtr's whole log, every job's lines and its own", Since: 1,
		Flags: []Flag{
			{Name: "-f", Follows: true, Help: "follow: print new lines as they come"},
			{Name: "-n", Value: Count, Meta: "N", Default: "20", Help: "how many lines"},
		},
		Operand: Operand{Meta: "JOB", Kind: Job, Min: 0, Max: 1}},
	{Name: "metrics", Help: "print the daemon's Prometheus metrics", Since: 1},
	{Name: "plan", Help: "print what saving NEWFILE (default: the config file) would do to the jobs", Since: 1,
		Flags:   []Flag{{Name: "--against", Value: File, Meta: "OLDFILE", Local: true, Help: "compare with a pmtr that runs OLDFILE (no daemon needed)"}},
		Operand: Operand{Meta: "NEWFILE", Kind: File, Min: 0, Max: 1, Local: true}, Body: true},
	{Name: "cat", Help: "print the config in force as one file (all of it, or the jobs named), each line with the FILE:LINE it came from; without a daemon, read from the files", Since: 2,
		Operand: Operand{Meta: "JOB", Kind: Job, Min: 0, Max: -1}},
	{Name: "upgrade", Help: "hand the running jobs to a new pmtr binary in place (same pid), without stopping or starting any; the new binary is checked first", Since: 2,
		Flags: []Flag{{Name: "--binary", Value: File, Meta: "PATH", Help: "the new binary (default: the path pmtr was started from, as it is on disk now)"}},
		Waits: true},
}

// Verbs returns the verbs in the order the usage lists them.
func Verbs() []Verb { return slices.Clone(verbs) }

// Lookup finds a verb by name.
func Lookup(name string) (Verb, bool) {
	i := slices.IndexFunc(verbs, func(v Verb) bool { return v.Name == name })
	if i < 0 {
		return Verb{}, false
	}
	return verbs[i], true
}

// Flag finds one of v's flags by name.
func (v Verb) Flag(name string) (Flag, bool) {
	i := slices.IndexFunc(v.Flags, func(f Flag) bool { return f.Name == name })
	if i < 0 {
		return Flag{}, false
	}
	return v.Flags[i], true
}

// Usage is v's synopsis: "pmtr logs [-c FILE] [-f] [-n N] [JOB]".
func (v Verb) Usage() string {
	words := []string{"pmtr", v.Name}
	for _, f := range append([]Flag{ConfigFlag}, v.Flags...) {
		if f.Value == Switch {
			words = append(words, "["+f.Name+"]")
		} else {
			words = append(words, "["+f.Name+" "+f.Meta+"]")
		}
	}
	if o := v.Operand; o.Meta != "" {
		w := o.Meta
		if o.Max != 1 {
			w += "..."
		}
		if o.Min == 0 {
			w = "[" + w + "]"
		}
		words = append(words, w)
	}
	return strings.Join(words, " ")
}

// VerbNames lists the verbs' names, for messages.
func VerbNames() string {
	names := make([]string, len(verbs))
	for i, v := range verbs {
		names[i] = v.Name
	}
	return strings.Join(names, ", ")
}
