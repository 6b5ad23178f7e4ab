package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"pmtr/ctlproto"
)

// options are the daemon's C-compatible flags: pmtr [-c FILE] [-F] [-t] [-v]... [-p PIDFILE].
type options struct {
	config     string
	foreground bool
	test       bool
	strict     bool // -t --strict: warnings are errors
	verbose    int
	pidfile    string
}

const defaultConfig = "/etc/pmtr.conf"

// configDefault is the config file when -c is not given: $PMTR_CONFIG, or
// /etc/pmtr.conf.
func configDefault() string {
	if c := os.Getenv(ctlproto.ConfigEnv); c != "" {
		return c
	}
	return defaultConfig
}

// usageText lists the control socket's verbs from ctlproto's table.
var usageText = `usage: pmtr [options]
       pmtr sim [--timeline] [--svg FILE] [--seed N] [-c CONF] [-q] SCENARIO.yaml...
       pmtr ctl [-s HOST] [-p PORT] [-k KEYFILE] [-v] enable|disable|restart NAME...
       pmtr rptserver -p PORT [-f FILE] [-a GROUP] [-b ADDRESS] [--metrics ADDR:PORT]
` + verbUsages() + `       pmtr --version

 options:
   -v           (verbose; repeat for more)
   -c <file>    (config file)
   -p <file>    (make pidfile)
   -F           (stay in foreground)
   -t           (just test config file; with -v print it normalised)
   --strict     (with -t: warnings are errors)

 Default config: /etc/pmtr.conf, or $PMTR_CONFIG when it is set. The
 commands take their flags before or after the command word.
`

func verbUsages() string {
	var b strings.Builder
	for _, v := range ctlproto.Verbs() {
		fmt.Fprintf(&b, "       %s\n", v.Usage())
	}
	return b.String()
}

// parseFlags reads getopt-style flags; letters may be combined ("-tc FILE",
// "-Fvv"), and a flag's value may be attached ("-cFILE").
func parseFlags(args []string) (options, error) {
	o := options{config: configDefault()}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if a == "--strict" {
			o.strict = true
			continue
		}
		if len(a) < 2 || a[0] != '-' {
			return o, fmt.Errorf("unexpected argument %q", a)
		}
		for k := 1; k < len(a); k++ {
			switch c := a[k]; c {
			case 'F':
				o.foreground = true
			case 't':
				o.test = true
			case 'v':
				o.verbose++
			case 'c', 'p':
				val := a[k+1:]
				if val == "" {
					if i+1 >= len(args) {
						return o, fmt.Errorf("option -%c needs a file name", c)
					}
					i++
					val = args[i]
				}
				if c == 'c' {
					o.config = val
				} else {
					o.pidfile = val
				}
				k = len(a)
			default:
				return o, fmt.Errorf("unknown option -%c", c)
			}
		}
	}
	return o, nil
}

func usage(w io.Writer, err error) int {
	if err != nil {
		fmt.Fprintf(w, "pmtr: %v\n", err)
	}
	fmt.Fprint(w, usageText)
	return 2
}
