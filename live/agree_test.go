package live

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"pmtr/sim"
)

// timedBuffer records when each log line was written.
type timedBuffer struct {
	mu    sync.Mutex
	start time.Time
	lines []timedLine
}

type timedLine struct {
	at   time.Duration
	text string
}

func (b *timedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		b.lines = append(b.lines, timedLine{time.Since(b.start), l})
	}
	return len(p), nil
}

var decisionRx = regexp.MustCompile(`(started job \S+ \[\d+\]|sending SIG\w+ to job \S+ \[\d+\]|job \S+ \[\d+\] exited after \d+ sec: .*)$`)

// decision strips pids and uptimes, which legitimately differ.
func decision(text string) string {
	m := decisionRx.FindString(text)
	m = regexp.MustCompile(` \[\d+\]`).ReplaceAllString(m, "")
	return regexp.MustCompile(`after \d+ sec`).ReplaceAllString(m, "after N sec")
}

// TestSimAndLiveAgree runs short scenarios both in virtual time and with
// real processes, and compares the decisions: starts, signals and exits,
// in order, with times within a tolerance.
func TestSimAndLiveAgree(t *testing.T) {
	cases := []struct {
		name, conf string
		plans      map[string]sim.JobPlan
		runFor     time.Duration
	}{
		{"bounce", "job {\nname b\ncmd /bin/sleep 60\nbounce every 1s\n}\n", nil, 2500 * time.Millisecond},
		{"exit33-once-crash", `job {
name x
cmd /bin/sh -c "sleep 0.3; exit 33"
}
job {
name o
cmd /bin/sh -c "sleep 0.5; exit 1"
once
}
job {
name k
cmd /bin/sh -c "sleep 0.7; kill -9 $$"
}
`, map[string]sim.JobPlan{
			"x": {Runs: []sim.RunPlan{{For: sim.Lifetime(300 * time.Millisecond), Exit: 33}}},
			"o": {Runs: []sim.RunPlan{{For: sim.Lifetime(500 * time.Millisecond), Exit: 1}}},
			"k": {Runs: []sim.RunPlan{{For: sim.Lifetime(700 * time.Millisecond), Signal: 9}}},
		}, 1500 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := simDecisions(t, c.conf, c.plans, c.runFor)
			got := liveDecisions(t, c.conf, c.runFor)
			if len(want) < 3 {
				t.Fatalf("the scenario decides too little to compare: %v", want)
			}
			if len(got) != len(want) {
				t.Fatalf("live made %d decisions, sim %d\nlive: %v\nsim:  %v", len(got), len(want), got, want)
			}
			// Jobs start concurrently live, so decisions of different jobs
			// at one instant may come in either order; each job's own
			// decisions must match in order and time.
			gotJobs, wantJobs := perJob(got), perJob(want)
			for name, w := range wantJobs {
				g := gotJobs[name]
				if len(g) != len(w) {
					t.Fatalf("job %s: live made %d decisions, sim %d\nlive: %v\nsim:  %v", name, len(g), len(w), g, w)
				}
				for i := range w {
					// (5 ms apart at most on a quiet machine)
					if g[i].text != w[i].text || absDur(g[i].at-w[i].at) > 400*time.Millisecond {
						t.Fatalf("job %s decision %d: live %v %q, sim %v %q", name, i, g[i].at, g[i].text, w[i].at, w[i].text)
					}
				}
			}
		})
	}
}

var jobRx = regexp.MustCompile(`job (\S+)`)

func perJob(lines []timedLine) map[string][]timedLine {
	out := map[string][]timedLine{}
	for _, l := range lines {
		name := jobRx.FindStringSubmatch(l.text)[1]
		out[name] = append(out[name], l)
	}
	return out
}

func absDur(d time.Duration) time.Duration { return max(d, -d) }

func simDecisions(t *testing.T, conf string, plans map[string]sim.JobPlan, runFor time.Duration) []timedLine {
	s := &sim.Scenario{File: "agree", Name: "agree", Config: conf, RunFor: sim.Duration(runFor), Jobs: plans}
	res, err := sim.RunScenario(s, sim.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []timedLine
	for _, l := range res.Logs {
		stamp, text, _ := strings.Cut(l, " ")
		var sec, ms int64
		if _, err := fmtSscanf(stamp, &sec, &ms); err != nil {
			t.Fatal(err)
		}
		if d := decision(text); d != "" {
			out = append(out, timedLine{time.Duration(sec)*time.Second + time.Duration(ms)*time.Millisecond, d})
		}
	}
	return out
}

func liveDecisions(t *testing.T, conf string, runFor time.Duration) []timedLine {
	buf := &timedBuffer{start: time.Now()}
	r := startDaemonLog(t, conf, buf)
	time.Sleep(runFor) // the scenario's length, as sim runs it: not a wait for an event
	r.stop()
	var out []timedLine
	buf.mu.Lock()
	defer buf.mu.Unlock()
	for _, l := range buf.lines {
		if l.at > runFor {
			break // the shutdown's own decisions are not in the scenario
		}
		if d := decision(l.text); d != "" {
			out = append(out, timedLine{l.at, d})
		}
	}
	return out
}
