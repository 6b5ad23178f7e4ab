package datagram

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseControl(t *testing.T) {
	cases := []struct {
		msg  string
		want []Command
		err  error
	}{
		{"enable a", []Command{{"enable", []string{"a"}}}, nil},
		{"disable a b\n", []Command{{"disable", []string{"a", "b"}}}, nil},
		{"  enable\ta  disable\r\nc ", []Command{{"enable", []string{"a"}}, {"disable", []string{"c"}}}, nil},
		{"bogus a", nil, ErrNoVerb},
		{"", nil, nil},
	}
	for _, c := range cases {
		got, err := ParseControl(c.msg)
		if !errors.Is(err, c.err) || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %v, %v; want %v, %v", c.msg, got, err, c.want, c.err)
		}
	}
}

const dest = "db1:10000"

func here(to string) bool { return to == dest }

func TestSignedDatagrams(t *testing.T) {
	key := []byte("s3cret")
	now := time.Unix(1800000000, 0)
	v := &Verifier{Key: key}
	sign := func(msg string, at time.Time, nonce string) []byte { return Sign(key, msg, at, nonce, dest) }
	d := sign("disable web", now, "n1")
	if msg, err := v.Verify(d, now.Add(time.Second), here); err != nil || msg != "disable web" {
		t.Fatalf("signed: %q, %v", msg, err)
	}
	if _, err := v.Verify(d, now.Add(2*time.Second), here); err == nil || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("replay accepted: %v", err)
	}
	if _, err := v.Verify([]byte("disable web"), now, here); err == nil {
		t.Fatal("unsigned accepted")
	}
	if _, err := v.Verify(sign("disable web", now.Add(-31*time.Second), "n2"), now, here); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("stale accepted: %v", err)
	}
	if _, err := v.Verify(Sign([]byte("other"), "disable web", now, "n3", dest), now, here); err == nil {
		t.Fatal("wrong key accepted")
	}
	tampered := []byte(strings.Replace(string(sign("disable web", now, "n4")), "web", "db", 1))
	if _, err := v.Verify(tampered, now, here); err == nil {
		t.Fatal("tampered message accepted")
	}
	if _, err := v.Verify(Sign(key, "disable web", now, "n5", "db2:10000"), now, here); err == nil || !strings.Contains(err.Error(), "addressed to db2:10000") {
		t.Fatalf("a datagram for another listener: %v", err)
	}
}

// TestSignatureCoversTheExactBytes: a signed datagram whose first line is
// changed in any byte, white space included, is refused (FuzzVerify found
// that the first format's check, over the parsed fields, let a tab in).
func TestSignatureCoversTheExactBytes(t *testing.T) {
	key := []byte("s3cret")
	now := time.Unix(1800000000, 0)
	d := string(Sign(key, "disable a", now, "n1", dest))
	head, _, _ := strings.Cut(d, "\n")
	for i := range len(head) {
		for _, b := range []byte{' ', '\t', 'x', '0'} {
			if head[i] == b {
				continue
			}
			changed := d[:i] + string(b) + d[i+1:]
			if _, err := (&Verifier{Key: key}).Verify([]byte(changed), now, func(string) bool { return true }); err == nil {
				t.Fatalf("accepted %q, changed at byte %d", changed, i)
			}
		}
	}
	for _, extra := range []string{" " + d, strings.Replace(d, " ", "  ", 1), strings.Replace(d, "\n", " \n", 1), strings.Replace(d, "\n", "\r\n", 1)} {
		if _, err := (&Verifier{Key: key}).Verify([]byte(extra), now, func(string) bool { return true }); err == nil {
			t.Fatalf("accepted %q", extra)
		}
	}
	old := "pmtr-auth1 1800000000 n1 5d5b8dd1986a1fdf04711a26bcd3b86313902c809c28213c86e23e44fde8bbf2\ndisable a"
	if _, err := (&Verifier{Key: key}).Verify([]byte(old), now, here); err == nil || !strings.Contains(err.Error(), "old format") {
		t.Fatalf("the old format: %v", err)
	}
}

func TestReportRoundTripAndTable(t *testing.T) {
	body := "a e 12 100 /bin/sleep\nd d 0 0 /bin/true\n"
	dg := FormatReport("host1", body)
	if string(dg) != "report host1\n"+body {
		t.Fatalf("format: %q", dg)
	}
	var tb Table
	t0 := time.Unix(1800000000, 0)
	if ch, err := tb.Update("10.0.0.1", dg, t0); !ch || err != nil {
		t.Fatalf("first update: %v %v", ch, err)
	}
	tb.Update("10.0.0.2", FormatReport("host2", "x e 90061 7 /x\n"), t0.Add(30*time.Second))
	out := tb.Render(t0.Add(30 * time.Second))
	for _, want := range []string{"2 systems reporting", "host1 (10.0.0.1)", "host2 (10.0.0.2)", "1d 1h 1m 1s", "disabled", "12s"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !tb.Expire(t0.Add(61 * time.Second)) {
		t.Fatal("a host silent for 61 s was not expired")
	}
	if out := tb.Render(t0.Add(61 * time.Second)); !strings.Contains(out, "1 systems reporting") || strings.Contains(out, "host1") {
		t.Fatalf("after expiry:\n%s", out)
	}
	if _, err := tb.Update("10.0.0.3", []byte("hello"), t0); err == nil {
		t.Fatal("garbage accepted as a report")
	}
}

func TestUptime(t *testing.T) {
	for secs, want := range map[int64]string{0: "0s", 59: "59s", 60: "1m", 3661: "1h 1m 1s", 86400: "1d", 90061: "1d 1h 1m 1s"} {
		if got := Uptime(secs); got != want {
			t.Errorf("Uptime(%d) = %q, want %q", secs, got, want)
		}
	}
}
