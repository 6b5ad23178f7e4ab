// Command pmtr is the process supervisor: the daemon, its config checker
// (-t), and the subcommands sim, ctl and rptserver.
package main

import (
	"os"

	"pmtr/live/metrics"
	"pmtr/live/spawn"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == spawn.HelperArg {
		os.Exit(spawn.RunHelper())
	}
	metrics.Version = version()
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
