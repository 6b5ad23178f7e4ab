package main

import (
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkUpgrade1000: pmtr upgrade of a daemon with 1000 running jobs
// to the same binary. It reports how long the jobs went unsupervised (from
// the state's writing, through the exec, to the new pmtr handling inputs:
// the new pmtr logs it), the state's bytes per job, and the whole
// command's time (the check of the binary, the pauses, the handover). The
// issue's bounds: at most 200 ms unsupervised, at most 1 kB a job.
func BenchmarkUpgrade1000(b *testing.B) {
	const jobs = 1000
	d := startBenchDaemon(b, jobs, "")
	conf := d.cmd.Args[slices.Index(d.cmd.Args, "-c")+1]
	d.waitCount(b, regexp.MustCompile(`started job j\d+ \[`), jobs, 2*time.Minute)
	gapRx := regexp.MustCompile(`unsupervised for (\S+) `)
	stateRx := regexp.MustCompile(`state of (\d+) bytes, (\d+) a job`)
	var gaps, cmds []time.Duration
	perJob := 0
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if out, err := pmtrCmd(b, "upgrade", "-c", conf).CombinedOutput(); err != nil {
			b.Fatalf("upgrade: %v\n%s", err, out)
		}
		cmds = append(cmds, time.Since(start))
		d.waitCount(b, gapRx, i+1, time.Minute)
		d.mu.Lock()
		for _, l := range d.lines {
			if m := gapRx.FindStringSubmatch(l.text); m != nil {
				gap, _ := time.ParseDuration(m[1])
				gaps = append(gaps[:i], gap)
			}
			if m := stateRx.FindStringSubmatch(l.text); m != nil {
				perJob, _ = strconv.Atoi(m[2])
			}
		}
		d.mu.Unlock()
	}
	b.StopTimer()
	slices.Sort(gaps)
	slices.Sort(cmds)
	b.ReportMetric(float64(gaps[len(gaps)/2].Microseconds())/1000, "ms-unsupervised(p50)")
	b.ReportMetric(float64(gaps[len(gaps)-1].Microseconds())/1000, "ms-unsupervised(max)")
	b.ReportMetric(float64(cmds[len(cmds)/2].Microseconds())/1000, "ms-command(p50)")
	b.ReportMetric(float64(perJob), "B-state/job")
}
