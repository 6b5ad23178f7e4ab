package core_test

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"pmtr/core"
	"pmtr/sim"
	"pmtr/sim/property"
)

// TestSnapshotRestoreDecidesAlike is pmtr upgrade's promise as a property:
// a machine restored from a snapshot (sent through gob, as the upgrade
// sends it) makes the same decisions as the original for any sequence of
// events that follows. Random runs of both property models (the restart
// rules, and readiness with after and checks) take snapshots at random
// points; each snapshot is restored and fed every call the original got
// after it, and must emit exactly the original's effects and end in the
// same state. The runs also hand their driver over at random points
// (sim.World.Upgrade): the calls made on the old and new machines must
// replay alike on one machine that never was.
func TestSnapshotRestoreDecidesAlike(t *testing.T) {
	t.Run("lifecycle", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			m := &snapModel{Model: property.New(t)}
			t.Repeat(rapid.StateMachineActions(m))
			checkSnaps(t, m.World(), m.snaps)
		})
	})
	t.Run("readiness", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			m := &snapReadiness{Readiness: property.NewReadiness(t)}
			t.Repeat(rapid.StateMachineActions(m))
			checkSnaps(t, m.World(), m.snaps)
		})
	})
}

// snap is a snapshot taken after the first At calls of a world's journal.
type snap struct {
	At int
	S  core.Snapshot
}

type snapModel struct {
	*property.Model
	snaps []snap
}

// Snapshot is an action: the machine's state now, kept for the check.
func (m *snapModel) Snapshot(t *rapid.T) { m.snaps = append(m.snaps, take(t, m.World())) }

type snapReadiness struct {
	*property.Readiness
	snaps []snap
}

func (m *snapReadiness) Snapshot(t *rapid.T) { m.snaps = append(m.snaps, take(t, m.World())) }

// Upgrade is an action: the driver hands its state to a new driver, as
// pmtr upgrade does; the model's rules hold on, and the journal of the
// machines, old and new, must replay on one machine alike.
func (m *snapModel) Upgrade(t *rapid.T) { upgrade(t, m.World()) }

func (m *snapReadiness) Upgrade(t *rapid.T) { upgrade(t, m.World()) }

func upgrade(t *rapid.T, w *sim.World) {
	if err := w.Upgrade(); err != nil {
		t.Fatal(err)
	}
}

func take(t *rapid.T, w *sim.World) snap {
	s, err := w.M.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s); err != nil {
		t.Fatal(err)
	}
	var back core.Snapshot
	if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
		t.Fatal(err)
	}
	return snap{At: len(w.Journal()), S: back}
}

// checkSnaps restores each snapshot and replays the rest of the journal
// on it: its transcript must be the original's from that point.
func checkSnaps(t *rapid.T, w *sim.World, snaps []snap) {
	calls := w.Journal()
	orig := core.NewSeeded(w.Seed())
	want := replay(orig, calls)
	if got := sim.Replay(w.Seed(), calls); got != w.Transcript() {
		t.Fatalf("the world's transcript, upgrades and all, is not one machine's:\n%s\n---- one machine:\n%s", w.Transcript(), got)
	}
	end, err := orig.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		m, err := core.Restore(s.S)
		if err != nil {
			t.Fatalf("restore the snapshot taken after call %d: %v", s.At, err)
		}
		got := replay(m, calls[s.At:])
		if !slices.Equal(got, want[s.At:]) {
			t.Fatalf("restored after call %d, the machine decides otherwise:\n%s", s.At, diff(want[s.At:], got))
		}
		if fin, err := m.Snapshot(); err != nil || !sameSnapshot(fin, end) {
			t.Fatalf("restored after call %d, the machine ends in another state (%v):\n%+v\nwant\n%+v", s.At, err, fin, end)
		}
	}
}

// replay makes the calls on m; each call's line holds what it emitted.
func replay(m *core.Machine, calls []sim.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		switch {
		case c.Read:
			rd := m.Ready()
			var b strings.Builder
			fmt.Fprintf(&b, "%v ready deadline=%v done=%v", c.Now, rd.Deadline, rd.Done)
			for _, e := range rd.Effects {
				fmt.Fprintf(&b, "\n  < %v", e)
			}
			out[i] = b.String()
		case c.Ev != nil:
			m.Step(c.Now, c.Ev)
			out[i] = fmt.Sprintf("%v > %v", c.Now, c.Ev)
		default:
			m.Tick(c.Now)
			out[i] = fmt.Sprintf("%v tick", c.Now)
		}
	}
	return out
}

// sameSnapshot compares two snapshots, an empty slice and none alike (gob
// does not tell them apart).
func sameSnapshot(a, b core.Snapshot) bool {
	var ba, bb bytes.Buffer
	if gob.NewEncoder(&ba).Encode(a) != nil || gob.NewEncoder(&bb).Encode(b) != nil {
		return false
	}
	var ra, rb core.Snapshot
	gob.NewDecoder(&ba).Decode(&ra)
	gob.NewDecoder(&bb).Decode(&rb)
	return reflect.DeepEqual(ra, rb)
}

func diff(want, got []string) string {
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			return fmt.Sprintf("call %d:\noriginal:\n%s\nrestored:\n%s", i, want[i], got[i])
		}
	}
	return fmt.Sprintf("%d calls against %d", len(want), len(got))
}
