// Command pmtr is the process supervisor: the daemon, its config checker
// (-t), and the subcommands sim, ctl and rptserver.
package main

import (
	"os"

	"pmtr/live"
	"pmtr/live/metrics"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == live.HelperArg {
		os.Exit(live.RunHelper())
	}
	metrics.Version = version()
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
