package confgrammar

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReadinessOptions(t *testing.T) {
	c := mustParse(t, `job {
name db
cmd /usr/bin/db
ready tcp 127.0.0.1:5432
ready timeout 90s
check tcp [::1]:5432 every 10s timeout 2s fails 3
}
job {
name web
cmd /usr/bin/web
after db
after cache db
ready http https://127.0.0.1:8443/healthz
check exec /usr/bin/probe "every" -q timeout 500ms
on-check-fail shutdown
watchdog 30s
}
job {
name cache
cmd /usr/bin/cache
ready notify
}
job {
name legacy
cmd /usr/bin/legacy
ready fd 3
check file /run/legacy.sock
}
job {
name pg
cmd /usr/bin/pg
ready exec /usr/bin/pg_isready -q timeout 3
}`)
	want := map[string]Job{
		"db": {Ready: Probe{Kind: ProbeTCP, Target: "127.0.0.1:5432"}, ReadyTimeout: 90 * time.Second,
			Check: Check{Probe: Probe{Kind: ProbeTCP, Target: "[::1]:5432"}, Every: 10 * time.Second, Timeout: 2 * time.Second, Fails: 3}},
		"web": {Ready: Probe{Kind: ProbeHTTP, Target: "https://127.0.0.1:8443/healthz"}, After: []string{"db", "cache"},
			Check:       Check{Probe: Probe{Kind: ProbeExec, Argv: []string{"/usr/bin/probe", "every", "-q"}}, Timeout: 500 * time.Millisecond},
			OnCheckFail: CheckShutdown, Watchdog: 30 * time.Second},
		"cache":  {Ready: Probe{Kind: ProbeNotify}},
		"legacy": {Ready: Probe{Kind: ProbeFD, FD: 3}, Check: Check{Probe: Probe{Kind: ProbeFile, Target: "/run/legacy.sock"}}},
		"pg":     {Ready: Probe{Kind: ProbeExec, Argv: []string{"/usr/bin/pg_isready", "-q", "timeout", "3"}}},
	}
	for _, j := range c.Jobs {
		w := want[j.Name]
		got := Job{Ready: j.Ready, ReadyTimeout: j.ReadyTimeout, After: j.After, Check: j.Check, OnCheckFail: j.OnCheckFail, Watchdog: j.Watchdog}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("job %s:\n got %+v\nwant %+v", j.Name, got, w)
		}
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %v", c.Warnings)
	}
}

func TestReadinessDefaults(t *testing.T) {
	j := oneJob(t, "check tcp h:1")
	if j.ReadyTimeoutOf() != 60*time.Second || j.Check.EveryOf() != 10*time.Second || j.Check.TimeoutOf() != time.Second || j.Check.FailsOf() != 3 {
		t.Errorf("defaults: %v %v %v %v", j.ReadyTimeoutOf(), j.Check.EveryOf(), j.Check.TimeoutOf(), j.Check.FailsOf())
	}
	if j.OnCheckFail != CheckRestart || j.UsesNotify() {
		t.Errorf("on-check-fail %v, notify %v", j.OnCheckFail, j.UsesNotify())
	}
	uses := func(body string) bool { j := oneJob(t, body); return j.UsesNotify() }
	if !uses("watchdog 1s") || !uses("ready notify") || uses("ready fd 3") {
		t.Error("UsesNotify: only ready notify and watchdog")
	}
}

