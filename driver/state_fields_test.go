package driver

import (
	"reflect"
	"strings"
	"testing"
)

// notInState are the fields of Driver that State leaves out, and why.
var notInState = map[string]string{
	"o":        "the new binary's own options (the same command line)",
	"b":        "the new binary's backend",
	"spawned":  "the new binary's backend",
	"m":        "State.Core",
	"conf":     "State.Config",
	"ld":       "State.Reload and State.ReadSeq: a read under way is made again",
	"deadline": "the core's next deadline, asked again by Restore",
	"done":     "a driver that is done hands nothing over",
	"waiters":  "answered at the handover: their connections do not survive the exec",
	"waitWake": "goes with the waiters",
	"paused":   "the new driver runs",
	// The metrics' values are published afresh by the new driver.
	"pub":       "the new binary's backend",
	"published": "the new driver copies the values at its first publish",
	"pubStale":  "the new driver copies the values at its first publish",
}

// TestStateCoversEveryDriverField: a field added to Driver is in State
// (by its name, capitalised) or in notInState, so that pmtr upgrade
// cannot silently forget it.
func TestStateCoversEveryDriverField(t *testing.T) {
	st := reflect.TypeFor[State]()
	typ := reflect.TypeFor[Driver]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		if _, ok := notInState[name]; ok {
			continue
		}
		if _, ok := st.FieldByName(strings.ToUpper(name[:1]) + name[1:]); !ok {
			t.Errorf("Driver.%s is not in driver.State (as %s) nor in notInState: pmtr upgrade would forget it", name, strings.ToUpper(name[:1])+name[1:])
		}
	}
}
