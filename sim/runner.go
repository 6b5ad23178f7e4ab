package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
)

// RunOptions adjust a scenario run from the command line.
type RunOptions struct {
	Seed       *uint64 // overrides the scenario's seed
	ConfigFile string  // overrides the scenario's config (pmtr sim -c)
	Samples    int     // timeline samples to record (0 = none)
}

// Result is a finished scenario run.
type Result struct {
	Scenario *Scenario
	Logs     []string // "+T text", the daemon's log lines
	Failures []string // broken expectations, each naming file, line and time
	Jobs     []JobSummary
	Timeline Timeline
	World    *World
	Warnings []string // things in the scenario that are likely mistakes
	// Exited: pmtr's shutdown completed within the run; then ExitCode is
	// the code it exits with and ExitBy the critical job that decided it.
	Exited   bool
	ExitCode int
	ExitBy   string
	// ExitCause words why, when ExitCode is not 0: "critical job db".
	ExitCause string
}

// runner is the state of one scenario run.
type runner struct {
	s      *Scenario
	w      *World
	res    *Result
	tally  map[string]*JobSummary
	starts map[int]core.Time // live pid -> start time
	pidJob map[int]string
	began  map[string][]core.Time // job -> when each of its processes started
	hit    map[string]bool        // jobs the outside event being applied acted on, or nil
}

// simConfig is the config file's name inside a simulated run.
const simConfig = "pmtr.conf"

// RunScenario runs s in virtual time and checks its expectations.
func RunScenario(s *Scenario, o RunOptions) (*Result, error) {
	conf, err := s.configText(o.ConfigFile)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(conf) == "" && o.ConfigFile == "" {
		return nil, fmt.Errorf("sim: %s: the scenario has no config (add config: | with the pmtr.conf text, or config_file: PATH)", s.File)
	}
	cfg, err := confgrammar.Parse(s.configName(o.ConfigFile), []byte(conf))
	if err != nil {
		return nil, fmt.Errorf("sim: %s: the config does not parse:\n%w", s.File, err)
	}
	if err := s.checkNames(cfg); err != nil {
		return nil, err
	}
	r := &runner{s: s, res: &Result{Scenario: s},
		tally: map[string]*JobSummary{}, starts: map[int]core.Time{}, pidJob: map[int]string{},
		began: map[string][]core.Time{}}
	seed := s.Seed
	if o.Seed != nil {
		seed = *o.Seed
	}
	r.w = NewWorldWith(s.scripts(), driver.Options{ConfigPath: simConfig, Cwd: "/", Initial: cfg, Files: confgrammar.OneFile(simConfig, []byte(conf)), Seed: seed})
	r.w.B.Seed(seed)
	r.w.OnEvent = r.observe
	r.w.OnEffect = r.effect
	r.w.B.SetFile(simConfig, conf)
	for path, d := range s.Deps {
		r.w.B.SetDep(depState(absDep(path), d.Content, d.Missing))
	}
	r.res.Warnings = s.warnings(cfg)
	r.w.Start()
	r.play(o.Samples)
	r.finish()
	return r.res, nil
}

// checkNames rejects job behaviours and crashes that name a job found in
// neither the config nor any edit: a typo there would silently do nothing.
func (s *Scenario) checkNames(cfg *confgrammar.Config) error {
	known := map[string]bool{}
	add := func(c *confgrammar.Config) {
		for _, j := range c.Jobs {
			known[j.Name] = true
		}
	}
	add(cfg)
	for _, e := range s.Events {
		if e.Edit != nil {
			if c, err := confgrammar.Parse("edit", []byte(*e.Edit)); err == nil {
				add(c)
			}
		}
	}
	names := make([]string, 0, len(s.Jobs))
	for n := range s.Jobs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if !known[n] {
			return fmt.Errorf("sim: %s: jobs: no job named %q in the config or any edit", s.File, n)
		}
	}
	for _, e := range s.Events {
		if e.Crash != nil && !known[e.Crash.Job] {
			return s.errorf(e.Line, "crash: no job named %q in the config or any edit", e.Crash.Job)
		}
	}
	return nil
}

// warnings: a wait job with no behaviour runs until stopped, so every job
// after it waits for the whole run.
func (s *Scenario) warnings(cfg *confgrammar.Config) []string {
	var out []string
	for _, j := range cfg.Jobs {
		if _, ok := s.Jobs[j.Name]; j.Wait && !ok {
			out = append(out, fmt.Sprintf("sim: %s: warning: job %s has wait but no behaviour under jobs:, so it runs until stopped and every job after it waits for the whole run (add e.g. jobs: {%s: {runs: [{for: 2s}]}})", s.File, j.Name, j.Name))
		}
	}
	return out
}

