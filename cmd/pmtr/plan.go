package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"pmtr/confgrammar"
	"pmtr/ctlproto"
	"pmtr/driver"
	"pmtr/live/ctlsock"
	"pmtr/live/files"
	"pmtr/live/hostfacts"
	"pmtr/sim"
)

// planCommand implements pmtr plan: what saving NEWFILE (default: FILE as
// it is on disk) would do to the configuration the daemon runs, or, with
// --against, to a pmtr that runs OLDFILE. Exit 0: it would apply; 1: it
// would be rejected (or there is nothing to compare with).
func planCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pmtr plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	v, _ := ctlproto.Lookup("plan")
	conf := fs.String("c", configDefault(), ctlproto.ConfigFlag.Help)
	againstFlag, _ := v.Flag("--against")
	against := fs.String("against", "", againstFlag.Help)
	operands, err := parseInterleaved(fs, args) // flags before or after NEWFILE
	if err != nil || len(operands) > 1 {
		fmt.Fprintln(stderr, "usage: "+v.Usage())
		return helpOrUsage(err)
	}
	newFile := *conf
	if len(operands) == 1 {
		newFile = operands[0]
	}
	src, err := os.ReadFile(newFile)
	if err != nil {
		fmt.Fprintf(stderr, "pmtr plan: can't open %s: %s\n", newFile, errText(err))
		return 1
	}
	cfg, _, err := files.LoadConfig(newFile)
	if err == nil {
		err = hostErrors(newFile, cfg)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintf(stdout, "rejected: %s would not be loaded; the config in force would stay\n", newFile)
		return 1
	}
	for _, w := range allWarnings(newFile, cfg) {
		fmt.Fprintln(stderr, w)
	}
	if *against != "" {
		return planAgainst(*against, cfg, stdout, stderr)
	}
	if inPieces(cfg) { // the daemon plans the config as one file; the client names the files
		src = []byte(confgrammar.Format(cfg))
	}
	var answer strings.Builder
	code, err := ctlsock.Ask(*conf, ctlproto.Request{Verb: "plan", Body: src}, 10*time.Second, &answer, stderr)
	fmt.Fprint(stdout, withSources(answer.String(), cfg))
	if err != nil {
		fmt.Fprintf(stderr, "pmtr plan: %v\n(to compare two files without a daemon: pmtr plan --against OLDFILE NEWFILE)\n", err)
		return 1
	}
	return code
}

// inPieces: the config is in several files (or has include lines).
func inPieces(cfg *confgrammar.Config) bool { return len(cfg.Files) > 1 || len(cfg.Includes) > 0 }

// withSources adds to each line of a plan about a job of cfg, a config in
// pieces, the FILE:LINE where the job is defined, as pmtr cat writes it.
func withSources(plan string, cfg *confgrammar.Config) string {
	if !inPieces(cfg) {
		return plan
	}
	where := map[string]string{}
	for i := range cfg.Jobs {
		where[cfg.Jobs[i].Name] = cfg.Jobs[i].Source()
	}
	lines := strings.SplitAfter(plan, "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 || !strings.HasSuffix(l, "\n") {
			continue
		}
		if src, ok := where[f[1]]; ok {
			lines[i] = strings.TrimSuffix(l, "\n") + "  # " + src + "\n"
		}
	}
	return strings.Join(lines, "")
}

// hostErrors: what makes a reload fail besides the grammar.
func hostErrors(file string, cfg *confgrammar.Config) error {
	if err := hostfacts.CheckInterfaces(file, cfg); err != nil {
		return err
	}
	return files.CheckKeys(file, cfg)
}

// planAgainst plans cfg against a fresh pmtr that has started every job of
// oldFile.
func planAgainst(oldFile string, cfg *confgrammar.Config, stdout, stderr io.Writer) int {
	if _, err := os.Stat(oldFile); err != nil {
		fmt.Fprintf(stderr, "pmtr plan: can't open %s: %s\n", oldFile, errText(err))
		return 1
	}
	old, _, err := files.LoadConfig(oldFile)
	if err != nil {
		fmt.Fprintf(stderr, "%v\npmtr plan: %s does not parse: nothing to compare with\n", err, oldFile)
		return 1
	}
	cwd, _ := os.Getwd()
	for i := range old.Jobs {
		old.Jobs[i].Depends = old.Jobs[i].DependPaths(cwd)
	}
	w := sim.NewWorld(nil)
	w.Load(old)
	plan := driver.PlanFor(w.M, w.Now, cfg, cwd, nil)
	fmt.Fprint(stdout, withSources(driver.PlanAnswer{Plan: plan}.Text(), cfg))
	return 0
}
