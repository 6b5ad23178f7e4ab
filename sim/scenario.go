package sim

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"pmtr/confgrammar"
	"pmtr/core"
)

// Scenario is one what-if run: a config, how each job behaves, timed
// outside events, and what must be true. See docs/SCENARIOS.md.
type Scenario struct {
	File       string              `yaml:"-"`
	Name       string              `yaml:"name"`
	Config     string              `yaml:"config"`      // inline pmtr.conf text
	ConfigFile string              `yaml:"config_file"` // or a path to one
	RunFor     Duration            `yaml:"run_for"`
	Seed       uint64              `yaml:"seed"`
	Jobs       map[string]JobPlan  `yaml:"jobs"`
	Deps       map[string]DepSetup `yaml:"deps"`
	Events     []TimedEvent        `yaml:"events"`
	Expect     []Expectation       `yaml:"expect"`
}

// JobPlan is a job's behaviour: runs in order, the last one repeating.
type JobPlan struct {
	Runs []RunPlan `yaml:"runs"`
}

// RunPlan is one simulated process lifetime (see Run).
type RunPlan struct {
	For        Lifetime   `yaml:"for"`         // runs this long, then exits; forever (or absent): until stopped
	ForRandom  []Duration `yaml:"for_random"`  // [min, max]: a random length, from the seed
	Exit       int        `yaml:"exit"`        // exit status
	Signal     int        `yaml:"signal"`      // or death by this signal
	IgnoreTerm bool       `yaml:"ignore_term"` // only SIGKILL ends it
	ExitsOn    int        `yaml:"exits_on"`    // only this signal (or SIGKILL) ends it
	StopDelay  Duration   `yaml:"stop_delay"`  // time from SIGTERM to exit
	SpawnError string     `yaml:"spawn_error"` // ENOENT, EACCES: the exec fails, no process
	ExecError  string     `yaml:"exec_error"`  // the process starts, its exec fails (helper jobs)
	Orphans    int        `yaml:"orphans"`     // processes it leaves behind
	OOM        bool       `yaml:"oom"`         // it ends killed by the OOM killer

	Ready      *ReadyAt      `yaml:"ready"`       // ready this long after its start, or never; absent: at once
	CheckFails *WindowPlan   `yaml:"check_fails"` // its checks fail in this span of its life
	ProbeTakes Duration      `yaml:"probe_takes"` // each probe attempt answers this late
	Watchdog   *WatchdogPlan `yaml:"watchdog"`    // it sends WATCHDOG=1 every so often
}

// ReadyAt is when a run becomes ready: a duration from its start, or never.
type ReadyAt struct {
	After Duration
	Never bool
}

// UnmarshalYAML reads "3s" or "never".
func (r *ReadyAt) UnmarshalYAML(n *yaml.Node) error {
	if strings.TrimSpace(n.Value) == "never" {
		*r = ReadyAt{Never: true}
		return nil
	}
	return r.After.UnmarshalYAML(n)
}

// WindowPlan is a span of a run's life: from From to To after its start
// (To absent: to its end).
type WindowPlan struct {
	From Duration `yaml:"from"`
	To   Duration `yaml:"to"`
}

// WatchdogPlan: WATCHDOG=1 every Every from its start, until Until (absent:
// its whole life).
type WatchdogPlan struct {
	Every Duration `yaml:"every"`
	Until Duration `yaml:"until"`
}

// DepSetup is a dependency file's state at +0s: its content, or missing.
type DepSetup struct {
	Content string `yaml:"content"`
	Missing bool   `yaml:"missing"`
}

// TimedEvent is something that happens from outside at a time.
type TimedEvent struct {
	At       Duration  `yaml:"at"`
	Edit     *string   `yaml:"edit"`     // the config file is saved with this text
	Dep      *DepEvent `yaml:"dep"`      // a dependency changes or vanishes
	Writing  *DepEvent `yaml:"writing"`  // a program writes a file in place and still holds it open
	Control  string    `yaml:"control"`  // "enable NAME..." / "disable NAME..." / "restart NAME..."
	Sighup   bool      `yaml:"sighup"`   // force a rescan
	Shutdown bool      `yaml:"shutdown"` // SIGTERM to pmtr
	Crash    *Crash    `yaml:"crash"`    // a job's process dies now
	Line     int       `yaml:"-"`
}

// DepEvent changes a dependency: new content, or missing.
type DepEvent struct {
	Path    string `yaml:"path"`
	Content string `yaml:"content"`
	Missing bool   `yaml:"missing"`
}

