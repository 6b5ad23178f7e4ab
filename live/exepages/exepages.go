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
// after the start at the latest. Only read-only private
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
	settleQuiet = time.Second      // after the last burst of starts: the start is over
	atMostEvery = time.Minute      // after GC cycles
)

// KeepDropped drops the executable's pages once the start is over, then
// after a GC cycle (at most once a minute), until stop closes. The start
// is over settleQuiet after the last note on settled (a burst of starts
// is done: the caller sends without waiting) or afterStart after the
// call, whichever comes first. No timer runs after the first drop: an
// idle pmtr does not wake up for this. A cycle within the minute is let
// be: once a process has had one, the runtime forces another every 2
// minutes. Errors are ignored (this only saves memory).
func KeepDropped(stop, settled <-chan struct{}) {
	gcs := make(chan struct{}, 1)
	noteGCs(gcs, stop)
	go func() {
		if !waitStartOver(stop, settled, afterStart, settleQuiet) {
			return
		}
		Drop()
		last := time.Now()
		for {
			select {
			case <-gcs:
				if time.Since(last) >= atMostEvery {
					Drop()
					last = time.Now()
				}
			case <-stop:
				return
			}
		}
	}()
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
