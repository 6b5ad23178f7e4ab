package core_test

import (
	"testing"

	"pgregory.net/rapid"

	"pmtr/sim/property"
)

// TestReadinessProperties runs random sequences of time, crashes and
// control commands against jobs with ready conditions, after names and
// checks (issue 23), checking the rules of sim/property.Readiness after
// every step: a job never starts before the jobs it is after are ready,
// one probe per job at most is out, failed checks count in a row, and not
// ready in time is a failed run.
func TestReadinessProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		t.Repeat(rapid.StateMachineActions(property.NewReadiness(t)))
	})
}