// TestReadinessErrors: every bad value gets a positioned error with a
// hint, never a panic.
func TestReadinessErrors(t *testing.T) {
	job := func(lines string) string { return "job {\nname a\ncmd /a\n" + lines + "\n}" }
	cases := map[string]string{
		"ready tcp nohost":                `4:11: tcp target "nohost" needs a port: HOST:PORT (write e.g. ready tcp 127.0.0.1:5432)`,
		"ready tcp :80":                   `4:11: tcp target ":80" has no host (write e.g. ready tcp 127.0.0.1:5432)`,
		"ready tcp h:99999":               `4:11: port "99999" in tcp target "h:99999" out of range 1 to 65535 (write e.g. ready tcp 127.0.0.1:5432)`,
		"ready tcp ::1:80":                `4:11: tcp target "::1:80": write an IPv6 address in brackets, [::1]:PORT (write e.g. ready tcp 127.0.0.1:5432)`,
		"check http ftp://x":              `4:12: an http probe needs an http:// or https:// URL, found "ftp://x" (write e.g. check http http://127.0.0.1:8080/healthz)`,
		"check http http:///x":            `4:12: URL "http:///x" has no host (write e.g. check http http://127.0.0.1:8080/healthz)`,
		"check tcp h:1 every 0s":          `4:21: check interval "0s" must be at least 100ms (write e.g. every 10s)`,
		"check tcp h:1 every 10":          `4:21: check interval "10" has no unit (add ms, s, m, h or d, e.g. 500ms) (write e.g. every 10s)`,
		"check tcp h:1 fails 0":           `4:21: fails 0 would act before any check failed (write at least 1, e.g. fails 3)`,
		"check tcp h:1 fails 1001":        `4:21: fails 1001 out of range 1 to 1000`,
		"check tcp h:1 every 1s every 2s": `4:24: every given twice in one check`,
		"check tcp h:1 often":             `4:15: unexpected "often" in check (after the probe come every, timeout and fails, e.g. check tcp 127.0.0.1:5432 every 10s timeout 2s fails 3)`,
		"check tcp h:1 timeout":           `4:15: missing value after timeout (write e.g. check tcp 127.0.0.1:5432 every 10s timeout 2s fails 3)`,
		"check notify":                    `4:7: check notify: notify and fd say when a job is ready; to check its health with sd_notify, use watchdog 30s (or check tcp, http, exec or file)`,
		"check":                           `4:1: missing probe after check (write e.g. check tcp 127.0.0.1:5432 every 10s timeout 2s fails 3)`,
		"check exec":                      `4:1: missing program after check exec (write e.g. check exec /usr/bin/pg_isready -q)`,
		"check exec \"/bin/x\"":           `4:12: the program of check exec cannot be quoted (write it bare; only its arguments may be quoted)`,
		"ready":                           `4:1: missing condition after ready (write e.g. ready tcp 127.0.0.1:5432, ready http URL, ready exec PROGRAM, ready file PATH, ready notify or ready fd 3)`,
		"ready htp x":                     `4:7: unknown ready kind "htp" (did you mean "http"?) (write one of tcp, http, exec, file, notify, fd)`,
		"ready file run/x":                `4:12: file path "run/x" is not absolute (write e.g. ready file /run/app.sock)`,
		"ready fd 1":                      `4:10: fd 1 is the job's standard output; use 3 or more (write e.g. ready fd 3)`,
		"ready fd x":                      `4:10: non-numeric descriptor value "x" (write a whole number) (write e.g. ready fd 3)`,
		"ready fd":                        `4:7: missing descriptor number after ready fd (write e.g. ready fd 3)`,
		"ready notify now":                `4:14: unexpected "now" after ready notify (write one condition per ready line)`,
		"ready notify\nready fd 3":        `5:1: ready respecified (first set at line 4; each job may set ready only once)`,
		"ready timeout 50ms":              `4:15: ready timeout "50ms" must be at least 100ms (write e.g. ready timeout 60s)`,
		"ready timeout":                   `4:1: missing value after ready timeout (write e.g. ready timeout 60s)`,
		"on-check-fail reboot":            `4:15: unknown on-check-fail action "reboot" (write restart, stop, shutdown or ignore)`,
		"on-check-fail stp":               `4:15: unknown on-check-fail action "stp" (did you mean "stop"?) (write restart, stop, shutdown or ignore)`,
		"watchdog 0s":                     `4:10: watchdog "0s" must be at least 100ms (write e.g. watchdog 30s)`,
		"watchdog":                        `4:1: missing value after watchdog (write e.g. watchdog 30s)`,
		"after":                           `4:1: missing job names after after (write e.g. after db cache)`,
		"after a":                         `4:7: job a is after itself (remove a from its after line)`,
		"after b":                         `4:7: unknown job "b" in after (after names jobs of this file)`,
	}
	for lines, want := range cases {
		_, err := Parse("t.conf", []byte(job(lines)))
		if err == nil || err.Error() != "t.conf:"+want {
			t.Errorf("%q:\n got %v\nwant t.conf:%s", lines, err, want)
		}
	}
}