// Crash ends a job's running process with a status or signal.
type Crash struct {
	Job    string `yaml:"job"`
	Exit   int    `yaml:"exit"`
	Signal int    `yaml:"signal"`
}

// Expectation is one thing that must hold. Exactly one kind is set.
type Expectation struct {
	At      *Duration   `yaml:"at"`      // for running / stopped / state
	Running string      `yaml:"running"` // job has a live process at At
	Stopped string      `yaml:"stopped"` // job has none at At
	State   *StateWant  `yaml:"state"`   // job is in a named state at At (or at the end)
	Starts  *StartsWant `yaml:"starts"`  // job was started N times in a window
	Why     *WhyWant    `yaml:"why"`     // pmtr why's sentence for the job matches, at At
	Log     string      `yaml:"log"`     // a log line matching this regexp appears
	NoLog   string      `yaml:"no_log"`  // no log line matches this regexp
	// ExitCode: pmtr has exited by the end of the run, with this code
	// (0 after a shutdown, a critical job's code when one ended it).
	ExitCode *int `yaml:"exit_code"`
	Line     int  `yaml:"-"`
}

// StateWant names a job state: running, starting, stopping, waiting,
// failed, gated, held, disabled, done, stopped.
type StateWant struct {
	Job   string     `yaml:"job"`
	State core.State `yaml:"is"`
}

// StartsWant counts starts of Job in [From, To] (To 0 = the end).
// WhyWant expects pmtr why's sentence for a job (times as +S.MMMs) to
// match a regular expression.
type WhyWant struct {
	Job     string `yaml:"job"`
	Matches string `yaml:"matches"`
}

type StartsWant struct {
	Job   string   `yaml:"job"`
	Count *int     `yaml:"count"`
	Min   *int     `yaml:"min"`
	Max   *int     `yaml:"max"`
	From  Duration `yaml:"from"`
	To    Duration `yaml:"to"`
}

// Duration is a time.Duration written as Go writes it ("1h30m", "250ms").
type Duration time.Duration

// UnmarshalYAML reads "10s" style durations, and plain numbers as seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	if v, err := time.ParseDuration(s); err == nil && v >= 0 {
		*d = Duration(v)
		return nil
	}
	if v, err := time.ParseDuration(s + "s"); err == nil && v >= 0 {
		*d = Duration(v)
		return nil
	}
	return fmt.Errorf("line %d: bad duration %q (write it like 10s, 1m30s or 250ms)", n.Line, n.Value)
}

func (d Duration) String() string { return time.Duration(d).String() }

// Lifetime is how long a run lasts before it exits by itself: a duration
// of more than 0, or forever (0 here: until stopped, as when absent).
type Lifetime Duration

// UnmarshalYAML reads "3s" or "forever"; 0 is refused, since a run that
// ends at once and one that never ends both read as "0".
func (l *Lifetime) UnmarshalYAML(n *yaml.Node) error {
	if strings.TrimSpace(n.Value) == "forever" {
		*l = 0
		return nil
	}
	var d Duration
	if err := d.UnmarshalYAML(n); err != nil {
		return err
	}
	if d == 0 {
		return fmt.Errorf("line %d: for: %s: a run must last more than 0 (write for: forever, or leave for out, for a process that runs until it is stopped)", n.Line, n.Value)
	}
	*l = Lifetime(d)
	return nil
}

