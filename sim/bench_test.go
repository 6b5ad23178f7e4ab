package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkSim24hHundredJobs: a 24-hour scenario with 100 jobs crashing at
// random intervals. Target: under 1 s of wall time per run.
func BenchmarkSim24hHundredJobs(b *testing.B) {
	var conf strings.Builder
	plans := map[string]JobPlan{}
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("job%03d", i)
		fmt.Fprintf(&conf, "job {\nname %s\ncmd /usr/bin/worker %d\n}\n", name, i)
		plans[name] = JobPlan{Runs: []RunPlan{{ForRandom: []Duration{Duration(time.Second), Duration(10 * time.Minute)}, Exit: 1}}}
	}
	s := &Scenario{File: "bench", Name: "24h", Config: conf.String(), RunFor: Duration(24 * time.Hour), Seed: 1, Jobs: plans}
	events := 0
	for b.Loop() {
		res, err := RunScenario(s, RunOptions{})
		if err != nil {
			b.Fatal(err)
		}
		events = len(res.World.Journal())
	}
	b.ReportMetric(float64(events), "core-calls/run")
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "core-calls/s")
}
