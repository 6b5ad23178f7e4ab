package files

import (
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/benbjohnson/clock"

	"pmtr/core"
	"pmtr/driver"
)

// heldLong: a watched file still held open for writing this long after
// pmtr first found it so is named in the log, once per save; pmtr goes on
// waiting for its close.
const heldLong = 10 * time.Second

// rechecks are when a file a read found held is looked at again. The
// kernel tells watchers of a close (IN_CLOSE_WRITE) a moment before it
// drops the writer's access, so the read that the close itself brings may
// find the file still held, and no other event follows: a look shortly
// after catches the save. A writer that really keeps the file open closes
// it later, with an event of its own.
var rechecks = []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond}

// heldFiles follows the watched files that reads found held open for
// writing (driver.FilesRead.Writing), to log those held for heldLong and
// to read again those that turn out to be closed already.
type heldFiles struct {
	clk    clock.Clock
	log    Logger
	reread func() // asks the driver to read the files again
	mu     sync.Mutex
	on     map[string]*clock.Timer // path -> its heldLong timer, until read again
}

func newHeldFiles(clk clock.Clock, log Logger, reread func()) *heldFiles {
	return &heldFiles{clk: clk, log: log, reread: reread, on: map[string]*clock.Timer{}}
}

// saw records a read's answer: files read whole are no longer followed;
// files held start their timer, unless it runs already, and are looked at
// again shortly.
func (h *heldFiles) saw(r driver.ReadRequest, f driver.FilesRead) {
	if len(f.Writing) > 0 {
		h.recheck(slices.Clone(f.Writing), 0)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	read := append(slices.Clone(r.Deps), r.Keys...)
	if r.Config != "" {
		read = append(read, r.Config)
	}
	if f.Config != nil {
		read = append(read, f.Config.Paths()...)
	}
	for _, p := range read {
		if t, ok := h.on[p]; ok && p != "" && !slices.Contains(f.Writing, p) {
			t.Stop()
			delete(h.on, p)
		}
	}
	for _, p := range f.Writing {
		if _, ok := h.on[p]; !ok {
			h.on[p] = h.clk.AfterFunc(heldLong, func() { h.check(p) })
		}
	}
}

// recheck looks at files again after rechecks[i]: once one is no longer
// held, the driver reads them again (it applies only real changes).
func (h *heldFiles) recheck(paths []string, i int) {
	if i == len(rechecks) {
		return
	}
	h.clk.AfterFunc(rechecks[i], func() {
		for _, p := range paths {
			if !stillHeld(p) {
				h.reread()
				return
			}
		}
		h.recheck(paths, i+1)
	})
}

func stillHeld(p string) bool {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	return heldForWriting(f)
}

// check logs p if it is still held (looked at again: its close may have
// come just now).
func (h *heldFiles) check(p string) {
	if stillHeld(p) {
		h.log.Logf(core.Info, "%s has been held open for writing by another program for %v: "+
			"pmtr waits for that program to close it, and applies the file then", p, heldLong)
	}
}

func (h *heldFiles) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for p, t := range h.on {
		t.Stop()
		delete(h.on, p)
	}
}
