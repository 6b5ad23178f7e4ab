package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"pmtr/live"
)

// A local command asks the daemon that runs a config file, over its
// control socket: status, stop, start, restart, reload, why, logs.
type localSpec struct {
	usage   string
	minArgs int
	maxArgs int // -1: any number
	timeout time.Duration
}

var localCommands = map[string]localSpec{
	"status":  {"pmtr status [-c FILE] [--json] [JOB...]", 0, -1, 10 * time.Second},
	"stop":    {"pmtr stop [-c FILE] [--no-wait] JOB...", 1, -1, 45 * time.Second},
	"start":   {"pmtr start [-c FILE] [--no-wait] JOB...", 1, -1, 45 * time.Second},
	"restart": {"pmtr restart [-c FILE] [--no-wait] JOB...", 1, -1, 45 * time.Second},
	"reload":  {"pmtr reload [-c FILE]", 0, 0, 45 * time.Second},
	"why":     {"pmtr why [-c FILE] JOB", 1, 1, 10 * time.Second},
	"logs":    {"pmtr logs [-c FILE] [-f] [-n N] JOB", 1, 1, 10 * time.Second},
	"metrics": {"pmtr metrics [-c FILE]", 0, 0, 10 * time.Second},
}

// localCommand parses a local command's flags (anywhere among its
// arguments), sends the request and exits with the daemon's code: 1 when
// no daemon answers, 2 for a usage error.
func localCommand(name string, args []string, stdout, stderr io.Writer) int {
	spec := localCommands[name]
	fs := flag.NewFlagSet("pmtr "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	conf := fs.String("c", defaultConfig, "the config `FILE` the daemon runs")
	asJSON := fs.Bool("json", false, "status as JSON")
	noWait := fs.Bool("no-wait", false, "do not wait for the jobs")
	follow := fs.Bool("f", false, "follow the log")
	lines := fs.Int("n", 20, "lines to show")
	names, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "usage: %s\n", spec.usage)
		return 0
	}
	if err != nil || len(names) < spec.minArgs || spec.maxArgs >= 0 && len(names) > spec.maxArgs {
		if err != nil {
			fmt.Fprintf(stderr, "pmtr %s: %v\n", name, err)
		}
		fmt.Fprintf(stderr, "usage: %s\n", spec.usage)
		return 2
	}
	req := []string{name}
	switch {
	case *asJSON && name == "status":
		req = append(req, "--json")
	case *noWait && (name == "stop" || name == "start" || name == "restart"):
		req = append(req, "--no-wait")
	case name == "logs":
		req = append(req, "-n", strconv.Itoa(*lines))
		if *follow {
			req = append(req, "-f")
		}
	}
	timeout := spec.timeout
	if name == "logs" && *follow {
		timeout = 0
	}
	code, err := live.Ask(*conf, strings.Join(append(req, names...), " "), nil, timeout, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pmtr %s: %v\n", name, err)
		return 1
	}
	return code
}

// parseInterleaved lets flags come before, between and after names.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return names, nil
		}
		names = append(names, args[0])
		args = args[1:]
	}
}
