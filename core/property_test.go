package core_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"pmtr/sim/property"
)

// TestProperties runs random sequences of time, crashes, failed spawns,
// reloads, control commands, dependency changes and shutdown against the
// core and the simulated backend, checking the lifecycle invariants after
// every step (see sim/property). rapid first replays the fail files it
// wrote under testdata/rapid/TestProperties; one it says it can no longer
// replay fails the test, so that none lingers there testing nothing: turn
// its sequence into a plain test (found_test.go) and remove it.
func TestProperties(t *testing.T) {
	w := &replayWatch{T: t}
	rapid.Check(w, func(t *rapid.T) {
		t.Repeat(rapid.StateMachineActions(property.New(t)))
	})
	if len(w.ignored) > 0 {
		t.Errorf("rapid no longer replays these fail files:\n%s", strings.Join(w.ignored, "\n"))
	}
	dirs, _ := os.ReadDir("testdata/rapid")
	for _, d := range dirs {
		if d.Name() != "TestProperties" {
			t.Errorf("testdata/rapid/%s: fail files of a test that does not replay them", d.Name())
		}
	}
}

// replayWatch notes the fail files rapid says it ignores.
type replayWatch struct {
	*testing.T
	ignored []string
}

func (w *replayWatch) Logf(format string, args ...any) {
	w.T.Helper()
	msg := fmt.Sprintf(format, args...)
	if strings.Contains(msg, "[rapid] ignoring fail file") || strings.Contains(msg, "[rapid] fail file") && strings.Contains(msg, "no longer valid") {
		w.ignored = append(w.ignored, msg)
	}
	w.T.Log(msg)
}
