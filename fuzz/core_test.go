package fuzz

import (
	"testing"

	"pgregory.net/rapid"

	"pmtr/sim/property"
)

// FuzzCore runs the core's state-machine property (random time, crashes,
// failed spawns, reloads, control, dependency changes and shutdown, with the
// lifecycle invariants checked after every step) under go test -fuzz.
func FuzzCore(f *testing.F) {
	f.Fuzz(rapid.MakeFuzz(func(t *rapid.T) {
		t.Repeat(rapid.StateMachineActions(property.New(t)))
	}))
}
