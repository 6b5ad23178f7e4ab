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

// heldFiles follows the watched files that reads found held open for
// writing (driver.FilesRead.Writing), to log those held for heldLong.
type heldFiles struct {
	clk clock.Clock
	log Logger
	mu  sync.Mutex
	on  map[string]*clock.Timer // path -> its heldLong timer, until read again
}

func newHeldFiles(clk clock.Clock, log Logger) *heldFiles {
	return &heldFiles{clk: clk, log: log, on: map[string]*clock.Timer{}}
}

// saw records a read's answer: files read whole are no longer followed;
// files held start their timer, unless it runs already.
func (h *heldFiles) saw(r driver.ReadRequest, f driver.FilesRead) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range append(append([]string{r.Config}, r.Deps...), r.Keys...) {
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

// check logs p if it is still held (looked at again: its close may have
// come just now).
func (h *heldFiles) check(p string) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	held := heldForWriting(f)
	f.Close()
	if held {
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
