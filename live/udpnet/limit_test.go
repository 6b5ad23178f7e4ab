package udpnet

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"pmtr/core"
)

type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) Logf(_ core.Level, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, fmt.Sprintf(format, args...))
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

// A flood of lines from the network makes limitBurst lines, then one
// that counts the rest when the window ends.
func TestLineLimit(t *testing.T) {
	clk := clock.NewMock()
	out := &lines{}
	l := newLineLimit(clk, out)
	for i := range 10 {
		l.log(fmt.Sprint("refused ", i), func(n int) string { return fmt.Sprintf("... %d more", n) })
	}
	if got := out.all(); len(got) != limitBurst || got[0] != "refused 0" {
		t.Fatalf("lines within the window: %q", got)
	}
	clk.Add(limitWindow)
	want := []string{"refused 0", "refused 1", "refused 2", "... 7 more"}
	deadline := time.Now().Add(30 * time.Second)
	for fmt.Sprint(out.all()) != fmt.Sprint(want) {
		if time.Now().After(deadline) {
			t.Fatalf("lines: %q, want %q", out.all(), want)
		}
		time.Sleep(time.Millisecond)
	}
}
