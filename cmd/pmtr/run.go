package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"

	"pmtr/ctlproto"
	"pmtr/handover"
	"pmtr/live/upgrade"
)

// run is main without the exit: it returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 1 {
		switch args[1] {
		case "-h", "--help", "help":
			fmt.Fprint(stdout, usageText)
			return 0
		case "--version", "version":
			fmt.Fprintf(stdout, "pmtr %s\n", version())
			return 0
		case upgrade.StateFormatFlag: // pmtr upgrade asks the new binary before it hands over
			fmt.Fprint(stdout, handover.FormatLine())
			return 0
		case "sim":
			return simCommand(args[2:], stdout, stderr)
		case "ctl":
			return ctlCommand(args[2:], stderr)
		case "rptserver":
			return rptserverCommand(args[2:], stdout, stderr)
		}
		// a control verb, its flags before or after it ("pmtr -c FILE status")
		if v, rest, ok := ctlproto.VerbFirst(args[1:]); ok {
			switch v.Name {
			case "plan": // its client reads files first
				return planCommand(rest, stdout, stderr)
			case "cat": // without a daemon, its client reads the files
				return catCommand(rest, stdout, stderr)
			}
			return localCommand(v, rest, stdout, stderr)
		}
	}
	o, err := parseFlags(args[1:])
	if err != nil {
		return usage(stderr, err)
	}
	if o.test {
		return testConfig(o, stdout, stderr)
	}
	return daemon(o, args, stderr)
}

// helpOrUsage: -h asked for the usage (exit 0); any other flag error is a
// usage error (exit 2). The flag set has printed the usage already.
func helpOrUsage(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// buildStamp is the version make build stamps from git (git describe), with
// -ldflags "-X main.buildStamp=...".
var buildStamp string

// version is the version pmtr was built as: make build's stamp, the
// module's version (go install pmtr@v1.2.3), the commit go build recorded,
// or "devel".
func version() string {
	if buildStamp != "" {
		return buildStamp
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	rev, dirty := "", ""
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			rev = s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev != "" {
		return "devel-" + rev + dirty
	}
	return "devel"
}
