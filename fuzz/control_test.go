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

// FuzzVerify: a datagram is accepted only when it is exactly what the key
// signed for this listener, fresh, and new; nothing panics.
func FuzzVerify(f *testing.F) {
	key := []byte("k3y")
	now := time.Unix(1_800_000_000, 0)
	const dest = "db1:10000"
	f.Add(datagram.Sign(key, "disable a", now, "n1", dest), false)
	f.Add([]byte("pmtr-auth2 1800000000 n1 db1:10000 00\ndisable a"), false)
	// Found by this target against the first format, whose MAC covered the
	// parsed header: a tab for a space still verified.
	f.Add([]byte("pmtr-auth1\t1800000000 n1 5d5b8dd1986a1fdf04711a26bcd3b86313902c809c28213c86e23e44fde8bbf2\ndisable a"), false)
	f.Add([]byte("disable a"), true)
	f.Fuzz(func(t *testing.T, dgram []byte, twice bool) {
		v := datagram.NewVerifier(key, now.Unix()-60)
		msg, err := v.Verify(dgram, now, func(to string) bool { return to == dest })
		if err != nil {
			return
		}
		head, body, _ := strings.Cut(string(dgram), "\n")
		f := strings.Split(head, " ")
		if body != msg || len(f) != 5 {
			t.Fatalf("accepted %q as %q", dgram, msg)
		}
		ts, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("accepted a bad timestamp %q", f[1])
		}
		if string(datagram.Sign(key, msg, time.Unix(ts, 0), f[2], f[3])) != string(dgram) {
			t.Fatalf("accepted a datagram the key did not sign: %q", dgram)
		}
		if _, err := v.Verify(dgram, now, func(string) bool { return true }); err == nil {
			t.Fatalf("accepted the same datagram twice: %q", dgram)
		}
	})
}
