package logsafe

import (
	"strings"
	"testing"
)

func TestTextEscapesAndCaps(t *testing.T) {
	cases := map[string]string{
		"web":                   "web",
		"a\nb\rc\td\x1b[2J\x07": `a\nb\rc\td\e[2J\x07`,
		"back\\slash":           `back\\slash`,
		"bad\xffutf8":           `bad\xffutf8`,
		"c1\u0085":              `c1\u0085`,
		"naïve":                 "naïve",
	}
	for in, want := range cases {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
	long := Text(strings.Repeat("x", 5000))
	if len(long) != Max+3 || !strings.HasSuffix(long, "...") {
		t.Fatalf("long text: %d bytes, %q...", len(long), long[:10])
	}
	if strings.ContainsAny(Text(strings.Repeat("\n", 1000)), "\n\r") {
		t.Fatal("a newline survived")
	}
}

func TestShortWords(t *testing.T) {
	msg := `unknown option "` + strings.Repeat("a", 200000) + `" in job block`
	got := ShortWords(msg, 60)
	if len(got) > 120 || !strings.HasPrefix(got, `unknown option "aaa`) || !strings.HasSuffix(got, `...(200002 bytes) in job block`) {
		t.Fatalf("got %q", got)
	}
	if ShortWords("short words stay", 60) != "short words stay" {
		t.Fatal("short text changed")
	}
}
