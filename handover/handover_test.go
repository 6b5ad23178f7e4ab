package handover

import (
	"bytes"
	"compress/flate"
	"encoding/gob"
	"fmt"
	"io"
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
		[]byte(strings.Replace(string(b), "pmtr-state 3\n", "pmtr-state 99\n", 1)),
		[]byte("garbage"),
		b[:len(b)/2],
	} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) took it", bad[:min(len(bad), 30)])
		}
	}
	_, err := Decode([]byte("pmtr-state 99\n"))
	if err == nil || !strings.Contains(err.Error(), "state format 99, this pmtr reads 3") {
		t.Fatalf("error %v", err)
	}
}

func TestCheckFormats(t *testing.T) {
	if err := CheckFormats(FormatLine()); err != nil {
		t.Fatalf("our own line: %v", err)
	}
	if err := CheckFormats("pmtr-state 2 3 4\n"); err != nil {
		t.Fatalf("a reader of several formats: %v", err)
	}
	for out, want := range map[string]string{
		"pmtr-state 1 2\n":  "it reads state formats 1 2, this pmtr writes format 3",
		"usage: pmtr ...\n": "it does not say which state formats it reads",
		"pmtr-state x\n":    "it says it reads state formats",
	} {
		if err := CheckFormats(out); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckFormats(%q) = %v, want %q", out, err, want)
		}
	}
}

// TestRefusesGobFormats: the gob streams of formats 1 and 2 (pmtr before
// 2026-12-07) are refused, saying what they are.
func TestRefusesGobFormats(t *testing.T) {
	for _, f := range []int{1, 2} {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "pmtr-state %d\n", f)
		var w io.Writer = &buf
		z, _ := flate.NewWriter(&buf, flate.BestSpeed)
		if f == 2 {
			w = z
		}
		if err := gob.NewEncoder(w).Encode(State{From: "old", Mono: 7}); err != nil {
			t.Fatal(err)
		}
		z.Close()
		_, err := Decode(buf.Bytes())
		want := fmt.Sprintf("handover: state format %d (gob, written by a pmtr before 2026-12-07), this pmtr reads 3", f)
		if err == nil || err.Error() != want {
			t.Errorf("format %d: %v, want %q", f, err, want)
		}
	}
}
