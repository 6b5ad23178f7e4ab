package core_test

import (
	"fmt"
	"reflect"
	"testing"

	"pmtr/confgrammar"
	"pmtr/core"
)

// TestJobFieldsCoverJob: every field of confgrammar.Job has exactly one
// entry in core.JobFields, so a field added to the grammar cannot be left
// out of reload's diff and plan's words.
func TestJobFieldsCoverJob(t *testing.T) {
	entries := map[string]int{}
	for _, f := range core.JobFields {
		entries[f.Go]++
	}
	typ := reflect.TypeFor[confgrammar.Job]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		switch entries[name] {
		case 0:
			t.Errorf("confgrammar.Job.%s has no entry in core.JobFields (core/fields.go): add one saying how a reload compares it, whether a change restarts the job, and its keyword", name)
		case 1:
		default:
			t.Errorf("confgrammar.Job.%s has %d entries in core.JobFields; keep one", name, entries[name])
		}
		delete(entries, name)
	}
	for name := range entries {
		t.Errorf("core.JobFields has an entry for %q, which confgrammar.Job does not have", name)
	}
}

// TestJobFieldsReadTheirField: each entry's Same and Show look at its own
// field and no other, so a copied line cannot compare the wrong field.
func TestJobFieldsReadTheirField(t *testing.T) {
	var zero confgrammar.Job
	typ := reflect.TypeFor[confgrammar.Job]()
	for i := range typ.NumField() {
		var set confgrammar.Job
		fill(t, reflect.ValueOf(&set).Elem().Field(i))
		name := typ.Field(i).Name
		for _, f := range core.JobFields {
			differs := !f.Same(&zero, &set)
			if differs != (f.Go == name) {
				t.Errorf("JobFields entry %q (%s): Same says %v when only %s is set", f.Name, f.Go, !differs, name)
			}
			if f.Go == name && f.Show(&zero) == f.Show(&set) {
				t.Errorf("JobFields entry %q (%s): Show gives %q whether %s is set or not", f.Name, f.Go, f.Show(&set), name)
			}
		}
	}
}

// TestJobFieldsNames: plan names changes by config keyword, each once.
func TestJobFieldsNames(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range core.JobFields {
		if f.Name == "" || seen[f.Name] {
			t.Errorf("JobFields entry for %s: name %q is empty or used twice", f.Go, f.Name)
		}
		seen[f.Name] = true
	}
}

// fill sets v to a value other than its zero.
func fill(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(1e9) // 1 s for a time.Duration
	case reflect.Uint64:
		v.SetUint(1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(t, v.Index(0))
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i))
		}
	default:
		t.Fatalf("fill: add a case for %s", v.Kind())
	}
}

// TestPlanShowsFieldValues: a change carries each changed field's old and
// new value as pmtr.conf writes them, in the order plan names them.
func TestPlanShowsFieldValues(t *testing.T) {
	w := newWorld(t, "job {\nname api\ncmd /bin/api -p 80\nnice 2\nbounce every 1h\n}\n", nil)
	w.RunUntil(sec(20))
	cfg, err := confgrammar.Parse("edited.conf", []byte("job {\nname api\ncmd /bin/api -p \"8 0\"\nenv A=1\nenv B=2\nbounce every 90m\nonce\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := w.M.Plan(w.Now, cfg, nil)
	if len(p.Changes) != 1 {
		t.Fatalf("plan %v, want one change", p.Changes)
	}
	got := fmt.Sprint(p.Changes[0].Fields)
	want := `[{cmd /bin/api -p 80 /bin/api -p "8 0"} {env  A=1, B=2} {nice 2 } {bounce 1h 90m} {once  once}]`
	if got != want || p.Changes[0].String() != "restart api (cmd, env, nice, bounce, once changed)" {
		t.Fatalf("%s: fields\n%s\nwant\n%s", p.Changes[0], got, want)
	}
}