func TestAfterErrors(t *testing.T) {
	cases := map[string]string{
		"job {\nname db\ncmd /a\n}\njob {\nname web\ncmd /b\nafter dv\n}": `8:7: unknown job "dv" in after (did you mean "db"?) (after names jobs of this file)`,
		"job {\nname a\ncmd /a\nafter b\n}\njob {\nname b\ncmd /b\nafter c\n}\njob {\nname c\ncmd /c\nafter x a\n}": `14:9: after makes a cycle: a -> b -> c -> a (each would wait for the other to be ready; remove one of these after names)` +
			"\n" + `t.conf:14:7: unknown job "x" in after (after names jobs of this file)`,
		"job {\nname a\ncmd /a\nafter b\n}\njob {\nname b\ncmd /b\nafter c\n}\njob {\nname c\ncmd /c\nafter a\n}": `14:7: after makes a cycle: a -> b -> c -> a (each would wait for the other to be ready; remove one of these after names)`,
		"job {\nname a\ncmd /a\nafter b\n}\njob {\nname b\ncmd /b\nafter a\norder -1\n}":                          `9:7: after makes a cycle: a -> b -> a (each would wait for the other to be ready; remove one of these after names)`,
	}
	for src, want := range cases {
		_, err := Parse("t.conf", []byte(src))
		// A cycle is looked for only once every name is known.
		if strings.Contains(want, "\n") {
			want = want[strings.Index(want, "\n")+len("\nt.conf:"):]
		}
		if err == nil || err.Error() != "t.conf:"+want {
			t.Errorf("%q:\n got %v\nwant t.conf:%s", src, err, want)
		}
	}
}

func TestReadinessWarnings(t *testing.T) {
	cases := map[string]string{
		"ready timeout 5s":                  `4:1: warning: job a has no ready condition, so ready timeout never applies (add e.g. ready tcp 127.0.0.1:8080)`,
		"on-check-fail stop":                `4:1: warning: job a has no check and no watchdog, so on-check-fail never applies`,
		"check tcp h:1 every 1s":            `4:1: warning: job a: check timeout 1s is not shorter than its interval 1s: a check still running at its next time is skipped`,
		"check tcp h:1 timeout 1m":          `4:1: warning: job a: check timeout 1m is not shorter than its interval 10s: a check still running at its next time is skipped`,
		"watchdog 5s\non-check-fail ignore": "",
	}
	for lines, want := range cases {
		c, err := Parse("t.conf", []byte("job {\nname a\ncmd /a\n"+lines+"\n}"))
		if err != nil {
			t.Fatalf("%q: %v", lines, err)
		}
		if want == "" && len(c.Warnings) == 0 {
			continue
		}
		if len(c.Warnings) != 1 || c.Warnings[0].String() != "t.conf:"+want {
			t.Errorf("%q: warnings %v, want t.conf:%s", lines, c.Warnings, want)
		}
	}
	c := mustParse(t, "job {\nname db\ncmd /a\ndisable\n}\njob {\nname web\ncmd /b\nafter db\n}")
	want := "t.conf:9:7: warning: job web is after db, which is disabled: web does not start until db is enabled"
	if len(c.Warnings) != 1 || c.Warnings[0].String() != want {
		t.Errorf("warnings %v, want %s", c.Warnings, want)
	}
}

// TestReadinessFormatRoundTrip: Format writes every readiness option so
// that it parses back to the same jobs; an exec argument that reads as a
// check option is quoted.
func TestReadinessFormatRoundTrip(t *testing.T) {
	src := `job {
name db
cmd /db
ready exec /usr/bin/pg_isready "a b" every
ready timeout 1500ms
check exec /usr/bin/probe "fails" "timeout" every 2s timeout 1s fails 2
on-check-fail ignore
watchdog 1m
}
job {
name web
cmd /web
after db
ready fd 4
check http http://[::1]:80/h?x=1
}`
	c := mustParse(t, src)
	out := Format(c)
	c2 := mustParse(t, out)
	if !reflect.DeepEqual(definitions(c.Jobs), definitions(c2.Jobs)) {
		t.Fatalf("round trip changed the jobs:\n%s\n%+v\n%+v", out, c.Jobs, c2.Jobs)
	}
	for _, want := range []string{`ready exec /usr/bin/pg_isready "a b" "every"`, "ready timeout 1500ms",
		`check exec /usr/bin/probe "fails" "timeout" every 2s timeout 1s fails 2`, "on-check-fail ignore", "watchdog 1m",
		"after db", "ready fd 4", "check http http://[::1]:80/h?x=1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("Format output lacks %q:\n%s", want, out)
		}
	}
}

// TestReadinessKeywordsStartLines: the new options are keywords only at
// the start of a line.
func TestReadinessKeywordsStartLines(t *testing.T) {
	c := mustParse(t, "job {\nname a\ncmd /bin/echo ready after check watchdog on-check-fail\n}")
	if got := c.Jobs[0].Cmd; len(got) != 6 || c.Jobs[0].Ready.Kind != NoProbe {
		t.Errorf("cmd %q", got)
	}
}
