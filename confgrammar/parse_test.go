package confgrammar

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse("t.conf", []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return c
}

func oneJob(t *testing.T, body string) Job {
	t.Helper()
	c := mustParse(t, "job {\n name j\n cmd /bin/true\n"+body+"\n}\n")
	if len(c.Jobs) != 1 {
		t.Fatalf("want 1 job, got %d", len(c.Jobs))
	}
	return c.Jobs[0]
}

// definition is j without where it is written (position, file, origins).
func definition(j Job) Job {
	j.Pos, j.File, j.Origins = Pos{}, "", nil
	return j
}

func definitions(jobs []Job) []Job {
	out := make([]Job, len(jobs))
	for i, j := range jobs {
		out[i] = definition(j)
	}
	return out
}

func TestEveryOption(t *testing.T) {
	j := oneJob(t, `dir /srv
out /tmp/o
err syslog
in /tmp/i
env A=1
env B=
user nobody
order 5
nice -20
cpu 0,2-3
cpu 0x10
ulimit -n 100
ulimit { RLIMIT_CORE unlimited -l infinity }
bounce every 2h
depends {
 a.conf
}
depends { b.conf }
disable
wait
once`)
	want := Job{Name: "j", Cmd: []string{"/bin/true"}, Dir: "/srv", Out: "/tmp/o", Err: "syslog", In: "/tmp/i",
		Env: []string{"A=1", "B="}, User: "nobody", Order: 5, Nice: -20, CPUs: []int{0, 2, 3, 4},
		Ulimits: []Ulimit{{"-n", 7, 100, false}, {"RLIMIT_CORE", 4, 0, true}, {"-l", 8, 0, true}},
		Bounce:  2 * time.Hour, Depends: []string{"a.conf", "b.conf"}, Disabled: true, Wait: true, Once: true}
	if !reflect.DeepEqual(definition(j), want) {
		t.Errorf("got  %+v\nwant %+v", j, want)
	}
}

func TestGlobals(t *testing.T) {
	c := mustParse(t, "report to udp://127.0.0.1:9999\nreport to udp://239.0.0.1:9999@eth2\nlisten on udp://0.0.0.0:10000 key /etc/pmtr.key\nlisten on udp://[::1]:10001\n")
	wantR := []Report{{"127.0.0.1", 9999, "", Pos{1, 11}, "t.conf"}, {"239.0.0.1", 9999, "eth2", Pos{2, 11}, "t.conf"}}
	wantL := []Listen{{"0.0.0.0", 10000, "/etc/pmtr.key", Pos{3, 11}, "t.conf"}, {"::1", 10001, "", Pos{4, 11}, "t.conf"}}
	if !reflect.DeepEqual(c.Reports, wantR) || !reflect.DeepEqual(c.Listens, wantL) {
		t.Errorf("got %+v %+v", c.Reports, c.Listens)
	}
}

func TestLexicalRules(t *testing.T) {
	cases := []struct {
		name, src string
		argv      []string
	}{
		{"keyword later on a line is a word", "job {\nname a\ncmd /usr/bin/name in out\n}", []string{"/usr/bin/name", "in", "out"}},
		{"on to every are plain words in cmd", "job {\nname a\ncmd /bin/echo on to every\n}", []string{"/bin/echo", "on", "to", "every"}},
		{"comment mid-line", "job {\nname a # the name\ncmd /bin/true # note\n}", []string{"/bin/true"}},
		{"hash inside a word is literal", "job {\nname a\ncmd /bin/echo foo#bar\n}", []string{"/bin/echo", "foo#bar"}},
		{"quoted args keep spaces and hashes", "job {\nname a\ncmd /bin/sh -c \"echo # x; y\"\n}", []string{"/bin/sh", "-c", "echo # x; y"}},
		{"empty quoted arg", "job {\nname a\ncmd /bin/echo \"\"\n}", []string{"/bin/echo", ""}},
		{"adjacent quoted strings", "job {\nname a\ncmd /bin/echo \"a\"\"b\"c\n}", []string{"/bin/echo", "a", "b", "c"}},
		{"backslash is not an escape", "job {\nname a\ncmd /bin/echo \"a\\\" b\n}", []string{"/bin/echo", "a\\", "b"}},
		{"CRLF", "job {\r\nname a\r\ncmd /bin/echo x\r\n}\r\n", []string{"/bin/echo", "x"}},
		{"args continue on the next line", "job {\nname a\ncmd /bin/echo x\n  y\n}", []string{"/bin/echo", "x", "y"}},
		{"value on the next line", "job {\nname\n  a\ncmd\n /bin/true\n}", []string{"/bin/true"}},
		{"closing brace mid-line", "job {\nname a\ncmd /bin/echo x }", []string{"/bin/echo", "x"}},
		{"job and brace on separate lines", "job\n{\nname a\ncmd /bin/true\n}", []string{"/bin/true"}},
		{"tabs", "job\t{\n\tname\ta\n\tcmd\t/bin/true\n}", []string{"/bin/true"}},
		{"no final newline", "job {\nname a\ncmd /bin/true\n}", []string{"/bin/true"}},
		{"utf-8 bytes are token bytes", "job {\nname café-€\ncmd /bin/echo été\n}", []string{"/bin/echo", "été"}},
		{"quote mid-word is literal", "job {\nname a\ncmd /bin/echo a\"b\n}", []string{"/bin/echo", "a\"b"}},
		{"brace glued to a word is a word", "job {\nname a\ncmd /bin/echo {x x}\n}", []string{"/bin/echo", "{x", "x}"}},
		{"comment at EOF without newline", "job {\nname a\ncmd /bin/true\n}\n# end", []string{"/bin/true"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.src)
			if got := c.Jobs[0].Cmd; !reflect.DeepEqual(got, tc.argv) {
				t.Errorf("argv = %q, want %q", got, tc.argv)
			}
		})
	}
}

