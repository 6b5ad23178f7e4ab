package handover

import (
	"bytes"
	"encoding/gob"
	"reflect"
	"strings"
	"testing"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
)

func TestStateRoundTrip(t *testing.T) {
	need := driver.ReloadForced
	spec := &confgrammar.Job{Name: "a", Cmd: []string{"/bin/a"}}
	s := State{From: "v1.2.3", Mono: 42, Log: Log{Syslog: true, Verbose: 1}, Cgroups: true,
		Driver: driver.State{Gen: 3, Core: core.Snapshot{Gate: -1, Jobs: []core.JobState{{Spec: *spec, Name: "a", PID: 7}}}},
		Pending: []Pending{
			{At: 5, Event: core.Exited{PID: 7, Status: 1}},
			{At: 6, Event: core.Shutdown{Signal: 15}},
			{Control: &driver.ControlText{From: "1.2.3.4", Via: "udp://:1", Text: "disable a"}},
			{Reload: &need},
		},
		Spawns: []Spawn{{Spawn: core.Spawn{Job: "a", Attempt: 9, Spec: spec}, Cancelled: true}},
		Files: Files{Control: 3, Lock: 4, Reply: -1, Rings: 5, Metrics: []Listener{{ID: "127.0.0.1:9", FD: 6}},
			Outputs: []Output{{FD: 8, Job: "a", PID: 7, Part: []byte("half a li")}}},
	}
	b, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip\n%+v\nwant\n%+v", got, s)
	}
	rings := []Ring{{Job: "a", Lines: []string{"one", "two"}, Out: "/var/log/a"}}
	rb, err := EncodeRings(rings)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := DecodeRings(rb); err != nil || !reflect.DeepEqual(back, rings) {
		t.Fatalf("rings: %v %+v", err, back)
	}
}

func TestDecodeRefusesOtherFormats(t *testing.T) {
	b, _ := Encode(State{})
	for _, bad := range [][]byte{
		[]byte(strings.Replace(string(b), "pmtr-state 2\n", "pmtr-state 99\n", 1)),
		[]byte("garbage"),
		b[:len(b)/2],
	} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) took it", bad[:min(len(bad), 30)])
		}
	}
	_, err := Decode([]byte("pmtr-state 99\n"))
	if err == nil || !strings.Contains(err.Error(), "state format 99, this pmtr reads 1 2") {
		t.Fatalf("error %v", err)
	}
}

func TestCheckFormats(t *testing.T) {
	if err := CheckFormats(FormatLine()); err != nil {
		t.Fatalf("our own line: %v", err)
	}
	if err := CheckFormats("pmtr-state 0 1 2\n"); err != nil {
		t.Fatalf("a reader of several formats: %v", err)
	}
	for out, want := range map[string]string{
		"pmtr-state 1\n":    "it reads state formats 1, this pmtr writes format 2",
		"usage: pmtr ...\n": "it does not say which state formats it reads",
		"pmtr-state x\n":    "it says it reads state formats",
	} {
		if err := CheckFormats(out); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckFormats(%q) = %v, want %q", out, err, want)
		}
	}
}

// TestReadsFormat1: the plain gob stream of format 1 (pmtr before the
// state was compressed) is still read.
func TestReadsFormat1(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString("pmtr-state 1\n")
	want := State{From: "old", Mono: 7}
	if err := gob.NewEncoder(&buf).Encode(want); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(buf.Bytes())
	if err != nil || got.From != "old" || got.Mono != 7 {
		t.Fatalf("format 1: %v %+v", err, got)
	}
}
