package joboutput

import (
	"fmt"
	"strings"
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

// The merged ring keeps the last allLines lines or allBytes bytes of
// pmtr's whole log, its own lines and every job's, for pmtr logs without a
// job. Its lines are "TIME\tJOB\tTEXT" (JOB "" for pmtr's own).
const (
	allLines = 1000
	allBytes = 256 << 10
)

type ring struct {
	lines     []string
	bytes     int
	out, errf string               // the job's out and err files; "" for pmtr's log
	subs      map[chan string]bool // made by the first follower
}

// Rings holds the rings of every job and the merged ring, for pmtr logs.
type Rings struct {
	mu    sync.Mutex
	rings map[string]*ring
	all   ring
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

const stamp = "2006-01-02T15:04:05.000"

// Add keeps one line of job's; followers get it too (a slow one misses it).
func (l *Rings) Add(job, text string) {
	line := time.Now().Format(stamp) + " " + text
	l.mu.Lock()
	defer l.mu.Unlock()
	l.get(job).add(line, ringLines, ringBytes)
}

// AddAll keeps one line of pmtr's log in the merged ring: about job, or
// pmtr's own ("").
func (l *Rings) AddAll(job, text string) {
	line := time.Now().Format(stamp) + "\t" + job + "\t" + text
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.add(line, allLines, allBytes)
}

// add keeps line, within maxLines and maxBytes; l.mu held.
func (r *ring) add(line string, maxLines, maxBytes int) {
	r.lines = append(r.lines, line)
	r.bytes += len(line)
	for len(r.lines) > maxLines || r.bytes > maxBytes {
		r.bytes -= len(r.lines[0])
		r.lines[0] = ""
		r.lines = r.lines[1:]
	}
	if len(r.lines) == cap(r.lines) && cap(r.lines) > 2*maxLines {
		r.lines = append([]string(nil), r.lines...) // let go of the evicted part
	}
	for ch := range r.subs {
		select {
		case ch <- line:
		default:
		}
	}
}

// Merged is one line of the merged ring.
type Merged struct {
	At   string // "2006-01-02T15:04:05.000"
	Job  string // "" for pmtr's own lines
	Text string
}

// ParseMerged reads a line of the merged ring (as FollowAll sends them).
func ParseMerged(line string) Merged {
	at, rest, _ := strings.Cut(line, "\t")
	job, text, _ := strings.Cut(rest, "\t")
	return Merged{At: at, Job: job, Text: text}
}

// TailAll returns the last n lines of the merged ring.
func (l *Rings) TailAll(n int) []Merged {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tailAll(n)
}

// tailAll: l.mu held.
func (l *Rings) tailAll(n int) []Merged {
	from := max(0, len(l.all.lines)-n)
	out := make([]Merged, 0, len(l.all.lines)-from)
	for _, line := range l.all.lines[from:] {
		out = append(out, ParseMerged(line))
	}
	return out
}

// FollowAll returns the last n lines of the merged ring and subscribes to
// the lines after them (ParseMerged reads them) until cancel.
func (l *Rings) FollowAll(n int) ([]Merged, <-chan string, func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch, cancel := l.follow(&l.all)
	return l.tailAll(n), ch, cancel
}

// OutputLine is a line of a job's output as pmtr logs shows it: a line
// from its stderr is marked, where pmtr reads stderr apart.
func OutputLine(name string, pid int, text string, stderr bool) string {
	if stderr {
		return fmt.Sprintf("%s[%d] stderr: %s", name, pid, text)
	}
	return fmt.Sprintf("%s[%d]: %s", name, pid, text)
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
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.follow(l.get(job))
}

// follow subscribes to r; l.mu held.
func (l *Rings) follow(r *ring) (<-chan string, func()) {
	ch := make(chan string, 256)
	if r.subs == nil {
		r.subs = map[chan string]bool{}
	}
	r.subs[ch] = true
	return ch, func() {
		l.mu.Lock()
		delete(r.subs, ch)
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
