package sim

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pmtr/core"
)

var update = flag.Bool("update", false, "rewrite the scenarios' golden transcripts")

// TestScenarios runs every scenario file: its expectations must hold, and
// its whole transcript (every event the core saw, every effect it asked
// for, log lines included) and summary must equal the golden file beside it
// (go test ./sim -update rewrites them; review the diff).
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("../scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseScenario(file, src)
			if err != nil {
				t.Fatal(err)
			}
			res, err := RunScenario(s, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range res.Failures {
				t.Error(f)
			}
			var got bytes.Buffer
			got.WriteString(res.World.Transcript() + "\n-- summary\n")
			WriteSummary(&got, res.Jobs)
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				os.WriteFile(golden, got.Bytes(), 0o644)
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./sim -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("transcript differs from %s (go test ./sim -update rewrites it):\n%s", golden, got.String())
			}
		})
	}
}

func TestScenarioErrorsNameFileAndLine(t *testing.T) {
	cases := map[string]string{
		"name: x\nrun_for: 10s\nbogus: 1\n":                                    `s.yaml:3: unknown key "bogus" (known keys here: name,`,
		"name: x\njob: {}\n":                                                   `s.yaml:2: unknown key "job" (did you mean "jobs"?)`,
		"name: x\nrun_for: ten seconds\n":                                      "s.yaml:2: bad duration",
		"name: x\njobs:\n  a:\n    runs:\n      - {for: 0s}\n":                 "s.yaml:5: for: 0s: a run must last more than 0 (write for: forever",
		"name: x\nevents:\n  - at: 1s\n    sighup: true\n    shutdown: true\n": "s.yaml:3: an event needs exactly one",
		"name: x\nexpect:\n  - running: a\n":                                   "s.yaml:3: running and stopped need at",
		"name: x\nexpect:\n  - log: '('\n":                                     "s.yaml:3: bad pattern",
	}
	for src, want := range cases {
		_, err := ParseScenario("s.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", src, err, want)
		}
	}
}

func TestSameSeedSameRun(t *testing.T) {
	src, _ := os.ReadFile("../scenarios/crash-loop-many-jobs.yaml")
	run := func(seed uint64) string {
		s, err := ParseScenario("c.yaml", src)
		if err != nil {
			t.Fatal(err)
		}
		res, err := RunScenario(s, RunOptions{Seed: &seed})
		if err != nil {
			t.Fatal(err)
		}
		return res.World.Transcript()
	}
	if run(3) != run(3) {
		t.Fatal("the same seed gave different transcripts")
	}
	if run(3) == run(4) {
		t.Fatal("different seeds gave the same random run")
	}
}

func TestScenarioUnknownJobNames(t *testing.T) {
	for src, want := range map[string]string{
		"name: x\nconfig: \"job {\\nname a\\ncmd /a\\n}\\n\"\njobs:\n  b: {runs: [{for: 1s}]}\n":          `s.yaml: jobs: no job named "b"`,
		"name: x\nconfig: \"job {\\nname a\\ncmd /a\\n}\\n\"\nevents:\n  - at: 1s\n    crash: {job: c}\n": `s.yaml:4: crash: no job named "c"`,
	} {
		s, err := ParseScenario("s.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := RunScenario(s, RunOptions{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to contain %q", err, want)
		}
	}
}

// TestTimelineGolden: the terminal timeline and the SVG of a scenario with
// edits, control messages and restarts, with axis, marks and legend; and
// of one with readiness and failing checks (their marks and legend).
func TestTimelineGolden(t *testing.T) {
	timelineGolden(t, "control-enable-disable", "testdata/timeline")
	timelineGolden(t, "check-restart", "testdata/timeline-ready")
}

func timelineGolden(t *testing.T, scenario, golden string) {
	src, err := os.ReadFile("../scenarios/" + scenario + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseScenario(scenario+".yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		golden  string
		samples int
		write   func(w *bytes.Buffer, r *Result)
	}{
		{golden + ".golden", 100, func(w *bytes.Buffer, r *Result) { WriteTimeline(w, r.Timeline) }},
		{golden + ".svg.golden", 800, func(w *bytes.Buffer, r *Result) { WriteSVG(w, s.Name, r.Timeline) }},
	} {
		res, err := RunScenario(s, RunOptions{Samples: c.samples})
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		c.write(&got, res)
		if *update {
			os.MkdirAll("testdata", 0o755)
			os.WriteFile(c.golden, got.Bytes(), 0o644)
			continue
		}
		want, err := os.ReadFile(c.golden)
		if err != nil || !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%s differs (go test ./sim -update rewrites it):\n%s", c.golden, got.String())
		}
	}
}

// TestScenarioWithoutConfigAndWaitWarning: a scenario with no config is an
// error; a wait job without behaviour is warned about.
func TestScenarioWithoutConfigAndWaitWarning(t *testing.T) {
	s, err := ParseScenario("n.yaml", []byte("name: x\nrun_for: 10s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RunScenario(s, RunOptions{}); err == nil || !strings.Contains(err.Error(), "n.yaml: the scenario has no config") {
		t.Fatalf("no config: %v", err)
	}
	s, err = ParseScenario("w.yaml", []byte("name: x\nrun_for: 10s\nconfig: |\n  job {\n    name setup\n    cmd /bin/setup\n    wait\n  }\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunScenario(s, RunOptions{})
	if err != nil || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "w.yaml: warning: job setup has wait but no behaviour") {
		t.Fatalf("warnings: %v %v", res, err)
	}
}

// TestTimelineTellsGatedFromWaiting: a job held back behind a wait job is
// drawn apart from one waiting to restart (its own mark and colour, in
// the legend), and each event says which jobs it acted on (issue 27,
// item 9).
func TestTimelineTellsGatedFromWaiting(t *testing.T) {
	src, err := os.ReadFile("../scenarios/wait-gating.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseScenario("wait-gating.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	s.Events = append(s.Events, TimedEvent{At: 1e9, Control: "restart nosuch"})
	res, err := RunScenario(s, RunOptions{Samples: 100})
	if err != nil {
		t.Fatal(err)
	}
	var text, svg bytes.Buffer
	WriteTimeline(&text, res.Timeline)
	WriteSVG(&svg, s.Name, res.Timeline)
	if class(core.Gated) == class(core.Waiting) || !strings.Contains(text.String(), "|=") || !strings.Contains(text.String(), "= held back (gated or held)") {
		t.Errorf("gated jobs are not drawn apart:\n%s", text.String())
	}
	if !strings.Contains(svg.String(), svgColor['=']) || !strings.Contains(svg.String(), "held back (gated or held)</text>") {
		t.Errorf("the picture has no colour for gated jobs:\n%s", svg.String())
	}
	if !strings.Contains(text.String(), "at: 1s C\n") {
		t.Errorf("an event that acted on no job is not listed alone:\n%s", text.String())
	}
}

// TestForForever: for: forever is a run that lasts until it is stopped.
func TestForForever(t *testing.T) {
	s, err := ParseScenario("f.yaml", []byte("name: x\njobs:\n  a:\n    runs:\n      - {for: forever}\n      - {for: 3s}\n"))
	if err != nil || s.Jobs["a"].Runs[0].For != 0 || s.Jobs["a"].Runs[1].For != Lifetime(3*time.Second) {
		t.Fatalf("%+v %v", s, err)
	}
}
