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

func TestSignedDatagrams(t *testing.T) {
	key := []byte("s3cret")
	now := time.Unix(1800000000, 0)
	v := &Verifier{Key: key}
	d := Sign(key, "disable web", now, "n1")
	if msg, err := v.Verify(d, now.Add(time.Second)); err != nil || msg != "disable web" {
		t.Fatalf("signed: %q, %v", msg, err)
	}
	if _, err := v.Verify(d, now.Add(2*time.Second)); err == nil || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("replay accepted: %v", err)
	}
	if _, err := v.Verify([]byte("disable web"), now); err == nil {
		t.Fatal("unsigned accepted")
	}
	if _, err := v.Verify(Sign(key, "disable web", now.Add(-31*time.Second), "n2"), now); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("stale accepted: %v", err)
	}
	if _, err := v.Verify(Sign([]byte("other"), "disable web", now, "n3"), now); err == nil {
		t.Fatal("wrong key accepted")
	}
	tampered := []byte(strings.Replace(string(Sign(key, "disable web", now, "n4")), "web", "db", 1))
	if _, err := v.Verify(tampered, now); err == nil {
		t.Fatal("tampered message accepted")
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
