package core_test

import (
	"testing"

	"pgregory.net/rapid"

	"pmtr/sim/property"
)

// TestProperties runs random sequences of time, crashes, failed spawns,
// reloads, control commands, dependency changes and shutdown against the
// core and the simulated backend, checking the lifecycle invariants after
// every step (see sim/property).
func TestProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		t.Repeat(rapid.StateMachineActions(property.New(t)))
	})
}
