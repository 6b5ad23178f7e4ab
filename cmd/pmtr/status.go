package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"pmtr/ctlproto"
	"pmtr/live/ctlsock"
)

// A local command asks the daemon that runs a config file, over its
// control socket: status, stop, start, restart, reload, why, logs,
// metrics (and plan, in plan.go). Its flags and operands are ctlproto's.

// timeoutOf: how long the client waits for the daemon's answer.
func timeoutOf(v ctlproto.Verb, req ctlproto.Request) time.Duration {
	switch {
	case req.Follows():
		return 0
	case v.Waits:
		return 45 * time.Second // the daemon gives up waiting for jobs after 30 s
	}
	return 10 * time.Second
}

// localCommand parses a local command's flags (anywhere among its
// arguments), sends the request and exits with the daemon's code: 1 when
// no daemon answers, 2 for a usage error.
func localCommand(v ctlproto.Verb, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pmtr "+v.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	conf := fs.String("c", configDefault(), ctlproto.ConfigFlag.Help)
	given := defineFlags(fs, v)
	names, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, v)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "pmtr %s: %v\nusage: %s\n", v.Name, err, v.Usage())
		return 2
	}
	req := ctlproto.Request{Verb: v.Name, Flags: given(), Operands: names}
	if b, ok := req.Flags["--binary"]; ok && b != "" && !filepath.IsAbs(b) { // the daemon runs elsewhere
		if abs, err := filepath.Abs(b); err == nil {
			req.Flags["--binary"] = abs
		}
	}
	var bad *ctlproto.RefusedError
	if errors.As(req.Check(), &bad) {
		fmt.Fprintf(stderr, "pmtr %s\nusage: %s\n", bad.Text, v.Usage()) // "pmtr why: name one job"
		return 2
	}
	code, err := ctlsock.Ask(*conf, req, timeoutOf(v, req), stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pmtr %s: %v\n", v.Name, err)
		return 1
	}
	return code
}

// defineFlags adds v's flags (but -c) to fs; the function returned lists
// those given, as a Request holds them.
func defineFlags(fs *flag.FlagSet, v ctlproto.Verb) func() map[string]string {
	byName := map[string]ctlproto.Flag{}
	for _, f := range v.Flags {
		name := strings.TrimLeft(f.Name, "-")
		byName[name] = f
		if f.Value == ctlproto.Switch {
			fs.Bool(name, false, f.Help)
		} else {
			fs.String(name, f.Default, f.Help)
		}
	}
	return func() map[string]string {
		given := map[string]string{}
		fs.Visit(func(fl *flag.Flag) {
			f, ok := byName[fl.Name]
			switch {
			case !ok:
			case f.Value != ctlproto.Switch:
				given[f.Name] = fl.Value.String()
			case fl.Value.String() == "true": // (-json=false is not given)
				given[f.Name] = ""
			}
		})
		return given
	}
}

// printHelp: pmtr VERB -h.
func printHelp(w io.Writer, v ctlproto.Verb) {
	fmt.Fprintf(w, "usage: %s\n%s\n", v.Usage(), v.Help)
	conf := ctlproto.ConfigFlag
	conf.Default = configDefault()
	for _, f := range append([]ctlproto.Flag{conf}, v.Flags...) {
		name := f.Name
		if f.Value != ctlproto.Switch {
			name += " " + f.Meta
		}
		help := f.Help
		if f.Default != "" {
			help += " (default " + f.Default + ")"
		}
		fmt.Fprintf(w, "  %-14s %s\n", name, help)
	}
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
