package fuzz

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"pmtr/datagram"
	"pmtr/driver"
	"pmtr/logsafe"
	"pmtr/sim"
)

// FuzzControl: any control text, decoded by the driver as the daemon does,
// neither panics nor produces a log line that spans lines or carries
// control bytes.
func FuzzControl(f *testing.F) {
	for _, s := range []string{"enable a", "disable a b restart c", "a disable", "\x1b[2J\r\nx", "restart\t\tb\n", strings.Repeat("enable ", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		w := sim.NewWorld(nil)
		if err := w.LoadText("job {\nname a\ncmd /bin/a\n}\njob {\nname b\ncmd /bin/b\n}\n"); err != nil {
			t.Fatal(err)
		}
		w.Input(driver.ControlText{From: "127.0.0.1:9", Via: "udp://127.0.0.1:7", Text: text})
		for _, l := range w.Logs() {
			if strings.ContainsAny(l, "\n\r\x1b") {
				t.Fatalf("log line with a control byte: %q", l)
			}
		}
		if got := logsafe.Text(text); strings.ContainsAny(got, "\n\r\x00\x1b") {
			t.Fatalf("logsafe.Text(%q) = %q", text, got)
		}
	})
}

// FuzzVerify: a datagram is accepted only when it is signed with the key,
// fresh, and new; nothing panics.
func FuzzVerify(f *testing.F) {
	key := []byte("k3y")
	now := time.Unix(1_800_000_000, 0)
	f.Add(datagram.Sign(key, "disable a", now, "n1"), false)
	f.Add([]byte("pmtr-auth1 1800000000 n1 00\ndisable a"), false)
	f.Add([]byte("disable a"), true)
	f.Fuzz(func(t *testing.T, dgram []byte, twice bool) {
		v := datagram.NewVerifier(key, now.Unix()-60)
		msg, err := v.Verify(dgram, now)
		if err != nil {
			return
		}
		head, body, _ := strings.Cut(string(dgram), "\n")
		f := strings.Fields(head)
		if body != msg || len(f) != 4 {
			t.Fatalf("accepted %q as %q", dgram, msg)
		}
		ts, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("accepted a bad timestamp %q", f[1])
		}
		if string(datagram.Sign(key, msg, time.Unix(ts, 0), f[2])) != string(dgram) {
			t.Fatalf("accepted a datagram the key did not sign: %q", dgram)
		}
		if _, err := v.Verify(dgram, now); err == nil {
			t.Fatalf("accepted the same datagram twice: %q", dgram)
		}
	})
}
