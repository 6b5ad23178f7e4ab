package live

import (
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/fsnotify/fsnotify"

	"pmtr/core"
	"pmtr/driver"
)

// Watch timings: events settle for debounce before pmtr looks, or for
// busyQuiet once a writer has touched a watched file busyHits times (a
// burst of writes then applies once, even with scheduling jitter); under
// endless churn pmtr still looks every maxDelay; without inotify it looks
// every pollEvery.
const (
	debounce  = 40 * time.Millisecond
	busyHits  = 3
	busyQuiet = 150 * time.Millisecond
	maxDelay  = 2 * time.Second
	pollEvery = 3 * time.Second
)

// watcher watches the parent directories of the config file and of every
// dependency (one inotify instance, each directory once), so rename saves,
// delete and re-create, and symlink swaps are all seen. Any event in a
// watched directory, after a debounce, becomes one driver.Reload: the
// driver compares contents and acts only on real changes.
type watcher struct {
	clk   clock.Clock
	log   *Logger
	send  func(driver.Input) bool
	fsw   *fsnotify.Watcher // nil: inotify unavailable, polling only
	mu    sync.Mutex
	dirs  []string        // wanted directories, sorted
	files map[string]bool // the watched files themselves
	poll  *clock.Timer    // armed only while some directory is not watched
	stop  chan struct{}
}

func newWatcher(clk clock.Clock, log *Logger, send func(driver.Input) bool) *watcher {
	w := &watcher{clk: clk, log: log, send: send, stop: make(chan struct{})}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		log.Logf(core.Error, "can't watch files (%v); checking them every %v instead", err, pollEvery)
	}
	w.fsw = fsw
	w.poll = clk.Timer(pollEvery)
	w.poll.Stop()
	go w.run()
	return w
}

// set replaces the watched files; their directories are watched.
func (w *watcher) set(files []string) {
	var dirs []string
	names := map[string]bool{}
	for _, f := range files {
		names[filepath.Clean(f)] = true
		d := filepath.Dir(filepath.Clean(f))
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dirs, w.files = dirs, names
	w.sync()
}

func (w *watcher) watches(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.files[filepath.Clean(name)]
}

// rearm polls only while needed, so an idle pmtr does not wake up.
func (w *watcher) rearm(ok bool) {
	if ok {
		w.poll.Stop()
	} else {
		w.poll.Reset(pollEvery)
	}
}

// sync adds missing directory watches and drops unwanted ones, and polls
// while any is missing; w.mu held.
func (w *watcher) sync() {
	if w.fsw == nil {
		w.rearm(len(w.dirs) == 0)
		return
	}
	have := w.fsw.WatchList()
	for _, d := range have {
		if !slices.Contains(w.dirs, d) {
			w.fsw.Remove(d)
		}
	}
	ok := true
	for _, d := range w.dirs {
		if !slices.Contains(have, d) {
			if err := w.fsw.Add(d); err != nil {
				ok = false // missing or not watchable: polling covers it
			}
		}
	}
	w.rearm(ok)
}

func (w *watcher) close() {
	close(w.stop)
	w.poll.Stop()
	if w.fsw != nil {
		w.fsw.Close()
	}
}

// run debounces events into fsChange and polls as a fallback.
func (w *watcher) run() {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.fsw != nil {
		events, errs = w.fsw.Events, w.fsw.Errors
	}
	settle := w.clk.Timer(time.Hour)
	settle.Stop()
	var b burst
	warned := false
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			w.pend(settle, &b, w.watches(ev.Name))
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) && !warned {
				w.log.Logf(core.Error, "file watch error: %v; also checking every %v", err, pollEvery)
				warned = true
			}
			w.pend(settle, &b, false)
		case <-settle.C:
			b = burst{}
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
	first time.Time // zero when none
	hits  int       // events on the watched files themselves
}

// pend (re)starts the debounce, unless the burst is already maxDelay old.
func (w *watcher) pend(settle *clock.Timer, b *burst, hit bool) {
	now := w.clk.Now()
	if b.first.IsZero() {
		b.first = now
	}
	if hit {
		b.hits++
	}
	quiet := debounce
	if b.hits >= busyHits {
		quiet = busyQuiet
	}
	if now.Sub(b.first) < maxDelay {
		settle.Reset(quiet)
	}
}

func (w *watcher) fire() {
	w.mu.Lock()
	w.sync() // re-add directories that were replaced
	w.mu.Unlock()
	w.send(driver.Reload{})
}
