// Command pmtr is the process supervisor: the daemon, its config checker
// (-t), and the subcommands sim, ctl and rptserver.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
