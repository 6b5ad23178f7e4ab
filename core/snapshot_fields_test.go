package core

import (
	"bytes"
	"encoding/gob"
	"reflect"
	"testing"
	"unsafe"

	"pmtr/confgrammar"
)

func specNamed(name string) confgrammar.Job {
	return confgrammar.Job{Name: name, Cmd: []string{"/bin/true"}}
}

// rebuiltJobFields are the fields of job that a snapshot leaves out, and why.
var rebuiltJobFields = map[string]string{
	"gone": "a job in the machine's list is never gone",
}

// rebuiltMachineFields are the fields of Machine that Restore rebuilds
// from the snapshot, and why; every other field must be in Snapshot.
var rebuiltMachineFields = map[string]string{
	"byName":   "the jobs not removed, by name",
	"byPID":    "the jobs with a process, by pid",
	"spawning": "the jobs starting, by name and attempt",
	"spawnMax": "only sizes a map",
	"afterOf":  "indexAfter, from the jobs",
	"effects":  "a snapshot is taken once Ready has drained them",
	"jobs":     "Snapshot.Jobs",
	"wakes":    "Snapshot.Wakes",
	"deps":     "Snapshot.Deps",
	"rng":      "Snapshot.Rand",
	"now":      "Snapshot.Now",
}

// TestSnapshotCoversEveryJobField sets each field of a job (and of its
// health) in turn, takes a snapshot through gob, as pmtr upgrade sends
// it, and restores it: the field must come back. A field added to job
// without a place in JobState fails here, so an upgrade cannot silently
// forget it; one that the machine rebuilds goes in rebuiltJobFields.
func TestSnapshotCoversEveryJobField(t *testing.T) {
	for _, path := range leafFields(reflect.TypeFor[job](), nil) {
		name := reflect.TypeFor[job]().FieldByIndex(path[:1]).Name
		if _, ok := rebuiltJobFields[name]; ok {
			continue
		}
		m := NewSeeded(1)
		j := &job{wakeAt: Never}
		fillValue(t, fieldAt(j, path))
		m.jobs = []*job{j}
		got := roundTrip(t, m)
		if len(got.jobs) != 1 {
			t.Fatalf("%s: %d jobs after the round trip", fieldName(path), len(got.jobs))
		}
		if want, have := fieldAt(j, path).Interface(), fieldAt(got.jobs[0], path).Interface(); !reflect.DeepEqual(want, have) {
			t.Errorf("job field %s does not survive a snapshot: set %#v, restored %#v; add it to core.JobState (or HealthState) in core/snapshot.go",
				fieldName(path), want, have)
		}
	}
}

// TestSnapshotCoversEveryMachineField: every field of Machine is in the
// snapshot or named as rebuilt.
func TestSnapshotCoversEveryMachineField(t *testing.T) {
	snap := reflect.TypeFor[Snapshot]()
	covered := map[string]bool{}
	for i := range snap.NumField() {
		covered[snap.Field(i).Name] = true
	}
	typ := reflect.TypeFor[Machine]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		if _, ok := rebuiltMachineFields[name]; ok {
			continue
		}
		exported := string(name[0]-'a'+'A') + name[1:]
		if !covered[exported] {
			t.Errorf("Machine.%s is not in core.Snapshot (as %s) nor in rebuiltMachineFields: pmtr upgrade would forget it", name, exported)
		}
	}
}

// TestSnapshotRefusesDamage: a snapshot that no machine could have made
// is refused, not run.
func TestSnapshotRefusesDamage(t *testing.T) {
	for _, bad := range []Snapshot{
		{Gate: 3},
		{Gate: -1, Jobs: []JobState{{Phase: 7}}},
		{Gate: -1, Jobs: []JobState{{Control: 9}}},
		{Gate: -1, Jobs: []JobState{{Spec: specNamed("a")}, {Spec: specNamed("a")}}},
		{Gate: -1, Jobs: []JobState{{Spec: specNamed("a"), PID: 5}, {Spec: specNamed("b"), PID: 5}}},
		{Gate: -1, Wakes: []Wake{{At: 1, Job: 0}}},
	} {
		if _, err := Restore(bad); err == nil {
			t.Errorf("Restore(%+v) took it", bad)
		}
	}
}

// roundTrip snapshots m, sends the snapshot through gob and restores it.
func roundTrip(t *testing.T, m *Machine) *Machine {
	t.Helper()
	s, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s); err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
		t.Fatal(err)
	}
	got, err := Restore(back)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// leafFields lists the paths to every field of typ, going into the
// structs of the core (health), not into confgrammar's (the spec is one
// field, filled and compared whole).
func leafFields(typ reflect.Type, prefix []int) [][]int {
	var out [][]int
	for i := range typ.NumField() {
		f := typ.Field(i)
		path := append(append([]int(nil), prefix...), i)
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == typ.PkgPath() {
			out = append(out, leafFields(f.Type, path)...)
			continue
		}
		out = append(out, path)
	}
	return out
}

// fieldAt is the (settable) field at path of j, unexported or not.
func fieldAt(j *job, path []int) reflect.Value {
	v := reflect.ValueOf(j).Elem()
	for _, i := range path {
		v = v.Field(i)
	}
	return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
}

func fieldName(path []int) string {
	typ, name := reflect.TypeFor[job](), ""
	for _, i := range path {
		f := typ.Field(i)
		if name != "" {
			name += "."
		}
		name += f.Name
		typ = f.Type
	}
	return name
}

// fillValue sets v to a value other than its zero (and, for a job's
// phase and override, one in range).
func fillValue(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int64:
		v.SetInt(2)
	case reflect.Uint64:
		v.SetUint(3)
	case reflect.Array:
		for i := range v.Len() {
			fillValue(t, v.Index(i))
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillValue(t, v.Index(0))
	case reflect.Struct:
		for i := range v.NumField() {
			fillValue(t, reflect.NewAt(v.Field(i).Type(), unsafe.Pointer(v.Field(i).UnsafeAddr())).Elem())
		}
	default:
		t.Fatalf("fillValue: add a case for %s", v.Kind())
	}
}
