// Package hostfacts answers questions about this host that several parts
// of the live backend ask: where pmtr keeps its runtime files and whether
// that directory is safe (owner, mode), the one-pmtr-per-config lock, what
// a job's program, dir, user, files and dependencies look like here
// (HostWarnings), and how the system words an error (Strerror).
//
// It keeps no state but RootRunDir and runs no goroutine. Its calls read
// the file system or the user database, so they may block on a hung file
// system: never call them on the driver's goroutine.
package hostfacts
