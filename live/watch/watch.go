// Package watch notices changes of the files a config depends on (the
// config itself, the files it includes and its drop-in directories, its
// dependencies and key files) and asks the driver to read them again
// (driver.Reload): a completed save at once, other changes once they
// settle, and, where inotify cannot watch, every few seconds. It never
// reads a file's content: the driver compares what the read brings.
//
// A Watcher runs two goroutines, one reading inotify's events and one
// turning them into reloads; a reload waits while the driver's queue is
// full. Set adds and removes directory watches, a file system call that
// may wait on a hung mount, so it is called off the driver's goroutine (on
// the network worker's, with the rest of a setup). Close returns at once.
package watch

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
)

// Watch timings: a completed save (a write closed, or a file renamed into
// place) of a watched file applies at once; other events (partial writes,
// deletes, creates) settle for debounce before pmtr looks. A writer that
// completes a second save within busyQuiet of the last one is a program
// writing in a burst: from then on pmtr waits for busyQuiet of quiet, so
// the burst applies once more, with its final content. Under endless churn
// pmtr still looks every maxDelay; without inotify it looks every
// PollEvery. Looking is safe at any time: a file that a program still
// holds open for writing is not read (package files), so a writer's pauses,
// however long, never apply half a save.
const (
	debounce  = 40 * time.Millisecond
	busyGap   = 50 * time.Millisecond
	busyQuiet = 150 * time.Millisecond
	maxDelay  = 2 * time.Second
	PollEvery = 3 * time.Second
)

// Watcher watches the parent directories of the config file, of the files
// it includes and of every dependency, and the directory of each include
// pattern (one inotify instance, each directory once), so rename saves,
// delete and re-create, symlink swaps, and files added to or removed from
// a drop-in directory are all seen. A change becomes a driver.Reload: the
// driver compares contents and acts only on real changes.
type Watcher struct {
	clk   clock.Clock
	log   Logger
	send  func(driver.Input) bool
	in    *inotify // nil: inotify unavailable, polling only
	mu    sync.Mutex
	dirs  []string        // wanted directories, sorted
	files map[string]bool // the watched files themselves
	globs []string        // include patterns: a file one matches is watched too
	poll  *clock.Timer    // armed only while some directory is not watched
	evs   chan fsEvent
	stop  chan struct{}
}

// Logger is pmtr's log.
type Logger interface {
	Logf(level core.Level, format string, args ...any)
}

// New starts watching nothing yet; send queues a reload for the driver.
func New(clk clock.Clock, log Logger, send func(driver.Input) bool) *Watcher {
	w := &Watcher{clk: clk, log: log, send: send, evs: make(chan fsEvent, 256), stop: make(chan struct{})}
	in, err := openInotify()
	if err != nil {
		log.Logf(core.Error, "can't watch files (%v); checking them every %v instead", err, PollEvery)
	}
	w.in = in
	w.poll = clk.Timer(PollEvery)
	w.poll.Stop()
	if in != nil {
		go w.read()
	}
	go w.run()
	return w
}

// Set replaces the watched files; their directories are watched. An entry
// whose last element holds * ? or [ is an include pattern: its directory
// is watched, and a file it matches counts as watched. A directory
// watched from now on may have changed since the files were read (a save
// in the first moments after pmtr read the config), so then the driver
// looks once more: it acts only on a real change.
func (w *Watcher) Set(files []string) {
	var dirs, globs []string
	names := map[string]bool{}
	for _, f := range files {
		f = filepath.Clean(f)
		if strings.ContainsAny(filepath.Base(f), "*?[") {
			globs = append(globs, f)
		} else {
			names[f] = true
		}
		if d := filepath.Dir(f); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	w.mu.Lock()
	w.dirs, w.files, w.globs = dirs, names, globs
	added := w.sync()
	w.mu.Unlock()
	if added {
		w.send(driver.Reload{})
	}
}

// watches: dir/name is a watched file, or one an include pattern takes.
func (w *Watcher) watches(dir, name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := filepath.Join(dir, name)
	if w.files[p] {
		return true
	}
	for _, g := range w.globs {
		if filepath.Dir(g) == dir && len(confgrammar.Includable(g, []string{p})) == 1 {
			if ok, _ := path.Match(filepath.Base(g), name); ok {
				return true
			}
		}
	}
	return false
}

// rearm polls only while needed, so an idle pmtr does not wake up.
func (w *Watcher) rearm(ok bool) {
	if ok {
		w.poll.Stop()
	} else {
		w.poll.Reset(PollEvery)
	}
}

// sync adds missing directory watches and drops unwanted ones, and polls
// while any is missing; it says whether it added one. w.mu held.
func (w *Watcher) sync() (added bool) {
	if w.in == nil {
		w.rearm(len(w.dirs) == 0)
		return false
	}
	have := w.in.watching()
	for _, d := range have {
		if !slices.Contains(w.dirs, d) {
			w.in.remove(d)
		}
	}
	ok := true
	for _, d := range w.dirs {
		if !slices.Contains(have, d) {
			if err := w.in.add(d); err != nil {
				ok = false // missing or not watchable: polling covers it
			} else {
				added = true
			}
		}
	}
	w.rearm(ok)
	return added
}

// Close stops watching.
func (w *Watcher) Close() {
	close(w.stop)
	w.poll.Stop()
	if w.in != nil {
		w.in.close()
	}
}

// read hands inotify's events to run.
func (w *Watcher) read() {
	buf := make([]byte, 64<<10)
	for {
		evs, err := w.in.read(buf)
		for _, ev := range evs {
			select {
			case w.evs <- ev:
			case <-w.stop:
				return
			}
		}
		if errors.Is(err, os.ErrClosed) {
			return
		}
		if err != nil {
			w.log.Logf(core.Error, "file watch error: %v; also checking every %v", err, PollEvery)
			w.clk.Sleep(PollEvery)
		}
	}
}

// run turns events into reloads, at once or after they settle, and polls
// as a fallback.
func (w *Watcher) run() {
	settle := w.clk.Timer(time.Hour)
	settle.Stop()
	var b burst
	for {
		select {
		case ev := <-w.evs:
			if w.pend(settle, &b, ev) {
				settle.Stop()
				w.fire()
			}
		case <-settle.C:
			b.first, b.busy = time.Time{}, false
			w.fire()
		case <-w.poll.C:
			w.fire()
		case <-w.stop:
			return
		}
	}
}

// burst is the run of events not acted on yet.
type burst struct {
	first    time.Time // first event not acted on; zero when none
	lastSave time.Time // last completed save of a watched file
	busy     bool      // saves come in a burst: wait for quiet
}

// pend records an event; true means act now (a completed save by a writer
// that is not busy), else the settle timer is (re)started.
func (w *Watcher) pend(settle *clock.Timer, b *burst, ev fsEvent) bool {
	now := w.clk.Now()
	save := ev.complete && w.watches(ev.dir, ev.name)
	if save {
		quick := !b.lastSave.IsZero() && now.Sub(b.lastSave) < busyGap
		b.lastSave = now
		if quick {
			b.busy = true
		} else if !b.busy {
			b.first = time.Time{}
			return true
		}
	}
	if b.first.IsZero() {
		b.first = now
	}
	quiet := debounce
	if b.busy {
		quiet = busyQuiet
	}
	if now.Sub(b.first) < maxDelay {
		settle.Reset(quiet)
	}
	return false
}

func (w *Watcher) fire() {
	w.mu.Lock()
	w.sync() // re-add directories that were replaced
	w.mu.Unlock()
	w.send(driver.Reload{})
}
