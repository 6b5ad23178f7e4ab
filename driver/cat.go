package driver

import (
	"path"
	"strings"

	"pmtr/confgrammar"
)

// CatQuery asks for the config in force as one file (pmtr cat): every
// job (or those of Jobs), each line with the FILE:LINE it came from. The
// driver answers on Reply, which must have room for it.
type CatQuery struct {
	Jobs  []string
	Reply chan<- Result
}

func (CatQuery) isInput() {}

func (q CatQuery) String() string { return "cat " + strings.Join(q.Jobs, " ") }

// cat answers a CatQuery from the core's definitions and the setup in
// force, as confgrammar.FormatSources words a config read from its files.
func (d *Driver) cat(q CatQuery) {
	if bad := d.unknownJobs(q.Jobs); len(bad) > 0 {
		q.Reply <- Result{Code: CodeUnknown, Lines: bad}
		return
	}
	cfg := confgrammar.Config{Jobs: d.m.Specs(), Reports: d.setup.Reports, Listens: d.setup.Listens,
		Metrics: d.setup.Metrics, Includes: d.includes}
	var r Result
	if text := strings.TrimSuffix(confgrammar.FormatSources(&cfg, q.Jobs), "\n"); text != "" {
		r.Lines = strings.Split(text, "\n")
	}
	q.Reply <- r
}

// ResolvePaths makes a config's dependency and key file paths absolute as
// a load does (relative ones against the job's dir, else cwd), so that a
// config the command line reads prints as the daemon's in force does.
func ResolvePaths(cfg *confgrammar.Config, cwd string) {
	for i := range cfg.Jobs {
		cfg.Jobs[i].Depends = cfg.Jobs[i].DependPaths(cwd)
	}
	for i := range cfg.Listens {
		if k := cfg.Listens[i].KeyFile; k != "" && !path.IsAbs(k) {
			cfg.Listens[i].KeyFile = path.Join(cwd, k)
		}
	}
}
