package udpnet

import (
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"pmtr/core"
)

// Lines caused by network input: at most limitBurst per limitWindow per
// listener, then one summary line when the window ends.
const (
	limitBurst  = 3
	limitWindow = 10 * time.Second
)

// lineLimit rate-limits one kind of log line.
type lineLimit struct {
	clk     clock.Clock
	out     Logger
	mu      sync.Mutex
	start   time.Time
	n       int
	dropped int
	summary func(int) string
	timer   *clock.Timer
}

func newLineLimit(clk clock.Clock, log Logger) *lineLimit {
	return &lineLimit{clk: clk, out: log}
}

// log writes line unless the window's burst is spent; then it counts it,
// and summary words the count once the window is over.
func (l *lineLimit) log(line string, summary func(int) string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	if now.Sub(l.start) >= limitWindow {
		l.start, l.n = now, 0
	}
	if l.n < limitBurst {
		l.n++
		l.out.Logf(core.Error, "%s", line)
		return
	}
	l.dropped++
	l.summary = summary
	if l.timer == nil {
		l.timer = l.clk.AfterFunc(l.start.Add(limitWindow).Sub(now), l.flush)
	}
}

func (l *lineLimit) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped > 0 {
		l.out.Logf(core.Error, "%s", l.summary(l.dropped))
	}
	l.dropped, l.timer = 0, nil
}
