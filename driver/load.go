package driver

import (
	"crypto/sha256"
	"fmt"
	"path"
	"slices"
	"strings"

	"pmtr/confgrammar"
	"pmtr/core"
)

// loader is the state of config reading. One read is in flight at a time;
// requests that come meanwhile are merged into one read after it.
type loader struct {
	seq       uint64
	inflight  bool
	newDeps   bool // the read in flight hashes a new config's dependencies
	force     bool // the read in flight applies the config even if unchanged
	want      bool // another read is due once this one is answered
	wantForce bool
	cfg       *confgrammar.Config // parsed, waiting for its dependencies
	keys      []string            // its key files
	sum       [32]byte
	files     map[string][32]byte // cfg's files, by path: their content
	changes   string              // which of them changed, for the log
	old       FilesRead           // the files in force, as the read that found cfg saw them
	waiting   []chan<- Result     // pmtr reload callers for the next read
	answering []chan<- Result     // those the read in flight answers
	result    Result              // what the read in flight came to
}

// reload asks for the config and the dependencies to be read again.
func (d *Driver) reload(r Reload) {
	d.ld.want = true
	d.ld.wantForce = d.ld.wantForce || r.Force
	if r.Reply != nil {
		d.ld.waiting = append(d.ld.waiting, r.Reply)
	}
	d.kick()
}

func (d *Driver) kick() {
	if d.ld.inflight || !d.ld.want {
		return
	}
	d.ld.want, d.ld.force, d.ld.wantForce = false, d.ld.wantForce, false
	d.ld.answering, d.ld.waiting = d.ld.waiting, nil
	d.ld.result = Result{Lines: []string{fmt.Sprintf("ok (%d jobs): nothing changed", len(d.m.Names()))}}
	d.read(false, d.o.ConfigPath, d.depPaths(), d.keyPaths())
}

func (d *Driver) read(newDeps bool, config string, deps, keys []string) {
	d.ld.seq++
	d.ld.inflight, d.ld.newDeps = true, newDeps
	r := ReadRequest{Seq: d.ld.seq, Config: config, Deps: deps, Keys: keys}
	if newDeps {
		r.Check, r.CheckFile = d.ld.cfg, d.o.ConfigPath
	}
	d.b.Read(r)
}

func (d *Driver) onRead(f FilesRead) {
	if !d.ld.inflight || f.Seq != d.ld.seq {
		return // not the read in flight: a backend bug, but harmless
	}
	d.ld.inflight = false
	if d.ld.newDeps {
		d.install(f)
	} else {
		d.reread(f)
	}
	if !d.ld.inflight { // the reload is over: tell who asked
		for _, r := range d.ld.answering {
			r <- d.ld.result
		}
		d.ld.answering = nil
	}
	d.kick()
}

// rejected records and tells the core that a reload failed.
func (d *Driver) rejected(err error, changes string) {
	msgs := confgrammar.Messages(err)
	d.ld.result = Result{Code: CodeFailed, Lines: append(slices.Clone(msgs), "parse failed: the config in force stays")}
	d.refuse(msgs)
	d.step(d.b.Now(), core.ConfigRejected{File: d.o.ConfigPath, Errors: msgs, Changes: changes})
}

// reread acts on a fresh read of the config's files and of the
// dependencies in force: a changed (or forced) good config is prepared for
// loading; a bad one (any of its files) is rejected and the running config
// stays, with its dependencies checked for changes.
func (d *Driver) reread(f FilesRead) {
	snap := f.Config
	if snap == nil { // a backend that did not read the config: nothing to load
		snap = &confgrammar.Files{Main: d.o.ConfigPath}
	}
	if slices.ContainsFunc(snap.Read, func(r confgrammar.File) bool { return slices.Contains(f.Writing, r.Path) }) {
		d.configHeld(f.Writing)
		d.depChanges(f)
		d.keyChanges(f)
		return
	}
	mainErr := snap.MainErr()
	sum := filesSum(snap)
	if mainErr == nil && sum == d.sum && !d.ld.force {
		d.depChanges(f)
		if d.keyChanges(f) {
			d.restored() // a refused save undone: the file is the config in force again
		}
		return
	}
	files := fileSums(snap)
	changes := d.changedFiles(files)
	var cfg *confgrammar.Config
	err := fmt.Errorf("can't open %s: %v", d.o.ConfigPath, mainErr)
	if mainErr == nil {
		cfg, err = confgrammar.Load(d.o.ConfigPath, snap)
	}
	if err != nil {
		d.rejected(err, changes)
		d.depChanges(f)
		d.keyChanges(f)
		return
	}
	d.ld.old = FilesRead{Deps: f.Deps, Keys: f.Keys, Writing: f.Writing}
	d.ld.files = files
	d.prepare(cfg, sum, changes)
}

