// Package confgrammar reads pmtr.conf: bytes in, a typed and validated Config
// or a list of positioned errors out. It is pure: no file system, no clock,
// no DNS. A config that includes other files is read through an FS the
// caller gives (Load): live/files reads the real files, the driver and the
// tests give a snapshot (Files). Resolving relative paths and checking
// interfaces happen in live.
package confgrammar

import (
	"path"
	"strconv"
	"time"
)

// Config is one parsed pmtr.conf.
type Config struct {
	// Jobs in start order: sorted by Order, ties in file order.
	Jobs    []Job
	Reports []Report  // "report to" lines, in file order
	Listens []Listen  // "listen on" lines, in file order
	Metrics []Metrics // "metrics on" lines, in file order
	// Warnings are likely mistakes found while parsing, in file order
	// (the files in the order of Files); they do not make the config invalid.
	Warnings []Warning
	// Files are the config's files: the main file, then each included
	// file in the order it was included.
	Files []string
	// Includes are the include lines, in the order they were read, with
	// the files each matched.
	Includes []Include
}

// Include is one "include PATTERN" line and what its pattern matched.
type Include struct {
	File    string   // the file the line is in
	Pos     Pos      // the include keyword
	Pattern string   // as written
	Glob    string   // the pattern, relative to the directory of File
	Matches []string // the files included, in name order
}

// Origin is where an option of a job was written (pmtr cat): Key is the
// option as Format writes it ("env", "stop signal"), "override" for an
// override block that changed the job. A repeatable option has one Origin
// per value (env) or per line.
type Origin struct {
	Key  string
	File string
	Line int
	Col  int // of the option's keyword, for messages that point at it
}

// Pos is a 1-based line and byte column in the config file.
type Pos struct{ Line, Col int }

// Job is one job block. The zero value of each optional field means "not set".
type Job struct {
	Name     string
	Cmd      []string // argv; Cmd[0] is the executable (no PATH search)
	Dir      string   // working directory; relative to pmtr's cwd
	Out      string   // stdout file; "" = pmtr's log, "syslog" likewise
	Err      string   // stderr file; "" = pmtr's log, "syslog" likewise
	In       string   // stdin file; "" = /dev/null
	Env      []string // VAR=VALUE, in file order
	User     string   // user name, resolved at spawn time
	Order    int
	Nice     int
	CPUs     []int    // sorted, unique CPU numbers; nil = no affinity
	Ulimits  []Ulimit // in file order; the last one for a resource wins
	Bounce   time.Duration
	Depends  []string // as written; see DependPaths
	Disabled bool
	Wait     bool
	Once     bool

	// The restart policy; each zero value keeps C pmtr's rule.
	Restart     RestartMode
	Success     []int         // exit codes that count as success, sorted; nil = 0 only
	Backoff     Backoff       // waits after failed runs; zero = 10 s after a run under Stable
	Stable      time.Duration // a run this long is not a failure and resets the backoff; 0 = 10 s
	GiveUp      GiveUp        // zero = never give up
	StopSignal  int           // the signal that stops the job; 0 = SIGTERM
	StopTimeout time.Duration // from the stop signal to SIGKILL; 0 = 10 s
	Critical    bool          // its end ends pmtr, with its exit code

	// Readiness and health (issue 23); each zero value: none.
	Ready        Probe         // when the job counts as ready
	ReadyTimeout time.Duration // not ready by then: a failed run; 0 = DefaultReadyTimeout
	After        []string      // jobs that must be ready (or running, or finished well) before it starts
	Check        Check         // its health check while it runs
	OnCheckFail  CheckAction   // what failed checks do
	Watchdog     time.Duration // longest silence between WATCHDOG=1 messages; 0 = none

	Pos  Pos    // the "job" keyword; not part of the job's identity
	File string // the file of the job's block ("" for a job made in code)
	// Origins say where each option was set, overrides included (pmtr
	// cat); not part of the job's identity.
	Origins []Origin
}

// Source is where the job is defined, "FILE:LINE" ("" for a job made in
// code).
func (j *Job) Source() string {
	if j.File == "" {
		return ""
	}
	return j.File + ":" + strconv.Itoa(j.Pos.Line)
}

// Ulimit is one resource limit; soft and hard are both set to Value.
type Ulimit struct {
	Flag     string // as written: "-n" or "RLIMIT_NOFILE"
	Resource int    // RLIMIT_* number (Linux)
	Value    uint64 // meaningful when !Infinite
	// Infinite is RLIM_INFINITY, except for RLIMIT_NOFILE, which the kernel
	// cannot make infinite: there it means the kernel's maximum (fs.nr_open).
	Infinite bool
}

// Report is a "report to udp://HOST:PORT[@IFACE]" destination.
type Report struct {
	Host  string
	Port  int
	Iface string // multicast egress interface, or ""
	Pos   Pos
	File  string // the file of the line
}

// Listen is a "listen on udp://HOST:PORT [key FILE]" control socket.
type Listen struct {
	Host    string
	Port    int
	KeyFile string // shared key for authenticated control, or ""
	Pos     Pos
	File    string // the file of the line
}

// Metrics is a "metrics on http://HOST:PORT" endpoint (Prometheus format).
type Metrics struct {
	Host string
	Port int
	Pos  Pos
	File string // the file of the line
}

// DependPaths resolves the job's dependency files as C pmtr does: absolute
// paths as written; relative ones against Dir when set, else against cwd.
func (j *Job) DependPaths(cwd string) []string {
	out := make([]string, len(j.Depends))
	for i, d := range j.Depends {
		out[i] = resolve(d, j.Dir, cwd)
	}
	return out
}

func resolve(p, dir, cwd string) string {
	if path.IsAbs(p) {
		return p
	}
	if dir != "" {
		if path.IsAbs(dir) {
			return path.Join(dir, p)
		}
		return path.Join(cwd, dir, p)
	}
	return path.Join(cwd, p)
}

// OutFile is the file the job's stdout goes to, or "" when it goes to
// pmtr's log (no out line, or "out syslog").
func (j *Job) OutFile() string { return fileOrLog(j.Out) }

// ErrFile is the file the job's stderr goes to, or "" for pmtr's log.
func (j *Job) ErrFile() string { return fileOrLog(j.Err) }

func fileOrLog(path string) string {
	if path == "syslog" {
		return ""
	}
	return path
}
