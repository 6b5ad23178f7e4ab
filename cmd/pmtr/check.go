package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"pmtr/confgrammar"
)

// loadConfig reads and parses the config file, creating it empty (mode 0600)
// when it does not exist, as C pmtr does. note receives informational lines.
func loadConfig(path string, note func(string)) (*confgrammar.Config, []byte, error) {
	src, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		note(fmt.Sprintf("creating empty %s", path))
		f, cerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if cerr != nil {
			return nil, nil, fmt.Errorf("can't create %s: %w", path, cerr)
		}
		if cerr = f.Chmod(0o600); cerr != nil { // the umask must not widen or narrow it
			f.Close()
			return nil, nil, fmt.Errorf("can't create %s: %w", path, cerr)
		}
		f.Close()
		src, err = nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("can't open %s: %w", path, err)
	}
	cfg, err := confgrammar.Parse(path, src)
	return cfg, src, err
}

// testConfig implements pmtr -t: exit 0 and a one-line summary for a valid
// file, exit 1 with every error and "parse failed" for an invalid one.
func testConfig(o options, stdout, stderr io.Writer) int {
	cfg, _, err := loadConfig(o.config, func(s string) { fmt.Fprintf(stderr, "pmtr: %s\n", s) })
	if err != nil {
		var list confgrammar.ErrorList
		if errors.As(err, &list) {
			fmt.Fprintln(stderr, list.Error())
			fmt.Fprintf(stderr, "pmtr: parse failed: %d %s in %s\n", len(list), plural(len(list), "error"), o.config)
		} else {
			fmt.Fprintf(stderr, "pmtr: parse failed: %v\n", err)
		}
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