func TestOneLineBlocks(t *testing.T) {
	j := oneJob(t, "depends { a.conf b.conf }\nulimit { -n 10 -c 0 }")
	if !reflect.DeepEqual(j.Depends, []string{"a.conf", "b.conf"}) || len(j.Ulimits) != 2 {
		t.Errorf("got %q %+v", j.Depends, j.Ulimits)
	}
}

func TestEmptyAndCommentOnly(t *testing.T) {
	for _, src := range []string{"", "\n\n", "# only a comment\n", "   \t\r\n"} {
		if c := mustParse(t, src); len(c.Jobs) != 0 {
			t.Errorf("%q: want no jobs", src)
		}
	}
}

func TestOrderIsStable(t *testing.T) {
	c := mustParse(t, `job {
name c
cmd /bin/true
order 3
}
job {
name a1
cmd /bin/true
}
job {
name b
cmd /bin/true
order -50
}
job {
name a2
cmd /bin/true
order 0
}`)
	var names []string
	for _, j := range c.Jobs {
		names = append(names, j.Name)
	}
	if got := strings.Join(names, ","); got != "b,a1,a2,c" {
		t.Errorf("order = %s", got)
	}
}

func TestValues(t *testing.T) {
	cases := []struct {
		body  string
		check func(Job) bool
	}{
		{"bounce every 30s", func(j Job) bool { return j.Bounce == 30*time.Second }},
		{"bounce every 5m", func(j Job) bool { return j.Bounce == 5*time.Minute }},
		{"bounce every 30d", func(j Job) bool { return j.Bounce == 30*24*time.Hour }},
		{"bounce every 1s", func(j Job) bool { return j.Bounce == time.Second }},
		{"cpu 0xff", func(j Job) bool { return len(j.CPUs) == 8 && j.CPUs[7] == 7 }},
		{"cpu 0xAB", func(j Job) bool { return reflect.DeepEqual(j.CPUs, []int{0, 1, 3, 5, 7}) }},
		{"cpu 5-5", func(j Job) bool { return reflect.DeepEqual(j.CPUs, []int{5}) }},
		{"cpu 1023", func(j Job) bool { return reflect.DeepEqual(j.CPUs, []int{1023}) }},
		{"cpu 63", func(j Job) bool { return reflect.DeepEqual(j.CPUs, []int{63}) }},
		{"nice 19", func(j Job) bool { return j.Nice == 19 }},
		{"order -100", func(j Job) bool { return j.Order == -100 }},
		{"env X=a=b:c?&", func(j Job) bool { return j.Env[0] == "X=a=b:c?&" }},
		{"ulimit -c 0", func(j Job) bool { return j.Ulimits[0].Value == 0 && !j.Ulimits[0].Infinite }},
		{"ulimit -v 9223372036854775807", func(j Job) bool { return j.Ulimits[0].Value == 1<<63-1 }},
		{"out syslog", func(j Job) bool { return j.Out == "syslog" }},
		{"user " + strings.Repeat("u", 99), func(j Job) bool { return len(j.User) == 99 }},
		{"user a\nuser b", func(j Job) bool { return j.User == "b" }},
		{"disable\ndisable", func(j Job) bool { return j.Disabled }},
	}
	for _, tc := range cases {
		if j := oneJob(t, tc.body); !tc.check(j) {
			t.Errorf("%q: got %+v", tc.body, j)
		}
	}
}

func TestEveryUlimitFlag(t *testing.T) {
	for flag, res := range rlimitByFlag {
		val := "10"
		j := oneJob(t, "ulimit "+flag+" "+val)
		if j.Ulimits[0].Resource != res || j.Ulimits[0].Value != 10 {
			t.Errorf("%s: got %+v", flag, j.Ulimits[0])
		}
	}
}

func TestDependPaths(t *testing.T) {
	j := Job{Dir: "/home/t", Depends: []string{"/etc/a", "b.conf"}}
	if got := j.DependPaths("/cwd"); !reflect.DeepEqual(got, []string{"/etc/a", "/home/t/b.conf"}) {
		t.Errorf("with dir: %q", got)
	}
	j.Dir = ""
	if got := j.DependPaths("/cwd"); !reflect.DeepEqual(got, []string{"/etc/a", "/cwd/b.conf"}) {
		t.Errorf("without dir: %q", got)
	}
}
