package logsink

import (
	"fmt"
	"os"
	"testing"

	"pmtr/core"
	"pmtr/live/logsink/logtest"
)

// In the foreground pmtr writes C pmtr's form, its jobs' lines included;
// debug lines only with -v.
func TestStderrForm(t *testing.T) {
	var buf logtest.Buffer
	l := NewStderrLogger(&buf, 0)
	l.Log(core.Info, "pmtr: starting")
	l.Logf(core.Debug, "hidden %d", 1)
	l.JobLine("web", 42, "listening", true)
	l.Flush()
	pid := os.Getpid()
	want := fmt.Sprintf("pmtr[%d]: pmtr: starting\npmtr[%d]: web[42]: listening\n", pid, pid)
	if got := buf.String(); got != want {
		t.Fatalf("log:\n%s\nwant:\n%s", got, want)
	}
	if l.SplitsStreams() {
		t.Fatal("a plain writer keeps no priorities, yet stderr would be split")
	}
}
