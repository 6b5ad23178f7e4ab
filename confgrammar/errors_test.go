package confgrammar

import (
	"errors"
	"strings"
	"testing"
)

// Each case lists every error expected, as "LINE:COL: text" where text is
// the exact message.
func TestErrorMessages(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"unknown option with hint", "job {\n nmae a\n cmd /bin/true\n}",
			[]string{`2:2: unknown option "nmae" in job block (did you mean "name"?)`, `1:1: job has no name (add: name NAME)`}},
		{"unclosed job at EOF", "job {\nname test_job\ncmd /bin/true\n",
			[]string{`1:5: job block is not closed (add "}" before the end of the file)`}},
		{"unclosed job before the next", "job {\nname a\ncmd /bin/true\njob {\nname b\ncmd /bin/true\n}",
			[]string{`1:5: job block is not closed (add "}" before line 4)`}},
		{"missing name", "job {\ncmd /bin/true\n}", []string{`1:1: job has no name (add: name NAME)`}},
		{"missing cmd", "job {\nname a\n}", []string{`1:1: job "a" has no cmd (add: cmd /full/path/to/program [args])`}},
		{"empty job", "job {\n}", []string{`1:1: empty job block (a job needs at least name and cmd)`}},
		{"name respecified", "job {\nname a\nname b\ncmd /bin/true\n}",
			[]string{`3:1: name respecified (first set at line 2; each job may set name only once)`}},
		{"cmd respecified", "job {\nname a\ncmd /a x\ncmd /b y\n}",
			[]string{`4:1: cmd respecified (first set at line 3; each job may set cmd only once)`}},
		{"dir out err in respecified", "job {\nname a\ncmd /a\ndir /x\ndir /y\nout o\nout o\nerr e\nerr e\nin i\nin i\n}",
			[]string{"5:1: dir respecified (first set at line 4; each job may set dir only once)",
				"7:1: out respecified (first set at line 6; each job may set out only once)",
				"9:1: err respecified (first set at line 8; each job may set err only once)",
				"11:1: in respecified (first set at line 10; each job may set in only once)"}},
		{"duplicate job names", "job {\nname a\ncmd /a\n}\njob {\nname a\ncmd /b\n}",
			[]string{`6:6: duplicate job name "a" (first used by the job at line 1; names must be unique)`}},
		{"nice out of range", "job {\nname a\ncmd /a\nnice 50\n}", []string{`4:6: nice 50 out of range -20 to 19`}},
		{"nice low", "job {\nname a\ncmd /a\nnice -21\n}", []string{`4:6: nice -21 out of range -20 to 19`}},
		{"nice non-numeric", "job {\nname a\ncmd /a\nnice high\n}", []string{`4:6: non-numeric nice value "high" (write a whole number)`}},
		{"order trailing junk", "job {\nname a\ncmd /a\norder 5abc\n}", []string{`4:7: non-numeric order value "5abc" (write a whole number)`}},
		{"env without =", "job {\nname a\ncmd /a\nenv FOO\n}", []string{`4:5: environment string "FOO" must be VAR=VALUE`}},
		{"env without name", "job {\nname a\ncmd /a\nenv =x\n}", []string{`4:5: environment string "=x" has no variable name (write VAR=VALUE)`}},
		{"user too long", "job {\nname a\ncmd /a\nuser " + strings.Repeat("u", 100) + "\n}", []string{`4:6: user name too long (100 characters; at most 99)`}},
		{"bounce no unit", "job {\nname a\ncmd /a\nbounce every 5\n}", []string{`4:14: bounce interval "5" has no unit (add s, m, h or d, e.g. 5s)`}},
		{"bounce bad unit", "job {\nname a\ncmd /a\nbounce every 10x\n}", []string{`4:14: invalid time unit in bounce interval "10x" (use s, m, h or d)`}},
		{"bounce negative", "job {\nname a\ncmd /a\nbounce every -5s\n}", []string{`4:14: invalid bounce interval "-5s" (write a whole number and a unit, e.g. 5m)`}},
		{"bounce zero", "job {\nname a\ncmd /a\nbounce every 0s\n}", []string{`4:14: bounce interval "0s" must be at least 1s (remove the line to never bounce)`}},
		{"bounce fraction", "job {\nname a\ncmd /a\nbounce every 1.5m\n}", []string{`4:14: invalid bounce interval "1.5m" (write a whole number and a unit, e.g. 5m)`}},
		{"bounce huge", "job {\nname a\ncmd /a\nbounce every 99999999d\n}", []string{`4:14: bounce interval "99999999d" is too long (at most 100 years)`}},
		{"bounce without every", "job {\nname a\ncmd /a\nbounce 5m\n}", []string{`4:1: bounce must be followed by every (write: bounce every 1h)`}},
		{"cpu reversed range", "job {\nname a\ncmd /a\ncpu 5-3\n}", []string{`4:5: syntax error in cpu list "5-3": range "5-3" ends before it starts (write e.g. 0,2-4 or 0x5)`}},
		{"cpu empty element", "job {\nname a\ncmd /a\ncpu 0,,2\n}", []string{`4:5: syntax error in cpu list "0,,2": empty element (write e.g. 0,2-4 or 0x5)`}},
		{"cpu beyond limit", "job {\nname a\ncmd /a\ncpu 1024\n}", []string{`4:5: syntax error in cpu list "1024": CPU 1024 is beyond the limit of 1023 (write e.g. 0,2-4 or 0x5)`}},
		{"cpu no wrap", "job {\nname a\ncmd /a\ncpu 200-300\n}", nil},
		{"cpu empty hex", "job {\nname a\ncmd /a\ncpu 0x\n}", []string{`4:5: empty cpu mask "0x" (write e.g. 0x3)`}},
		{"cpu bad hex", "job {\nname a\ncmd /a\ncpu 0xGH\n}", []string{`4:5: invalid hex digit 'H' in cpu mask 0xGH`}},
		{"cpu upper-case 0X", "job {\nname a\ncmd /a\ncpu 0X1\n}", []string{`4:5: syntax error in cpu list "0X1": "0X1" is not a CPU number (write e.g. 0,2-4 or 0x5)`}},
		{"ulimit unknown flag", "job {\nname a\ncmd /a\nulimit -x 5\n}", []string{`4:8: unknown ulimit resource "-x" (did you mean "-c"?)`}},
		{"ulimit lower-case name", "job {\nname a\ncmd /a\nulimit rlimit_core 0\n}", []string{`4:8: unknown ulimit resource "rlimit_core"`}},
		{"ulimit nofile infinite means the kernel maximum", "job {\nname a\ncmd /a\nulimit -n infinity\n}", nil},
		{"ulimit non-numeric", "job {\nname a\ncmd /a\nulimit -c lots\n}", []string{`4:11: non-numeric ulimit value "lots" (write a number, infinity or unlimited)`}},
		{"ulimit minus one", "job {\nname a\ncmd /a\nulimit -c -1\n}", []string{`4:11: non-numeric ulimit value "-1" (write a number, infinity or unlimited)`}},
		{"ulimit too big", "job {\nname a\ncmd /a\nulimit -c 9223372036854775808\n}", []string{`4:11: ulimit value 9223372036854775808 out of range 0 to 9223372036854775807`}},
		{"ulimit block unclosed", "job {\nname a\ncmd /a\nulimit {\n -n 5\njob {\nname b\ncmd /b\n}",
			[]string{`4:8: ulimit block is not closed (add "}" before line 6)`, `1:5: job block is not closed (add "}" before line 6)`}},
		{"empty depends", "job {\nname a\ncmd /a\ndepends {\n}\n}", []string{`4:9: empty depends block (list at least one file, or remove the block)`}},
		{"depends without block", "job {\nname a\ncmd /a\ndepends a.conf\n}", []string{`4:1: depends needs a block: depends { FILE ... }`}},
		{"quoted name", "job {\nname \"my job\"\ncmd /a\n}", []string{`2:6: the value of name cannot be quoted (only cmd arguments may be quoted)`}},
		{"quoted program", "job {\nname a\ncmd \"/bin/true\"\n}", []string{`3:5: the program in cmd cannot be quoted (write it bare; only its arguments may be quoted)`}},
		{"missing value", "job {\nname\ncmd /a\n}", []string{`2:1: missing value after name`}},
		{"unterminated quote", "job {\nname a\ncmd /bin/echo \"abc\n}", []string{`3:15: unterminated quoted string (a quoted string must end with " on the same line)`}},
		{"keyword not at line start", "job { name a\ncmd /a\n}", []string{`1:7: option "name" must be the first word on its line`, `1:1: job has no name (add: name NAME)`}},
		{"brace as argument", "job {\nname a\ncmd /bin/echo {\n}", []string{`3:15: unexpected "{" in job block (to pass { as an argument, quote it: "{")`}},
		{"option outside job", "name a\n", []string{`1:1: option "name" outside a job block (put it inside job { ... })`}},
		{"stray word", "jobb {\n", []string{`1:1: unexpected "jobb" at top level (expected job, report to, listen on or metrics on) (did you mean "job"?)`}},
		{"job glued to brace", "job{\nname a\n}", []string{`1:1: unexpected "job{" (write "job {" with a space)`}},
		{"stray close", "}\n", []string{`1:1: unexpected "}" (no block is open)`}},
		{"NUL byte", "job {\nname a\x00b\ncmd /a\n}", []string{`2:7: NUL byte in config file (remove it; pmtr.conf is text)`}},
		{"report bad scheme", "report to tcp://1.2.3.4:5\n", []string{`1:11: address "tcp://1.2.3.4:5" must start with udp:// (required format: udp://HOST:PORT[@IFACE])`}},
		{"report no port", "report to udp://127.0.0.1\n", []string{`1:11: address "udp://127.0.0.1" has no port (required format: udp://HOST:PORT[@IFACE])`}},
		{"report port range", "report to udp://127.0.0.1:99999\n", []string{`1:11: port "99999" in "udp://127.0.0.1:99999" out of range 1 to 65535 (required format: udp://HOST:PORT[@IFACE])`}},
		{"listen iface", "listen on udp://127.0.0.1:5@eth0\n", []string{`1:11: listen on takes no @interface (required format: udp://HOST:PORT [key FILE])`}},
		{"listen without on", "listen udp://127.0.0.1:5\n", []string{`1:1: listen must be followed by on (write: listen on udp://HOST:PORT)`}},
		{"report without to", "report udp://127.0.0.1:5\n", []string{`1:1: report must be followed by to (write: report to udp://HOST:PORT[@IFACE])`}},
		{"listen key missing file", "listen on udp://127.0.0.1:5 key\n", []string{`1:29: missing key file after key (write: listen on udp://HOST:PORT key /etc/pmtr.key)`}},
		{"every problem reported", "job {\nname a\ncmd /a\nnice 99\norder x\nbounce every 3q\n}\njob {\nname a\n}",
			[]string{"4:6: nice 99 out of range -20 to 19", `5:7: non-numeric order value "x" (write a whole number)`,
				`6:14: invalid time unit in bounce interval "3q" (use s, m, h or d)`, `8:1: job "a" has no cmd (add: cmd /full/path/to/program [args])`,
				`9:6: duplicate job name "a" (first used by the job at line 1; names must be unique)`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.conf", []byte(tc.src))
			var got []string
			var list ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					got = append(got, strings.TrimPrefix(e.Error(), "t.conf:"))
				}
			} else if err != nil {
				t.Fatalf("error is %T, want ErrorList", err)
			}
			if strings.Join(got, "\n") != strings.Join(sortedLike(tc.want), "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// sortedLike orders expected errors by position, as Parse does.
func sortedLike(want []string) []string {
	out := append([]string(nil), want...)
	key := func(s string) (int, int) {
		var l, c int
		for _, r := range strings.SplitN(s, ":", 3)[0] {
			l = l*10 + int(r-'0')
		}
		for _, r := range strings.SplitN(s, ":", 3)[1] {
			c = c*10 + int(r-'0')
		}
		return l, c
	}
	for i := 1; i < len(out); i++ {
		for k := i; k > 0; k-- {
			l1, c1 := key(out[k-1])
			l2, c2 := key(out[k])
			if l1 < l2 || l1 == l2 && c1 <= c2 {
				break
			}
			out[k-1], out[k] = out[k], out[k-1]
		}
	}
	return out
}

func TestTooLarge(t *testing.T) {
	_, err := Parse("big.conf", make([]byte, MaxSize+1))
	if err == nil || !strings.Contains(err.Error(), "big.conf:1:1: file too large") {
		t.Errorf("got %v", err)
	}
}

// TestHugeTokenIsCutInErrors: a 200 kB word is not echoed whole.
func TestHugeTokenIsCutInErrors(t *testing.T) {
	_, err := Parse("big.conf", []byte("job {\nname a\ncmd /bin/a\n}\n"+strings.Repeat("z", 200000)+" x\n"))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if len(msg) > 300 || !strings.Contains(msg, "...(") || !strings.HasPrefix(msg, "big.conf:5:1: ") {
		t.Fatalf("error of %d bytes: %.300s", len(msg), msg)
	}
}