func (s *Scenario) configName(override string) string {
	switch {
	case override != "":
		return override
	case s.ConfigFile != "":
		return s.ConfigFile
	}
	return s.File + " (config)"
}

func (s *Scenario) configText(override string) (string, error) {
	path := override
	if path == "" && s.ConfigFile != "" {
		path = s.ConfigFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(s.File), path)
		}
	}
	if path == "" {
		return s.Config, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("sim: %s: read config: %w", s.File, err)
	}
	return string(b), nil
}

func (s *Scenario) scripts() map[string]*Script {
	out := map[string]*Script{}
	for name, plan := range s.Jobs {
		sc := &Script{}
		for _, p := range plan.Runs {
			run := Run{For: time.Duration(p.For), Exit: p.Exit, Signal: p.Signal, IgnoreTerm: p.IgnoreTerm, ExitsOn: p.ExitsOn,
				StopDelay: time.Duration(p.StopDelay), SpawnError: p.SpawnError, ExecError: p.ExecError,
				Orphans: p.Orphans, OOM: p.OOM}
			if len(p.ForRandom) == 2 {
				run.For, run.ForMax = time.Duration(p.ForRandom[0]), time.Duration(p.ForRandom[1])
			}
			p.health(&run)
			sc.Runs = append(sc.Runs, run)
		}
		out[name] = sc
	}
	return out
}

// absDep resolves a dependency path as the simulated pmtr runs in "/".
func absDep(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join("/", p)
}

func depState(path, content string, missing bool) core.DepState {
	if missing {
		return core.DepState{Path: path, Missing: true}
	}
	sum := sha256.Sum256([]byte(content))
	return core.DepState{Path: path, Hash: hex.EncodeToString(sum[:8])}
}

// agenda item kinds, in the order they run at one instant.
const (
	doEvent = iota
	doCheck
	doSample
)

type item struct {
	at   core.Time
	kind int
	idx  int
}

// play runs events, timed checks and timeline samples in time order.
func (r *runner) play(samples int) {
	end := core.Time(r.s.RunFor)
	var agenda []item
	for i, e := range r.s.Events {
		agenda = append(agenda, item{core.Time(e.At), doEvent, i})
	}
	for i, x := range r.s.Expect {
		if x.At != nil {
			agenda = append(agenda, item{core.Time(*x.At), doCheck, i})
		}
	}
	for i := 0; i < samples && end > 0; i++ {
		agenda = append(agenda, item{end * core.Time(i) / core.Time(samples), doSample, i})
	}
	slices.SortStableFunc(agenda, func(a, b item) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return a.kind - b.kind
	})
	r.res.Timeline.End = end
	for _, it := range agenda {
		r.w.RunUntil(it.at)
		switch it.kind {
		case doEvent:
			r.apply(r.s.Events[it.idx])
		case doCheck:
			r.check(r.s.Expect[it.idx])
		case doSample:
			r.res.Timeline.add(r.w.Now, r.w.M.Status())
		}
	}
	r.w.RunUntil(end)
}

// apply performs one outside event at the current time, as the daemon
// would receive it: a save or a dependency change is a watched file that
// changed, a control message is text to decode.
func (r *runner) apply(e TimedEvent) {
	r.mark(e)
	r.hit = map[string]bool{}
	defer r.hitJobs()
	switch {
	case e.Edit != nil:
		r.w.B.SetFile(simConfig, *e.Edit)
		r.w.B.SetWriting(simConfig, false)
		r.w.Input(driver.Reload{})
	case e.Sighup:
		r.w.Input(driver.Reload{Force: true})
	case e.Dep != nil:
		r.w.B.SetDep(depState(absDep(e.Dep.Path), e.Dep.Content, e.Dep.Missing))
		r.w.B.SetWriting(absDep(e.Dep.Path), false)
		r.w.Input(driver.Reload{})
	case e.Writing != nil:
		r.writing(e.Writing)
	case e.Control != "":
		r.w.Input(driver.ControlText{From: "sim", Text: e.Control})
	case e.Shutdown:
		r.w.Step(core.Shutdown{Signal: 15})
	case e.Crash != nil:
		r.crash(e.Crash)
	}
}

// mark notes an outside event on the timeline.
func (r *runner) mark(e TimedEvent) {
	kind := byte('K')
	switch {
	case e.Edit != nil:
		kind = 'E'
	case e.Sighup:
		kind = 'H'
	case e.Dep != nil:
		kind = 'D'
	case e.Writing != nil:
		kind = 'W'
	case e.Control != "":
		kind = 'C'
	case e.Shutdown:
		kind = 'S'
	}
	r.res.Timeline.Marks = append(r.res.Timeline.Marks, Mark{At: r.w.Now, Kind: kind})
}

