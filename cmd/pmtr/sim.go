package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"pmtr/confgrammar"
	"pmtr/sim"
)

// simCommand implements pmtr sim: run scenario files in virtual time, print
// what pmtr would log, and check the scenarios' expectations.
func simCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pmtr sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeline := fs.Bool("timeline", false, "draw a per-job timeline in the terminal")
	svg := fs.String("svg", "", "write the timeline as an SVG picture to `FILE` (one scenario)")
	seed := fs.Uint64("seed", 0, "seed for random run lengths (overrides the scenario's)")
	conf := fs.String("c", "", "run the scenarios against this pmtr.conf `FILE`")
	quiet := fs.Bool("q", false, "print no transcript, only the summary and verdict")
	fs.Usage = func() { simUsage(stderr) }
	if err := fs.Parse(args); err != nil {
		return helpOrUsage(err)
	}
	if fs.NArg() == 0 && *conf == "" || *svg != "" && fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	o := sim.RunOptions{ConfigFile: *conf}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			o.Seed = seed
		}
	})
	if *timeline || *svg != "" {
		o.Samples = 100
		if *svg != "" {
			o.Samples = 800
		}
	}
	show := output{timeline: *timeline, svg: *svg, quiet: *quiet, stdout: stdout, stderr: stderr}
	if fs.NArg() == 0 {
		s, err := aloneScenario(*conf)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return show.run(s, o)
	}
	status := 0
	for _, file := range fs.Args() {
		if code := show.file(file, o); code > status {
			status = code
		}
	}
	return status
}

// configAlone is how long pmtr sim -c FILE runs a config without a
// scenario.
const configAlone = time.Hour

// aloneScenario runs the config at path alone for configAlone: its wait
// and once jobs run a second and exit 0, as setup jobs do; the others run
// until they are stopped.
func aloneScenario(path string) (*sim.Scenario, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pmtr sim: %w", err)
	}
	cfg, err := confgrammar.Parse(path, src)
	if err != nil {
		return nil, fmt.Errorf("pmtr sim: %s does not parse:\n%w", path, err)
	}
	s := &sim.Scenario{File: path, RunFor: sim.Duration(configAlone), Jobs: map[string]sim.JobPlan{},
		Name: fmt.Sprintf("%s alone for 1h: wait and once jobs run 1s and exit 0, the others until stopped", path)}
	for _, j := range cfg.Jobs {
		if j.Wait || j.Once {
			s.Jobs[j.Name] = sim.JobPlan{Runs: []sim.RunPlan{{For: sim.Lifetime(time.Second)}}}
		}
	}
	return s, nil
}

// simFlags are pmtr sim's flags, as its usage lists them.
var simFlags = []struct{ flag, help string }{
	{"--timeline", "draw a per-job timeline in the terminal"},
	{"--svg FILE", "write the timeline as an SVG picture to FILE (one scenario)"},
	{"--seed N", "seed of random run lengths (overrides the scenario's)"},
	{"-c FILE", "run the scenarios against this pmtr.conf; without a scenario, run it alone for 1h"},
	{"-q", "print no transcript, only the summary and the verdict"},
}

func simUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: pmtr sim [--timeline] [--svg FILE] [--seed N] [-c CONF] [-q] SCENARIO.yaml...")
	fmt.Fprintln(w, "       pmtr sim [--timeline] [--svg FILE] -c CONF")
	for _, f := range simFlags {
		fmt.Fprintf(w, "  %-12s %s\n", f.flag, f.help)
	}
}

// output is how pmtr sim shows its runs.
type output struct {
	timeline, quiet bool
	svg             string
	stdout, stderr  io.Writer
}

func (out output) file(file string, o sim.RunOptions) int {
	src, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(out.stderr, "pmtr sim: %v\n", err)
		return 1
	}
	s, err := sim.ParseScenario(file, src)
	if err != nil {
		fmt.Fprintln(out.stderr, err)
		return 1
	}
	return out.run(s, o)
}

func (out output) run(s *sim.Scenario, o sim.RunOptions) int {
	file, timeline, svg, quiet, stdout, stderr := s.File, out.timeline, out.svg, out.quiet, out.stdout, out.stderr
	res, err := sim.RunScenario(s, o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, w)
	}
	fmt.Fprintf(stdout, "== %s (%s)\n", s.Name, file)
	if !quiet {
		fmt.Fprintln(stdout, strings.Join(res.Logs, "\n"))
	}
	fmt.Fprintln(stdout, "-- summary")
	sim.WriteSummary(stdout, res.Jobs)
	if res.Exited {
		by := ""
		if res.ExitCause != "" {
			by = " (" + res.ExitCause + ")"
		}
		fmt.Fprintf(stdout, "-- pmtr exits %d%s\n", res.ExitCode, by)
	}
	if timeline {
		fmt.Fprintln(stdout, "-- timeline")
		sim.WriteTimeline(stdout, res.Timeline)
	}
	if svg != "" {
		if code := writeSVG(svg, s.Name, res, stderr); code != 0 {
			return code
		}
	}
	return verdict(res, stdout)
}

func writeSVG(path, title string, res *sim.Result, stderr io.Writer) int {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(stderr, "pmtr sim: %v\n", err)
		return 1
	}
	sim.WriteSVG(f, title, res.Timeline)
	if err := f.Close(); err != nil {
		fmt.Fprintf(stderr, "pmtr sim: %v\n", err)
		return 1
	}
	return 0
}

func verdict(res *sim.Result, w io.Writer) int {
	if len(res.Failures) == 0 {
		fmt.Fprintf(w, "ok: %s (%d expectations)\n", res.Scenario.Name, len(res.Scenario.Expect))
		return 0
	}
	for _, f := range res.Failures {
		fmt.Fprintf(w, "FAIL: %s: %s\n", res.Scenario.Name, f)
	}
	return 1
}
