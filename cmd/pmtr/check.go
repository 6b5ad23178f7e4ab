package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"pmtr/confgrammar"
	"pmtr/live/hostfacts"
)

// testConfig implements pmtr -t: exit 0 and a one-line summary for a valid
// file, exit 1 with every error and "parse failed" for an invalid one.
func testConfig(o options, stdout, stderr io.Writer) int {
	if _, err := os.Stat(o.config); err != nil {
		fmt.Fprintf(stderr, "pmtr: can't open %s: %s (pmtr -t creates nothing; started as a daemon, pmtr creates an empty config)\n", o.config, errText(err))
		return 1
	}
	cfg, _, err := readChecked(o.config, func(s string) { fmt.Fprintf(stderr, "pmtr: %s\n", s) })
	if err != nil {
		reportParseError(stderr, o.config, err)
		return 1
	}
	warnings := allWarnings(o.config, cfg)
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	if o.strict && len(warnings) > 0 {
		fmt.Fprintf(stderr, "pmtr: %d %s in %s (--strict makes them errors)\n", len(warnings), plural(len(warnings), "warning"), o.config)
		return 1
	}
	if o.verbose > 0 {
		fmt.Fprint(stdout, formatVerbose(cfg))
	}
	fmt.Fprintf(stdout, "%s: ok (%d %s", o.config, len(cfg.Jobs), plural(len(cfg.Jobs), "job"))
	if len(warnings) > 0 {
		fmt.Fprintf(stdout, ", %d %s", len(warnings), plural(len(warnings), "warning"))
	}
	fmt.Fprintln(stdout, ")")
	return 0
}

// formatVerbose is the config as pmtr -t -v prints it: canonical, and for
// a config in several files (or with include lines) each line with the
// FILE:LINE it came from, after what each include line matched.
func formatVerbose(cfg *confgrammar.Config) string {
	if len(cfg.Files) > 1 || len(cfg.Includes) > 0 {
		return confgrammar.FormatSources(cfg, nil)
	}
	return confgrammar.Format(cfg)
}

// allWarnings are the grammar's warnings and the host checks, in file order.
func allWarnings(file string, cfg *confgrammar.Config) []confgrammar.Warning {
	cwd, _ := os.Getwd()
	out := append(slices.Clone(cfg.Warnings), hostfacts.HostWarnings(file, cfg, cwd)...)
	confgrammar.SortWarnings(cfg.Files, out)
	return out
}

// errText is an error's reason without the path (os errors repeat it).
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return err.Error()
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
