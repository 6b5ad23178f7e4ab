package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"pmtr/confgrammar"
	"pmtr/ctlproto"
	"pmtr/driver"
	"pmtr/live/ctlsock"
	"pmtr/live/files"
)

// catCommand implements pmtr cat: the config the daemon runs, as one file,
// each line with the FILE:LINE it came from; when no pmtr runs FILE, the
// files as they are on disk, worded the same.
func catCommand(args []string, stdout, stderr io.Writer) int {
	v, _ := ctlproto.Lookup("cat")
	fs := flag.NewFlagSet("pmtr cat", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	conf := fs.String("c", configDefault(), ctlproto.ConfigFlag.Help)
	names, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, v)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "pmtr cat: %v\nusage: %s\n", err, v.Usage())
		return 2
	}
	code, err := ctlsock.Ask(*conf, ctlproto.Request{Verb: v.Name, Operands: names}, 10*time.Second, stdout, stderr)
	switch {
	case err == nil:
		return code
	case errors.Is(err, ctlsock.ErrNoDaemon):
		return catFiles(*conf, names, stdout, stderr)
	}
	fmt.Fprintf(stderr, "pmtr cat: %v\n", err)
	return 1
}

// catFiles prints the config as read from its files.
func catFiles(conf string, names []string, stdout, stderr io.Writer) int {
	cfg, _, err := files.LoadConfig(conf)
	if err != nil {
		reportParseError(stderr, conf, err)
		return 1
	}
	var known []string
	for _, j := range cfg.Jobs {
		known = append(known, j.Name)
	}
	bad := false
	for _, n := range names {
		if !slices.Contains(known, n) {
			fmt.Fprintf(stderr, "no job named %q in %s%s\n", n, conf, confgrammar.Suggest(n, known))
			bad = true
		}
	}
	if bad {
		return driver.CodeUnknown
	}
	cwd, _ := os.Getwd()
	driver.ResolvePaths(cfg, cwd)
	fmt.Fprint(stdout, confgrammar.FormatSources(cfg, names))
	return 0
}
