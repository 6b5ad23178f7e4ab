package confgrammar

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPolicyOptions(t *testing.T) {
	j := oneJob(t, `restart on-failure
success 3 0 3
backoff 500ms max 5m
stable 30s
give-up 5 in 1m retry 10m
stop signal QUIT
stop timeout 2s
critical`)
	want := Job{Name: "j", Cmd: []string{"/bin/true"}, Restart: RestartOnFailure, Success: []int{0, 3},
		Backoff: Backoff{500 * time.Millisecond, 5 * time.Minute}, Stable: 30 * time.Second,
		GiveUp: GiveUp{Runs: 5, Window: time.Minute, Retry: 10 * time.Minute}, StopSignal: 3,
		StopTimeout: 2 * time.Second, Critical: true}
	if !reflect.DeepEqual(definition(j), want) {
		t.Errorf("got  %+v\nwant %+v", j, want)
	}
}

func TestPolicyValues(t *testing.T) {
	for _, c := range []struct {
		body string
		want func(j Job) bool
	}{
		{"restart never", func(j Job) bool { return j.Restart == RestartNever }},
		{"restart always", func(j Job) bool { return j.Restart == RestartAlways }},
		{"stop signal SIGINT", func(j Job) bool { return j.StopSignal == 2 }},
		{"stop signal sigusr1", func(j Job) bool { return j.StopSignal == 10 }},
		{"stop signal 34", func(j Job) bool { return j.StopSignal == 34 }},
		{"stop signal KILL", func(j Job) bool { return j.StopSignal == 9 }},
		{"give-up 1 in 1d retry never", func(j Job) bool { return j.GiveUp == GiveUp{1, 24 * time.Hour, 0} }},
		{"backoff 1s max 1s", func(j Job) bool { return j.Backoff == Backoff{time.Second, time.Second} }},
		{"stable 1h", func(j Job) bool { return j.Stable == time.Hour }},
		{"success 255", func(j Job) bool { return reflect.DeepEqual(j.Success, []int{255}) }},
	} {
		if j := oneJob(t, c.body); !c.want(j) {
			t.Errorf("%s: got %+v", c.body, j)
		}
	}
}

// TestPolicyFormatRoundTrip: Format writes every policy option so that it
// parses back to the same job.
func TestPolicyFormatRoundTrip(t *testing.T) {
	src := "job {\nname a\ncmd /a\nrestart never\nsuccess 0 1\nbackoff 1500ms max 1h\nstable 2m\ngive-up 3 in 90s retry never\nstop signal 40\nstop timeout 1d\ncritical\n}\n"
	c := mustParse(t, src)
	out := Format(c)
	c2 := mustParse(t, out)
	if !reflect.DeepEqual(definitions(c.Jobs), definitions(c2.Jobs)) {
		t.Fatalf("round trip changed the job:\n%s\n%+v\n%+v", out, c.Jobs[0], c2.Jobs[0])
	}
	for _, want := range []string{"backoff 1500ms max 1h", "give-up 3 in 90s retry never", "stop signal 40", "stop timeout 1d", "critical"} {
		if !strings.Contains(out, want) {
			t.Errorf("Format output lacks %q:\n%s", want, out)
		}
	}
}

