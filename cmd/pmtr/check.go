package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"pmtr/confgrammar"
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
	if o.verbose > 0 {
		fmt.Fprint(stdout, confgrammar.Format(cfg))
	}
	fmt.Fprintf(stdout, "%s: ok (%d %s)\n", o.config, len(cfg.Jobs), plural(len(cfg.Jobs), "job"))
	return 0
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
