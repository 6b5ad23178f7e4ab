package driver

import (
	"fmt"
	"strings"

	"pmtr/confgrammar"
	"pmtr/core"
)

// Backend is the world as the driver sees it: live (real processes, real
// time) or sim (virtual ones). Every method but Next returns at once; work
// that may block (forks, file reads, host checks such as a report
// interface's existence) is done elsewhere and answered later through Next,
// as data: inputs carry no functions, so the driver runs no code of the
// backend's but these methods (and SpawnObserver's, if implemented).
//
// It is split by concern, so that a fake in a test implements only the
// parts it needs and embeds the others; New takes one value that
// implements them all.
type Backend interface {
	Clock
	Processes
	Files
	Outputs
	Probes
}

// Clock is the backend's time and its one wait.
type Clock interface {
	// Next waits for the next input or until the deadline passes (then it
	// returns Tick). It returns nil when the run should pause (sim: the
	// horizon is reached; live: never).
	Next(deadline core.Time) Input
	// Now is the time since the backend started.
	Now() core.Time
}

// Processes are the jobs' processes.
type Processes interface {
	// Start begins a spawn; Spawned or SpawnFailed comes back as an Event,
	// and, for a process that then cannot run the program, ExecFailed.
	Start(core.Spawn)
	// Cancel withdraws a spawn not yet begun (answered by SpawnCancelled);
	// one already begun is answered as usual.
	Cancel(core.Cancel)
	// Signal sends a signal to a job's process group.
	Signal(core.Kill)
}

// Files are the config's files and the outside world it sets up.
type Files interface {
	// Read reads the config file, hashes dependency files and checks a
	// config against the host; FilesRead comes back with the request's Seq.
	Read(ReadRequest)
	// Apply sets up the outside-world part of a config in force: report
	// destinations, control listeners and the files to watch.
	Apply(Setup)
}

// Probes ask whether jobs are ready or healthy (issue 23).
type Probes interface {
	// Probe makes one probe attempt (tcp, http, exec, file); its outcome
	// comes back as a ProbeResult Event. Jobs that say they are ready
	// (sd_notify, a readiness descriptor) send Notified Events unasked.
	Probe(core.Probe)
}

// Outputs are what pmtr tells the world.
type Outputs interface {
	// Report sends a status report to the config's report destinations.
	Report(body string)
	// Log writes one line of pmtr's log (Job: the job it is about, if any).
	Log(core.Log)
}

// SpawnObserver is an optional part of a Backend. The driver calls
// AfterSpawned once it has performed the effects of a Spawned event (the
// "started job" line among them): live starts reading the job's output only
// then, so that the start is logged before the job's first line. Called on
// the driver's loop, it must return at once.
type SpawnObserver interface {
	AfterSpawned(core.Spawned)
}

// Input is anything that reaches the driver. The set is closed: the types
// below are all there are (the driver logs any other as a backend bug).
type Input interface {
	fmt.Stringer
	isInput()
}

// Event carries a core event, stamped with the time it happened (an exit is
// stamped when it is reaped, not when the driver gets to it).
type Event struct {
	At core.Time
	Ev core.Event
}

// Tick: the deadline the driver gave to Next has passed.
type Tick struct{}

// Reload asks to read the config again: Force (SIGHUP, a command) applies
// it even when its content has not changed; otherwise (a watched file
// changed) only changes count, of the config or of dependencies.
type Reload struct {
	Force bool
	Reply chan<- Result // if set, answered once the reload is done (pmtr reload)
}

// ControlText is a control message as received (already authenticated),
// from the sender named From on the listener named Via; the driver decodes
// it.
type ControlText struct{ From, Via, Text string }

// StatusQuery asks for a snapshot; the driver sends one on Reply, which
// must have room for it.
type StatusQuery struct{ Reply chan<- Snapshot }

// ReadRequest asks the backend for the config's files (when Config: the
// file and every file its include lines match, as confgrammar.Gather
// takes them), the state of each dependency file in Deps and the content
// of each key file in Keys.
type ReadRequest struct {
	Seq    uint64
	Config string // path of the config file; "" = do not read it
	Deps   []string
	Keys   []string
	// Check, if set, is a parsed config (of the file named CheckFile) to
	// check against this host: its host-dependent warnings
	// (hostfacts.HostWarnings) go in the answer's Warnings, and what keeps it
	// from running here (hostfacts.CheckInterfaces) in HostErr.
	Check     *confgrammar.Config
	CheckFile string
}

// FilesRead answers a ReadRequest.
type FilesRead struct {
	Seq uint64
	// Config is the config's files when asked (ReadRequest.Config): the
	// main file (its Err: it could not be read) and the files it
	// includes. The driver loads the config from them, all or nothing.
	Config   *confgrammar.Files
	Deps     []core.DepState
	Keys     []KeyFile
	Warnings []confgrammar.Warning
	// Writing lists the files (config, included files, dependencies,
	// keys) that another program held open for writing: a save in
	// progress. They were not read; the driver keeps what it knew of them
	// until they are closed.
	Writing []string
	HostErr error // ReadRequest.Check cannot run on this host: the driver rejects it
}

// KeyFile is a key file's content, or why it cannot be used (missing,
// empty, readable by others).
type KeyFile struct {
	Path string
	Key  []byte
	Err  error
}

// Setup is the part of a config that the backend applies to the world.
type Setup struct {
	Reports []confgrammar.Report
	Listens []confgrammar.Listen // KeyFile resolved to an absolute path
	Metrics []confgrammar.Metrics
	Keys    map[string][]byte // key file path -> key
	// Watch: the config file, every file it includes, every dependency
	// and key file, and each include pattern (confgrammar.Include.Glob,
	// absolute: its directory is watched, and a file it matches counts as
	// one of the config's).
	Watch []string
	// Notify names the jobs that use a notify socket (ready notify or
	// watchdog), in config order: the sockets of the others can go.
	Notify []string
}

func (Event) isInput()       {}
func (Tick) isInput()        {}
func (Reload) isInput()      {}
func (ControlText) isInput() {}
func (StatusQuery) isInput() {}
func (FilesRead) isInput()   {}

func (e Event) String() string { return fmt.Sprintf("event at %v: %v", e.At, e.Ev) }
func (Tick) String() string    { return "tick" }
func (r Reload) String() string {
	if r.Force {
		return "reload (forced)"
	}
	return "reload (if changed)"
}
func (c ControlText) String() string { return fmt.Sprintf("control %q from %s", c.Text, c.From) }
func (StatusQuery) String() string   { return "status query" }
func (f FilesRead) String() string {
	n, files := 0, 0
	if f.Config != nil {
		files = len(f.Config.Read)
		for _, r := range f.Config.Read {
			n += len(r.Data)
		}
	}
	s := fmt.Sprintf("files-read seq=%d config=%d bytes deps=%d", f.Seq, n, len(f.Deps))
	if files > 1 {
		s += fmt.Sprintf(" in %d files", files)
	}
	if len(f.Writing) > 0 {
		s += " writing=" + strings.Join(f.Writing, ",")
	}
	return s
}
