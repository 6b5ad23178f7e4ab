package main

import (
	"fmt"
	"io"

	"pmtr/confgrammar"
)

// testConfig implements pmtr -t: exit 0 and a one-line summary for a valid
// file, exit 1 with every error and "parse failed" for an invalid one.
func testConfig(o options, stdout, stderr io.Writer) int {
	cfg, _, err := readChecked(o.config, func(s string) { fmt.Fprintf(stderr, "pmtr: %s\n", s) })
	if err != nil {
		reportParseError(stderr, o.config, err)
		return 1
	}
	if o.verbose > 0 {
		fmt.Fprint(stdout, confgrammar.Format(cfg))
	}
	fmt.Fprintf(stdout, "%s: ok (%d %s)\n", o.config, len(cfg.Jobs), plural(len(cfg.Jobs), "job"))
	return 0
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
