package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: pmtr sim [--timeline] [--svg FILE] [--seed N] [-c pmtr.conf] [-q] SCENARIO.yaml...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return helpOrUsage(err)
	}
	if fs.NArg() == 0 || *svg != "" && fs.NArg() > 1 {
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
	status := 0
	for _, file := range fs.Args() {
		if code := runScenarioFile(file, o, *timeline, *svg, *quiet, stdout, stderr); code > status {
			status = code
		}
	}
	return status
}

func runScenarioFile(file string, o sim.RunOptions, timeline bool, svg string, quiet bool, stdout, stderr io.Writer) int {
	src, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(stderr, "pmtr sim: %v\n", err)
		return 1
	}
	s, err := sim.ParseScenario(file, src)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
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
