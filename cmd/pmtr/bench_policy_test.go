package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pmtr/procfs"
)

// BenchmarkBackoffCrashLoop: 300 jobs in a crash loop (each exits 1 0.1 s
// after it starts) with backoff 1s max 1m, for 195 s. Lateness of every
// restart: the job's first instruction against its planned time (its last
// instruction in the run before, plus the wait pmtr logged); target p99
// under 50 ms. pmtr's CPU once the waits are at their cap (from 75 s on,
// where each job restarts about every minute); target <= 2% of one core.
func BenchmarkBackoffCrashLoop(b *testing.B) {
	const jobs, capAt, end = 300, 75 * time.Second, 195 * time.Second
	for b.Loop() {
		dir := b.TempDir()
		prog := stampProgram(b, dir)
		var conf strings.Builder
		for i := range jobs {
			fmt.Fprintf(&conf, "job {\nname q%d\ncmd %s %s/q%d.log\nbackoff 1s max 1m\n}\n", i, prog, dir, i)
		}
		path := filepath.Join(dir, "pmtr.conf")
		os.WriteFile(path, []byte(conf.String()), 0o644)
		d := pmtrCmd(b, "-F", "-c", path)
		log := &syncBuf{}
		d.Stderr = log
		if err := d.Start(); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		time.Sleep(capAt)
		ticks := procfs.CPUTicks(d.Process.Pid)
		time.Sleep(end - capAt)
		share := float64(procfs.CPUTicks(d.Process.Pid)-ticks) * 10e6 / float64(time.Since(start.Add(capAt)).Nanoseconds())
		d.Process.Signal(syscall.SIGTERM)
		d.Wait()
		waits := loggedWaits(b, log.String())
		var late, first, later []time.Duration
		for i := range jobs {
			name := fmt.Sprintf("q%d", i)
			for k, l := range lateness(b, filepath.Join(dir, name+".log"), waits[name]) {
				late = append(late, l)
				if k < 3 { // the restarts after 1 s, 2 s and 4 s: 300 starts within 0.2 to 0.8 s
					first = append(first, l)
				} else {
					later = append(later, l)
				}
			}
		}
		if len(late) < 6*jobs {
			b.Fatalf("only %d restarts of %d jobs", len(late), jobs)
		}
		b.ReportMetric(percentile(late, 50), "ms-late-p50")
		b.ReportMetric(percentile(late, 99), "ms-late-p99")
		b.ReportMetric(percentile(first, 99), "ms-late-p99-runs1-3")
		b.ReportMetric(percentile(later, 99), "ms-late-p99-runs4+")
		b.ReportMetric(float64(late[len(late)-1].Microseconds())/1000, "ms-late-max")
		b.ReportMetric(float64(len(late)), "restarts")
		b.ReportMetric(share*100, "%core-at-cap")
	}
}

var waitRx = regexp.MustCompile(`job (q\d+): failed run (\d+) in a row; next start in (\S+) \(backoff`)

// loggedWaits reads, per job, the wait pmtr chose after each failed run.
func loggedWaits(b *testing.B, log string) map[string][]time.Duration {
	out := map[string][]time.Duration{}
	for _, m := range waitRx.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[2])
		d, err := time.ParseDuration(m[3])
		if err != nil || n != len(out[m[1]])+1 {
			b.Fatalf("unexpected wait line %q (%v)", m[0], err)
		}
		out[m[1]] = append(out[m[1]], d)
	}
	return out
}

// lateness: for each restart k of a job, its start stamp minus (the end
// stamp of run k-1 plus the k-th logged wait). The end stamp is written
// just before the exit, so the figure includes the time to reap it.
func lateness(b *testing.B, path string, waits []time.Duration) []time.Duration {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var out []time.Duration
	var end float64
	k := 0
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		kind, stamp, _ := strings.Cut(l, " ")
		t, err := strconv.ParseFloat(stamp, 64)
		if err != nil {
			continue
		}
		switch {
		case kind == "s" && end > 0 && k < len(waits):
			out = append(out, time.Duration((t-end)*1e9)-waits[k])
			k++
		case kind == "e":
			end = t
		}
	}
	return out
}
