// Package exepages drops the pages of pmtr's own executable from its
// memory once they are no longer in use.
//
// On a read fault in a file mapping the kernel also maps the neighbouring
// pages that are in the page cache (fault-around, 64 kB), and pmtr's start
// (package init, the config, the first starts) touches code all over its
// text and read-only data, so nearly the whole binary counted in its PSS
// (7.6 of 9.3 MB with 10 jobs on 2026-12-06). A GC cycle does the same: it
// reads the function tables of every frame on every stack (about 2 MB of
// pages back). Dropping those mappings costs nothing: the pages stay in the
// page cache, and those pmtr still runs come back on their next use (about
// 30 minor faults, 0.1 ms, at the next restart). The first drop comes
// once the start has settled: 1 s after the last burst of starts, 10 s
// after the start at the latest; then 1 s after a burst of restarts (at
// most every 10 s) and after a GC cycle (at most once a minute). Only read-only private
// mappings of the executable with no page of their own (Anonymous: 0) are
// dropped, so no byte can change; data, bss and heap are never touched.
// See docs/BENCHMARKS.md.
package exepages

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

const (
	afterStart  = 10 * time.Second // at the latest: the start is over
	settleQuiet = time.Second      // after the last burst of starts: the start, or the restarts, are over
	afterBurst  = 10 * time.Second // at most this often after bursts of restarts
	afterGC     = time.Minute      // at most this often after GC cycles
)

// KeepDropped drops the executable's pages once the start is over, then
// after bursts of restarts and after GC cycles, until stop closes. The
// start is over settleQuiet after the last note on settled (a burst of
// starts is done: the caller sends without waiting) or afterStart after
// the call, whichever comes first. Errors are ignored (this only saves
// memory).
func KeepDropped(stop, settled <-chan struct{}) {
	gcs := make(chan struct{}, 1)
	noteGCs(gcs, stop)
	go func() {
		if waitStartOver(stop, settled, afterStart, settleQuiet) {
			keepDropping(stop, settled, gcs, func() { Drop() }, pace{settleQuiet, afterBurst, afterGC})
		}
	}()
}

// pace is how often keepDropping drops: quiet after a burst of starts,
// but not within burst of the last drop; after a GC cycle, but not within
// gc of the last drop.
type pace struct{ quiet, burst, gc time.Duration }

// keepDropping drops at once, then after bursts of restarts (their code
// came back: about 2 MB in 64 kB chunks, though a restart runs far less)
// and after GC cycles (which read the function tables of every stack's
// frames), as p allows. A burst's drop within p.burst of the last one
// waits until then. With no starts and no GC cycles, no timer runs: an
// idle pmtr does not wake up for this. A GC cycle within p.gc is let be:
// once a process has had one, the runtime forces another every 2 minutes.
func keepDropping(stop, settled, gcs <-chan struct{}, drop func(), p pace) {
	drop()
	last := time.Now()
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-gcs:
			if time.Since(last) >= p.gc {
				drop()
				last = time.Now()
			}
		case <-settled:
			t.Reset(p.quiet)
		case <-t.C:
			if wait := p.burst - time.Since(last); wait > 0 {
				t.Reset(wait)
				continue
			}
			drop()
			last = time.Now()
		case <-stop:
			t.Stop()
			return
		}
	}
}

// waitStartOver returns once the start is over: quiet after the last
// note on settled, or bound after the call, whichever comes first; false
// when stop closed first.
func waitStartOver(stop, settled <-chan struct{}, bound, quiet time.Duration) bool {
	end := time.Now().Add(bound)
	t := time.NewTimer(bound)
	defer t.Stop()
	for {
		select {
		case <-settled:
			t.Reset(min(time.Until(end), quiet))
		case <-t.C:
			return true
		case <-stop:
			return false
		}
	}
}

// gcSentinel holds a pointer so that it is not put in a tiny-allocator
// block, whose cleanups may never run.
type gcSentinel struct{ _ *byte }

// noteGCs sends on ch (without waiting) after each GC cycle until stop
// closes: the cleanup of an unreachable object runs after the cycle that
// found it, and arms the next.
func noteGCs(ch chan<- struct{}, stop <-chan struct{}) {
	runtime.AddCleanup(&gcSentinel{}, func(struct{}) {
		select {
		case <-stop:
			return
		default:
		}
		select {
		case ch <- struct{}{}:
		default:
		}
		noteGCs(ch, stop)
	}, struct{}{})
}

// Drop unmaps the executable's read-only pages from this process
// (MADV_DONTNEED); it returns how many bytes of mappings it dropped.
func Drop() (int, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return 0, fmt.Errorf("exepages: own binary: %w", err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("exepages: own mappings: %w", err)
	}
	defer f.Close()
	areas, err := cleanFileAreas(f, st.Dev, st.Ino)
	if err != nil {
		return 0, fmt.Errorf("exepages: own mappings: %w", err)
	}
	n := 0
	for _, a := range areas {
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, a.lo, a.hi-a.lo, unix.MADV_DONTNEED); e != 0 {
			return n, fmt.Errorf("exepages: madvise of own binary: %w", e)
		}
		n += int(a.hi - a.lo)
	}
	return n, nil
}

type memArea struct{ lo, hi uintptr }

// cleanFileAreas reads smaps and returns the private, non-writable
// mappings of the file dev:ino that hold no anonymous (copied) page: what
// MADV_DONTNEED can drop without changing a byte.
func cleanFileAreas(smaps io.Reader, dev, ino uint64) ([]memArea, error) {
	var out []memArea
	open := false // the last header's mapping is a candidate, its Anonymous line not yet seen
	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		line := sc.Bytes()
		if name, val, ok := bytes.Cut(line, []byte(":")); ok && bytes.IndexByte(name, ' ') < 0 && bytes.IndexByte(name, '-') < 0 {
			if open && string(name) == "Anonymous" {
				if kb := bytes.Fields(val); len(kb) == 0 || string(kb[0]) != "0" {
					out = out[:len(out)-1]
				}
				open = false
			}
			continue
		}
		open = false
		if a, ok := fileArea(line, dev, ino); ok {
			out = append(out, a)
			open = true
		}
	}
	if open { // no Anonymous line: not known to be clean
		out = out[:len(out)-1]
	}
	return out, sc.Err()
}

// fileArea parses a mapping's header line ("lo-hi perms offset maj:min
// inode path") and says whether it is a private, non-writable mapping of
// dev:ino.
func fileArea(line []byte, dev, ino uint64) (memArea, bool) {
	f := bytes.Fields(line)
	if len(f) < 6 || len(f[1]) != 4 || f[1][1] != '-' || f[1][3] != 'p' {
		return memArea{}, false
	}
	maj, mnr, ok1 := bytes.Cut(f[3], []byte(":"))
	lo, hi, ok2 := bytes.Cut(f[0], []byte("-"))
	if !ok1 || !ok2 {
		return memArea{}, false
	}
	ma, e1 := strconv.ParseUint(string(maj), 16, 32)
	mi, e2 := strconv.ParseUint(string(mnr), 16, 32)
	in, e3 := strconv.ParseUint(string(f[4]), 10, 64)
	l, e4 := strconv.ParseUint(string(lo), 16, 64)
	h, e5 := strconv.ParseUint(string(hi), 16, 64)
	if e1 != nil || e2 != nil || e3 != nil || e4 != nil || e5 != nil || in != ino ||
		unix.Mkdev(uint32(ma), uint32(mi)) != dev || h <= l {
		return memArea{}, false
	}
	return memArea{uintptr(l), uintptr(h)}, true
}
