package core

import (
	"fmt"
	"time"
)

// Time is a monotonic offset from the driver's start. It never goes back.
type Time time.Duration

// Never is the zero Time used as "no deadline".
const Never Time = 0

// The timing constants of C pmtr, kept exact.
const (
	QuickExit   = Time(10 * time.Second) // a run shorter than this is a quick exit
	RestartWait = Time(10 * time.Second) // delay before restarting after a quick exit
	KillGrace   = Time(10 * time.Second) // SIGTERM to SIGKILL
	ReportEvery = Time(10 * time.Second) // UDP status report period
	// DepRestartGap: dependency changes restart a job at most once in this
	// time; later changes wait for its end (a file that keeps changing
	// cannot restart a job without limit).
	DepRestartGap = Time(10 * time.Second)
)

// String prints the offset as "+12.345s".
func (t Time) String() string {
	d := time.Duration(t)
	return fmt.Sprintf("+%d.%03ds", d/time.Second, (d%time.Second)/time.Millisecond)
}

// Seconds is the whole number of seconds, rounded down, as C pmtr logs it.
func (t Time) Seconds() int64 { return int64(time.Duration(t) / time.Second) }
