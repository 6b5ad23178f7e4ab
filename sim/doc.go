// Package sim runs pmtr's core against simulated processes in virtual time.
// It is a normal package, used by tests, fuzz targets and `pmtr sim`.
//
// A Backend plays the operating system: it allocates pids, starts and ends
// processes as each job's script says, and answers the core's effects with
// the events a real system would produce. Time jumps from one deadline to
// the next; nothing sleeps.
package sim
