package main

import (
	"flag"
	"fmt"
	"io"

	"pmtr/live"
)

// statusCommand implements pmtr status: ask the daemon running a config
// file for the state of its jobs.
func statusCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pmtr status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conf := fs.String("c", defaultConfig, "the config `FILE` the daemon runs")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: pmtr status [-c FILE]")
		return 2
	}
	text, err := live.QueryStatus(*conf)
	if err != nil {
		fmt.Fprintf(stderr, "pmtr status: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, text)
	return 0
}