// effect notes the job an effect acts on while an outside event is
// applied: the jobs that event hit.
func (r *runner) effect(_ core.Time, e core.Effect) {
	if r.hit == nil {
		return
	}
	switch e := e.(type) {
	case core.Spawn:
		r.hit[e.Job] = true
	case core.Kill:
		r.hit[e.Job] = true
	case core.Cancel:
		r.hit[e.Job] = true
	case core.Log:
		if e.Job != "" {
			r.hit[e.Job] = true
		}
	}
}

// hitJobs gives the last mark the jobs its event hit, by name.
func (r *runner) hitJobs() {
	m := &r.res.Timeline.Marks[len(r.res.Timeline.Marks)-1]
	for j := range r.hit {
		m.Jobs = append(m.Jobs, j)
	}
	slices.Sort(m.Jobs)
	r.hit = nil
}

// writing: a program has written w.Content so far to the config (no path)
// or a dependency, and holds the file open; a later edit or dep event of
// that file is its close.
func (r *runner) writing(w *DepEvent) {
	path := simConfig
	if w.Path != "" {
		path = absDep(w.Path)
		r.w.B.SetDep(depState(path, w.Content, false))
	} else {
		r.w.B.SetFile(simConfig, w.Content)
	}
	r.w.B.SetWriting(path, true)
	r.w.Input(driver.Reload{})
}

func (r *runner) crash(c *Crash) {
	for _, st := range r.w.M.Status() {
		if st.Name == c.Job && st.PID != 0 {
			r.w.B.Crash(st.PID, c.Exit, c.Signal)
			r.w.RunUntil(r.w.Now)
			return
		}
	}
}

// observe keeps the per-job tallies from the events the machine sees.
func (r *runner) observe(now core.Time, ev core.Event) {
	switch e := ev.(type) {
	case core.Spawned:
		r.starts[e.PID], r.pidJob[e.PID] = now, e.Job
		r.began[e.Job] = append(r.began[e.Job], now)
		r.job(e.Job).Starts++
	case core.SpawnFailed:
		r.job(e.Job).Starts++
		r.job(e.Job).exit("spawn failed")
	case core.Exited:
		name, ok := r.pidJob[e.PID]
		if !ok {
			return
		}
		j := r.job(name)
		j.Running += time.Duration(now - r.starts[e.PID])
		j.exit(exitKey(e))
		delete(r.starts, e.PID)
		delete(r.pidJob, e.PID)
	}
}

func exitKey(e core.Exited) string {
	if e.Signal != 0 {
		return fmt.Sprintf("signal %d", e.Signal)
	}
	return fmt.Sprintf("exit %d", e.Status)
}

func (r *runner) job(name string) *JobSummary {
	j := r.tally[name]
	if j == nil {
		j = &JobSummary{Name: name, Exits: map[string]int{}}
		r.tally[name] = j
	}
	return j
}

// finish closes the tallies and checks the expectations about the whole run.
func (r *runner) finish() {
	for pid, at := range r.starts {
		r.job(r.pidJob[pid]).Running += time.Duration(r.w.Now - at)
	}
	names := make([]string, 0, len(r.tally))
	for n := range r.tally {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r.res.Jobs = append(r.res.Jobs, *r.tally[n])
	}
	r.res.Logs = r.w.Logs()
	r.res.World = r.w
	r.res.Exited = r.w.Done()
	r.res.ExitCode, r.res.ExitBy = r.w.M.ExitCode()
	r.res.ExitCause = r.w.M.ExitCause()
	r.res.Timeline.Starts = r.began
	for _, x := range r.s.Expect {
		if x.At == nil {
			r.check(x)
		}
	}
}

// health copies a run's readiness and health plan.
func (p RunPlan) health(run *Run) {
	if p.Ready != nil {
		run.ReadyAfter, run.ReadyNever = time.Duration(p.Ready.After), p.Ready.Never
	}
	if p.CheckFails != nil {
		run.CheckFails = Window{On: true, From: time.Duration(p.CheckFails.From), To: time.Duration(p.CheckFails.To)}
	}
	run.ProbeTakes = time.Duration(p.ProbeTakes)
	if p.Watchdog != nil {
		run.WatchdogEvery, run.WatchdogUntil = time.Duration(p.Watchdog.Every), time.Duration(p.Watchdog.Until)
	}
}