// filesSum is the hash of a config's files: of the main file's content
// when it is the only one (as it was before include), else of every
// file's name and content and every pattern's matches, in the order read.
func filesSum(s *confgrammar.Files) [32]byte {
	if s == nil || len(s.Read) == 0 {
		return sha256.Sum256(nil)
	}
	if len(s.Read) == 1 && len(s.Globs) == 0 {
		return sha256.Sum256(s.Read[0].Data)
	}
	h := sha256.New()
	for _, r := range s.Read {
		fmt.Fprintf(h, "file %q %d %v\n", r.Path, len(r.Data), r.Err)
		h.Write(r.Data)
	}
	for _, g := range s.Globs {
		fmt.Fprintf(h, "glob %q %q %v\n", g.Pattern, g.Matches, g.Err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// fileSums hashes each file of a snapshot, by path.
func fileSums(s *confgrammar.Files) map[string][32]byte {
	out := map[string][32]byte{}
	if s != nil {
		for _, r := range s.Read {
			out[r.Path] = sha256.Sum256(r.Data)
		}
	}
	return out
}

// changedFiles words which files differ from the config in force: "a.conf
// changed, b.conf added, c.conf removed"; "" when the config in force and
// the new one are of one file each.
func (d *Driver) changedFiles(files map[string][32]byte) string {
	if len(files) <= 1 && len(d.files) <= 1 {
		return ""
	}
	var words []string
	for _, p := range sortedKeys(files) {
		if old, ok := d.files[p]; !ok {
			words = append(words, p+" added")
		} else if old != files[p] {
			words = append(words, p+" changed")
		}
	}
	for _, p := range sortedKeys(d.files) {
		if _, ok := files[p]; !ok {
			words = append(words, p+" removed")
		}
	}
	return strings.Join(words, ", ")
}

func sortedKeys(m map[string][32]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// configHeld: the config file is being saved (another program holds it
// open for writing), so what it holds now may be a part of the save. The
// config in force stays; the close of the file brings the whole save. A
// forced reload says so; a watched change stays quiet, as one comes with
// every write of a save.
func (d *Driver) configHeld(writing []string) {
	if !d.ld.force {
		return
	}
	file := d.o.ConfigPath
	if !slices.Contains(writing, file) {
		file = writing[0] // an included file, or several
	}
	msg := fmt.Sprintf("%s is held open for writing by another program: the config in force stays; "+
		"it applies once that program closes the file", file)
	d.b.Log(core.Log{Level: core.Info, Text: msg})
	d.ld.result = Result{Code: CodeFailed, Lines: []string{msg}}
}

// prepare resolves a parsed config's dependencies and asks for their state.
func (d *Driver) prepare(cfg *confgrammar.Config, sum [32]byte, changes string) {
	var paths []string
	for i := range cfg.Jobs {
		cfg.Jobs[i].Depends = cfg.Jobs[i].DependPaths(d.o.Cwd)
		for _, p := range cfg.Jobs[i].Depends {
			if !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
	}
	d.ld.cfg, d.ld.sum, d.ld.changes = cfg, sum, changes
	d.ld.keys = d.resolveKeys(cfg)
	d.read(true, "", paths, d.ld.keys)
}

// install hands the prepared config to the core with its dependencies'
// state, and sets the world up for it. A config the host cannot run (the
// backend checked it while reading) or with a key file that cannot be used
// is rejected: the running config stays, with its files checked for
// changes as the read that found the new config saw them.
func (d *Driver) install(f FilesRead) {
	cfg, old, files := d.ld.cfg, d.ld.old, d.ld.files
	d.ld.cfg, d.ld.old, d.ld.files = nil, FilesRead{}, nil
	d.keepHeld(&f)
	err := f.HostErr
	var keys map[string][]byte
	if err == nil {
		keys, err = d.checkKeys(cfg.Listens, f.Keys)
	}
	if err != nil {
		d.rejected(err, d.ld.changes)
		d.depChanges(old)
		d.keyChanges(old)
		return
	}
	if len(d.ld.answering) > 0 {
		d.ld.result = planResult(d.m.Plan(d.b.Now(), cfg, f.Deps), len(cfg.Jobs))
	}
	d.keysChanged(keys)
	d.inForce(d.ld.sum)
	d.files, d.includes = files, cfg.Includes
	d.deps = make(map[string]core.DepState, len(f.Deps))
	watch := d.configWatch(cfg)
	for _, st := range f.Deps {
		d.deps[st.Path] = st
		watch = append(watch, st.Path)
	}
	d.setup = Setup{Reports: cfg.Reports, Listens: cfg.Listens, Metrics: cfg.Metrics, Keys: keys, Watch: append(watch, d.ld.keys...),
		Notify: notifyJobs(cfg)}
	d.b.Apply(d.setup)
	d.gen++
	running := d.o.Running
	d.o.Running = nil // the first load only
	d.step(d.b.Now(), core.ConfigLoaded{Gen: d.gen, Config: cfg, Deps: f.Deps, Warnings: warnings(cfg, f.Warnings), Changes: d.ld.changes,
		Running: running})
}

// notifyJobs names the jobs of cfg that use a notify socket.
func notifyJobs(cfg *confgrammar.Config) []string {
	var jobs []string
	for i := range cfg.Jobs {
		if cfg.Jobs[i].UsesNotify() {
			jobs = append(jobs, cfg.Jobs[i].Name)
		}
	}
	return jobs
}

// configWatch lists what to watch of the config itself: its main file, the
// files it includes and its include patterns, as absolute paths.
func (d *Driver) configWatch(cfg *confgrammar.Config) []string {
	watch := []string{d.absConfig()}
	for _, f := range cfg.Files {
		if p := d.abs(f); !slices.Contains(watch, p) {
			watch = append(watch, p)
		}
	}
	for _, inc := range cfg.Includes {
		if p := d.abs(inc.Glob); !slices.Contains(watch, p) {
			watch = append(watch, p)
		}
	}
	return watch
}

// planResult words a reload's outcome for pmtr reload.
func planResult(p core.Plan, jobs int) Result {
	r := Result{Lines: []string{fmt.Sprintf("ok (%d %s)", jobs, map[bool]string{true: "job", false: "jobs"}[jobs == 1])}}
	for _, c := range p.Changes {
		r.Lines = append(r.Lines, c.String())
	}
	r.Lines = append(r.Lines, fmt.Sprintf("untouched: %d", p.Untouched))
	return r
}

// warnings are the grammar's and the host's, in file order (the files in
// the order the config read them).
func warnings(cfg *confgrammar.Config, host []confgrammar.Warning) []string {
	all := append(slices.Clone(cfg.Warnings), host...)
	confgrammar.SortWarnings(cfg.Files, all)
	out := make([]string, len(all))
	for i, w := range all {
		out[i] = w.String()
	}
	return out
}

// keepHeld replaces what was read of each file held open for writing (a
// save in progress, not read) by what was known of it: a dependency keeps
// its last state and a key file its key in force, so half a save changes
// nothing. A file never seen before has no last state: a dependency is
// "missing" until its save is done (the job waits for it), a key file is
// refused.
func (d *Driver) keepHeld(f *FilesRead) {
	for i, st := range f.Deps {
		if !slices.Contains(f.Writing, st.Path) {
			continue
		}
		if old, ok := d.deps[st.Path]; ok {
			f.Deps[i] = old
		} else {
			f.Deps[i] = core.DepState{Path: st.Path, Missing: true, Reason: "is being written by another program"}
		}
	}
	for i, k := range f.Keys {
		if !slices.Contains(f.Writing, k.Path) {
			continue
		}
		if key, ok := d.setup.Keys[k.Path]; ok {
			f.Keys[i] = KeyFile{Path: k.Path, Key: key}
		} else {
			f.Keys[i] = KeyFile{Path: k.Path, Err: fmt.Errorf("is being written by another program; save it again once that is done")}
		}
	}
}

// depChanges tells the core about each dependency whose state differs from
// the one last seen; one held open for writing has not changed yet.
func (d *Driver) depChanges(f FilesRead) {
	d.keepHeld(&f)
	for _, st := range f.Deps {
		if old, ok := d.deps[st.Path]; ok && old != st {
			d.deps[st.Path] = st
			d.step(d.b.Now(), core.DepChanged(st))
		}
	}
}

// depPaths are the dependencies in force, sorted.
func (d *Driver) depPaths() []string {
	out := make([]string, 0, len(d.deps))
	for p := range d.deps {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// keyPaths are the key files of the config in force.
func (d *Driver) keyPaths() []string {
	var out []string
	for _, l := range d.setup.Listens {
		if l.KeyFile != "" && !slices.Contains(out, l.KeyFile) {
			out = append(out, l.KeyFile)
		}
	}
	return out
}

func (d *Driver) absConfig() string { return d.abs(d.o.ConfigPath) }

// abs makes a path of the config (relative to pmtr's working directory)
// absolute.
func (d *Driver) abs(p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(d.o.Cwd, p)
}