// ParseScenario reads a scenario file. Unknown keys and bad values are
// errors that name the file and line.
func ParseScenario(file string, src []byte) (*Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, positioned(file, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err == nil {
		recordLines(&s, &root)
	}
	s.File = file
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// The patterns are compiled when a scenario's error is worded, not at
// start: pmtr's daemon links this package (for pmtr sim) and never uses them.
var lineRx = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line (\d+): `) })

// positioned rewrites yaml's "line N: msg" errors as "FILE:N: msg".
func positioned(file string, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var out []string
	for _, m := range msgs {
		m = humanYAML(strings.TrimPrefix(m, "yaml: "))
		if loc := lineRx().FindStringSubmatchIndex(m); loc != nil {
			m = fmt.Sprintf("%s:%s: %s", file, m[loc[2]:loc[3]], m[:loc[0]]+m[loc[1]:])
		} else {
			m = file + ": " + m
		}
		out = append(out, "sim: "+m)
	}
	return errors.New(strings.Join(out, "\n"))
}

var (
	unknownFieldRx = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`field (\S+) not found in type sim\.(\w+)`)
	})
	intoTypeRx = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile("cannot unmarshal !!(\\w+) `([^`]*)` into (\\S+)")
	})
)

// keysOf are the keys a scenario type takes, by its Go name.
var keysOf = map[string]reflect.Type{
	"Scenario": reflect.TypeFor[Scenario](), "JobPlan": reflect.TypeFor[JobPlan](), "RunPlan": reflect.TypeFor[RunPlan](),
	"DepSetup": reflect.TypeFor[DepSetup](), "TimedEvent": reflect.TypeFor[TimedEvent](), "DepEvent": reflect.TypeFor[DepEvent](),
	"Crash": reflect.TypeFor[Crash](), "Expectation": reflect.TypeFor[Expectation](), "StateWant": reflect.TypeFor[StateWant](),
	"WindowPlan": reflect.TypeFor[WindowPlan](), "WatchdogPlan": reflect.TypeFor[WatchdogPlan](),
	"WhyWant": reflect.TypeFor[WhyWant](), "StartsWant": reflect.TypeFor[StartsWant](),
}

// humanYAML words the decoder's messages for people: no Go type names.
func humanYAML(m string) string {
	if g := unknownFieldRx().FindStringSubmatch(m); g != nil {
		var keys []string
		if t, ok := keysOf[g[2]]; ok {
			for i := range t.NumField() {
				if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
					keys = append(keys, k)
				}
			}
		}
		hint := confgrammar.Suggest(g[1], keys)
		if hint == "" && len(keys) > 0 {
			hint = " (known keys here: " + strings.Join(keys, ", ") + ")"
		}
		return strings.Replace(m, g[0], fmt.Sprintf("unknown key %q%s", g[1], hint), 1)
	}
	if g := intoTypeRx().FindStringSubmatch(m); g != nil {
		want := map[string]string{"sim.Duration": "a duration (e.g. 10s, 1m30s)", "int": "a whole number", "bool": "true or false",
			"uint64": "a whole number", "string": "text", "core.State": "a state name"}[g[3]]
		if want == "" {
			want = "a " + strings.TrimPrefix(g[3], "sim.") + " block"
		}
		return strings.Replace(m, g[0], fmt.Sprintf("%q is not %s", g[2], want), 1)
	}
	return m
}

// recordLines notes the line of each event and expectation, for messages.
func recordLines(s *Scenario, root *yaml.Node) {
	if len(root.Content) == 0 {
		return
	}
	doc := root.Content[0]
	for i := 0; i+1 < len(doc.Content); i += 2 {
		key, val := doc.Content[i].Value, doc.Content[i+1]
		for k, item := range val.Content {
			switch {
			case key == "events" && k < len(s.Events):
				s.Events[k].Line = item.Line
			case key == "expect" && k < len(s.Expect):
				s.Expect[k].Line = item.Line
			}
		}
	}
}

func (s *Scenario) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("sim: %s:%d: %s", s.File, line, fmt.Sprintf(format, args...))
}

func (s *Scenario) validate() error {
	if s.Config != "" && s.ConfigFile != "" {
		return s.errorf(1, "give either config or config_file, not both")
	}
	for _, e := range s.Events {
		if n := e.kinds(); n != 1 {
			return s.errorf(e.Line, "an event needs exactly one of edit, dep, writing, control, sighup, shutdown, crash (found %d)", n)
		}
	}
	for _, x := range s.Expect {
		if n := x.kinds(); n != 1 {
			return s.errorf(x.Line, "an expectation needs exactly one of running, stopped, state, starts, why, log, no_log, exit_code (found %d)", n)
		}
		if (x.Running != "" || x.Stopped != "") && x.At == nil {
			return s.errorf(x.Line, "running and stopped need at: TIME")
		}
		if err := x.compile(); err != nil {
			return s.errorf(x.Line, "%v", err)
		}
		if x.State != nil && x.State.State != notInConfig && !slices.Contains(core.States, x.State.State) {
			return s.errorf(x.Line, "state: unknown state %q (one of %v, or %q)", x.State.State, core.States, notInConfig)
		}
	}
	return nil
}

func (e TimedEvent) kinds() int {
	return count(e.Edit != nil, e.Dep != nil, e.Writing != nil, e.Control != "", e.Sighup, e.Shutdown, e.Crash != nil)
}

func (x Expectation) kinds() int {
	return count(x.Running != "", x.Stopped != "", x.State != nil, x.Starts != nil, x.Log != "", x.NoLog != "", x.Why != nil, x.ExitCode != nil)
}

func (x Expectation) compile() error {
	pats := []string{x.Log, x.NoLog}
	if x.Why != nil {
		pats = append(pats, x.Why.Matches)
	}
	for _, p := range pats {
		if _, err := regexp.Compile(p); err != nil {
			return fmt.Errorf("bad pattern %q: %v", p, err)
		}
	}
	return nil
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
