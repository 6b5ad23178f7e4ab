package joboutput

import (
	"fmt"
	"sync"
	"time"
)

// A job's log ring keeps its last ringLines lines or ringBytes bytes,
// whichever is less: its output and pmtr's own lines about it, each with
// the time. It is made at the job's first line, so an idle job costs only
// the lines it has.
const (
	ringLines = 200
	ringBytes = 64 << 10
)

type ring struct {
	lines     []string
	bytes     int
	out, errf string               // the job's out and err files; "" for pmtr's log
	subs      map[chan string]bool // made by the first follower
}

// Rings holds the rings of every job, for pmtr logs.
type Rings struct {
	mu    sync.Mutex
	rings map[string]*ring
}

// NewRings makes an empty set of rings.
func NewRings() *Rings { return &Rings{rings: map[string]*ring{}} }

func (l *Rings) get(job string) *ring {
	r := l.rings[job]
	if r == nil {
		r = &ring{}
		l.rings[job] = r
	}
	return r
}

// Add keeps one line of job's; followers get it too (a slow one misses it).
func (l *Rings) Add(job, text string) {
	line := time.Now().Format("2006-01-02T15:04:05.000") + " " + text
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.get(job)
	r.lines = append(r.lines, line)
	r.bytes += len(line)
	for len(r.lines) > ringLines || r.bytes > ringBytes {
		r.bytes -= len(r.lines[0])
		r.lines[0] = ""
		r.lines = r.lines[1:]
	}
	if len(r.lines) == cap(r.lines) && cap(r.lines) > 2*ringLines {
		r.lines = append([]string(nil), r.lines...) // let go of the evicted part
	}
	for ch := range r.subs {
		select {
		case ch <- line:
		default:
		}
	}
}

// SetOutput records where job's output goes (out and err files, "" for
// pmtr's log), for pmtr logs to say.
func (l *Rings) SetOutput(job, out, errf string) {
	l.mu.Lock()
	r := l.get(job)
	r.out, r.errf = out, errf
	l.mu.Unlock()
}

// output says where the job's output goes when not (all) to pmtr's log.
func (r *ring) output() string {
	switch {
	case r.out != "" && r.errf != "":
		return fmt.Sprintf("stdout goes to %s and stderr to %s", r.out, r.errf)
	case r.out != "":
		return "stdout goes to " + r.out
	case r.errf != "":
		return "stderr goes to " + r.errf
	}
	return ""
}

// Tail returns job's last n lines and a note on where its output goes.
func (l *Rings) Tail(job string, n int) ([]string, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rings[job]
	if r == nil {
		return nil, ""
	}
	from := max(0, len(r.lines)-n)
	return append([]string(nil), r.lines[from:]...), r.output()
}

// Follow subscribes to job's new lines until cancel.
func (l *Rings) Follow(job string) (<-chan string, func()) {
	ch := make(chan string, 256)
	l.mu.Lock()
	r := l.get(job)
	if r.subs == nil {
		r.subs = map[chan string]bool{}
	}
	r.subs[ch] = true
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.get(job).subs, ch)
		l.mu.Unlock()
	}
}

// size is the bytes held by all rings (for the memory benchmark).
func (l *Rings) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for name, r := range l.rings {
		n += len(name) + r.bytes
	}
	return n
}