func TestPolicyErrors(t *testing.T) {
	job := func(lines string) string { return "job {\nname a\ncmd /a\n" + lines + "\n}" }
	cases := map[string]string{
		"backoff 0s max 1m":              `4:9: backoff delay "0s" must be at least 1ms`,
		"backoff 1m max 1s":              `4:16: backoff cap 1s is below the first delay 1m (write a cap of at least 1m)`,
		"backoff 1s":                     `4:1: backoff needs its cap: write backoff FIRST max MAX, e.g. backoff 1s max 5m`,
		"backoff 1s upto 5m":             `4:12: backoff needs its cap: write backoff FIRST max MAX, e.g. backoff 1s max 5m`,
		"backoff 1x max 5m":              `4:9: invalid time unit in backoff delay "1x" (use ms, s, m, h or d, e.g. 500ms)`,
		"backoff 10 max 5m":              `4:9: backoff delay "10" has no unit (add ms, s, m, h or d, e.g. 500ms)`,
		"give-up 0 in 1m retry 1m":       `4:9: give-up 0 would give up before the first run (write at least 1, e.g. give-up 5 in 1m retry 10m)`,
		"give-up 5":                      `4:1: give-up needs a window and a retry: write give-up N in WINDOW retry AFTER (or retry never), e.g. give-up 5 in 1m retry 10m`,
		"give-up 5 in 1m":                `4:11: give-up needs a window and a retry: write give-up N in WINDOW retry AFTER (or retry never), e.g. give-up 5 in 1m retry 10m`,
		"give-up x in 1m retry 1m":       `4:9: non-numeric give-up count value "x" (write a whole number)`,
		"give-up 5 in 1m retry soon":     `4:23: invalid time unit in retry delay "soon" (use ms, s, m, h or d, e.g. 500ms)`,
		"stop signal SIGWHATEVER":        `4:13: unknown signal "SIGWHATEVER" (write a name as kill -l lists it, e.g. SIGQUIT, or a number)`,
		"stop signal SIGQIT":             `4:13: unknown signal "SIGQIT" (did you mean "SIGQUIT"?) (write a name as kill -l lists it, e.g. SIGQUIT, or a number)`,
		"stop signal 65":                 `4:13: signal 65 out of range 1 to 64`,
		"stop signal STOP":               `4:13: SIGSTOP only pauses a job, it never ends it (use SIGTERM, SIGINT, SIGQUIT...)`,
		"stop signal":                    `4:1: missing value after stop signal (write e.g. stop signal SIGQUIT)`,
		"stop signal TERM INT":           `4:18: stop signal takes one value, found "INT" after it (write e.g. stop signal SIGQUIT)`,
		"stop after 5s":                  `4:1: stop must be followed by signal or timeout (write: stop signal SIGQUIT, or stop timeout 30s)`,
		"stop timeout 0s":                `4:14: stop timeout "0s" must be at least 1ms`,
		"stable 99999999d":               `4:8: stable time "99999999d" is too long (at most 100 years)`,
		"restart sometimes":              `4:9: unknown restart mode "sometimes" (write always, on-failure or never)`,
		"restart on-falure":              `4:9: unknown restart mode "on-falure" (did you mean "on-failure"?) (write always, on-failure or never)`,
		"success":                        `4:1: missing exit codes after success (write e.g. success 0 3)`,
		"success 0 256":                  `4:11: exit code 256 out of range 0 to 255`,
		"critical yes":                   `4:10: critical takes no value (write it alone on its line)`,
		"stable \"30s\"":                 `4:8: the value of stable cannot be quoted (only cmd arguments may be quoted)`,
		"stable 1s\nstable 2s":           `5:1: stable respecified (first set at line 4; each job may set stable only once)`,
		"stop signal INT\nstop signal 3": `5:1: stop signal respecified (first set at line 4; each job may set stop signal only once)`,
		"once\nrestart on-failure":       `5:1: once and restart on-failure contradict each other (once means restart never; keep one)`,
		"nice 1\nstabel 1s":              `5:1: unknown option "stabel" in job block (did you mean "stable"?)`,
	}
	for lines, want := range cases {
		_, err := Parse("t.conf", []byte(job(lines)))
		if err == nil || err.Error() != "t.conf:"+want {
			t.Errorf("%q:\n got %v\nwant t.conf:%s", lines, err, want)
		}
	}
}

func TestPolicyWarnings(t *testing.T) {
	cases := map[string]string{
		"once\nbackoff 1s max 1m":                              `5:1: warning: job a never restarts (once or restart never), so backoff never applies`,
		"critical\nrestart on-failure":                         `5:1: warning: job a is critical without give-up: its first exit ends pmtr, so restart never applies (add give-up to retry it first)`,
		"ready tcp 127.0.0.1:80\nready timeout 1m\nstable 30s": `6:1: warning: job a: stable 30s is shorter than its ready timeout 1m: a run that never became ready still counts as stable (and resets the backoff) once it has lived 30s (make stable at least the ready timeout)`,
		"ready tcp 127.0.0.1:80\nstable 90s":                   ``,
		"success 0 3":                                          `4:1: warning: job a: success codes count only with restart on-failure (add it, or remove success)`,
		"backoff 1m max 1h\ngive-up 5 in 1m retry never":       `5:1: warning: job a: 5 failed runs take at least 13m30s with backoff 1m max 1h, longer than the give-up window 1m: it never gives up`,
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
	c := mustParse(t, "job {\nname a\ncmd /a\ncritical\ngive-up 3 in 1m retry never\nbackoff 1s max 10s\n}")
	if len(c.Warnings) != 0 {
		t.Errorf("critical with give-up: warnings %v", c.Warnings)
	}
}

// TestPolicyKeywordsStartLines: the new options are keywords only at the
// start of a line, as every option; elsewhere they are words of cmd.
func TestPolicyKeywordsStartLines(t *testing.T) {
	j := oneJob(t, "")
	c := mustParse(t, "job {\nname a\ncmd /bin/echo stop restart critical\n}")
	if got := c.Jobs[0].Cmd; !reflect.DeepEqual(got, []string{"/bin/echo", "stop", "restart", "critical"}) || j.Critical {
		t.Errorf("cmd %q", got)
	}
}

func TestSignalName(t *testing.T) {
	for n, want := range map[int]string{3: "SIGQUIT", 6: "SIGABRT", 29: "SIGIO", 15: "SIGTERM", 40: "40"} {
		if got := SignalName(n); got != want {
			t.Errorf("SignalName(%d) = %q, want %q", n, got, want)
		}
	}
}
