// Command bench measures pmtr side by side with the process supervisors
// people would use instead (supervisord, runit, s6), on this machine, in one
// run, and prints a Markdown table. make bench runs it; PEERS=1 installs the
// peers from Debian first. Every loop is bounded; only loopback is used.
//
//	go run ./bench [-peers] [-quick] [-pmtr bin/pmtr] [-pmtr-c PATH]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"pmtr/procfs"
)

type result map[string]string // metric -> value

// workDir holds every run's directory, so one RemoveAll at the end leaves
// nothing behind in the temporary directory.
var workDir string

var metrics = []string{
	"1000-job cold start (all running)",
	"memory (PSS), 10 jobs",
	"memory (PSS), 100 jobs",
	"memory (PSS), 1000 jobs",
	"idle wake-ups per minute (100 jobs)",
	"exit-to-restart p50 / p99 (job ran > 10 s)",
	"config save to start (median)",
	"crash loop, 50 jobs exiting after 0.2 s: spawns",
	"crash loop: supervisor CPU",
}

func main() {
	peers := flag.Bool("peers", false, "also measure supervisord, runit and s6 when installed")
	quick := flag.Bool("quick", false, "shorter idle and crash-loop windows")
	bin := flag.String("pmtr", "bin/pmtr", "the pmtr binary to measure")
	cbin := flag.String("pmtr-c", "", "also measure the C pmtr at this path (same config, same harness)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: run as root (runit and s6 need it; pmtr's numbers do not)")
	}
	sups := []supervisor{&pmtrSup{label: "pmtr", bin: *bin}}
	if *cbin != "" {
		sups = append(sups, &pmtrSup{label: "pmtr (C)", bin: *cbin})
	}
	if *peers {
		sups = append(sups, available()...)
	}
	window := map[bool]time.Duration{false: 20 * time.Second, true: 10 * time.Second}[*quick]
	var err error
	if workDir, err = os.MkdirTemp("", "pmtr-bench-"); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(workDir)
	var cols []string
	results := map[string]result{}
	for _, s := range sups {
		fmt.Fprintf(os.Stderr, "bench: measuring %s ...\n", s.name())
		results[s.name()] = measure(s, window)
		cols = append(cols, s.name())
	}
	printTable(cols, results, window)
}

// available returns the peers whose programs are installed.
func available() []supervisor {
	var out []supervisor
	need := map[string][]string{"supervisord": {"supervisord", "supervisorctl"}, "runit": {"runsvdir", "runsv"}, "s6": {"s6-svscan", "s6-svscanctl"}}
	for _, name := range []string{"supervisord", "runit", "s6"} {
		ok := true
		for _, p := range need[name] {
			if _, err := exec.LookPath(p); err != nil {
				ok = false
			}
		}
		switch {
		case !ok:
			fmt.Fprintf(os.Stderr, "bench: %s not installed (make bench PEERS=1 installs it)\n", name)
		case name == "supervisord":
			out = append(out, &supervisordSup{})
		default:
			out = append(out, &scanSup{kind: name})
		}
	}
	return out
}

func printTable(cols []string, results map[string]result, window time.Duration) {
	host, _ := os.Hostname()
	fmt.Printf("Measured %s on %s; crash loop and idle windows %v.\n\n", time.Now().UTC().Format("2006-01-02"), host, window)
	fmt.Printf("| metric | %s |\n|---|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
	for _, m := range metrics {
		row := []string{m}
		for _, c := range cols {
			v := results[c][m]
			if v == "" {
				v = "n/a"
			}
			row = append(row, v)
		}
		fmt.Printf("| %s |\n", strings.Join(row, " | "))
	}
}

// sleepers makes n jobs running /bin/sleep with markers base..base+n-1.
func sleepers(n, base int) []job {
	out := make([]job, n)
	for i := range out {
		out[i] = job{name: fmt.Sprintf("s%d", base+i), argv: []string{"/bin/sleep", fmt.Sprint(base + i)}}
	}
	return out
}

// run starts s on jobs in a fresh directory and waits until want markers
// in [lo, hi) run; it returns how long that took.
func run(s supervisor, jobs []job, lo, hi, want int) (time.Duration, error) {
	dir, err := os.MkdirTemp(workDir, "run-")
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := s.start(dir, jobs); err != nil {
		return 0, err
	}
	for countMarkers(lo, hi) < want {
		if time.Since(start) > 120*time.Second {
			return 0, fmt.Errorf("%s: only %d of %d jobs running after 120 s", s.name(), countMarkers(lo, hi), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start), nil
}

// settle: memory and idle wake-ups are measured from this long after every
// job runs. pmtr drops the pages of its binary that its start touched 1 s
// after its last burst of starts, 10 s after it starts at the latest
// (live/exepages): earlier its PSS counts them, and the drop itself is a
// few wake-ups of the start, not of an idle pmtr.
const settle = 12 * time.Second

func measure(s supervisor, window time.Duration) result {
	r := result{}
	for _, n := range []int{10, 1000} {
		base := 3000000 + n*10
		took, err := run(s, sleepers(n, base), base, base+n, n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			s.stop()
			continue
		}
		if n == 1000 {
			r[metrics[0]] = fmt.Sprintf("%.2f s", took.Seconds())
		}
		time.Sleep(settle)
		r[fmt.Sprintf("memory (PSS), %d jobs", n)] = fmt.Sprintf("%.1f MB", float64(sum(supervisorProcs(s.main()), procfs.PSSKB))/1024)
		s.stop()
	}
	measureHundred(s, r, window)
	measureCrashLoop(s, r, window)
	return r
}

// measureHundred: memory, idle wake-ups, exit-to-restart and save-to-start
// with 100 jobs.
func measureHundred(s supervisor, r result, window time.Duration) {
	const base = 3100000
	if _, err := run(s, sleepers(100, base), base, base+100, 100); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		s.stop()
		return
	}
	defer s.stop()
	time.Sleep(settle) // every job has now run > 10 s
	procs := supervisorProcs(s.main())
	r["memory (PSS), 100 jobs"] = fmt.Sprintf("%.1f MB", float64(sum(procs, procfs.PSSKB))/1024)
	before := sum(procs, procfs.ContextSwitches)
	time.Sleep(window)
	r[metrics[4]] = fmt.Sprintf("%.0f", float64(sum(procs, procfs.ContextSwitches)-before)*float64(time.Minute)/float64(window))
	r[metrics[5]] = restartLatency(base)
	r[metrics[6]] = saveToStart(s)
}

// restartLatency kills 20 jobs one by one and times until the same program
// runs again under the same parent.
func restartLatency(base int) string {
	var lat []time.Duration
	for i := 0; i < 20; i++ {
		pid := findMarker(base + i)
		p, ok := procfs.Stat(pid)
		if pid == 0 || !ok {
			continue
		}
		killed := time.Now()
		exec.Command("kill", "-9", fmt.Sprint(pid)).Run()
		for time.Since(killed) < 5*time.Second {
			if childWithCmdline(p.PPID, marker(base+i), pid) != 0 {
				lat = append(lat, time.Since(killed))
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	if len(lat) == 0 {
		return "no restart within 5 s"
	}
	slices.Sort(lat)
	return fmt.Sprintf("%s / %s", ms(lat[len(lat)/2]), ms(lat[(len(lat)-1)*99/100]))
}

// saveToStart adds 3 jobs, one at a time, and times until each runs.
func saveToStart(s supervisor) string {
	var lat []time.Duration
	for i := 0; i < 3; i++ {
		n := 3200000 + i
		saved := time.Now()
		if err := s.add(job{name: fmt.Sprintf("probe%d", i), argv: []string{"/bin/sleep", fmt.Sprint(n)}}); err != nil {
			return "add failed: " + err.Error()
		}
		for findMarker(n) == 0 && time.Since(saved) < 15*time.Second {
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(saved))
	}
	slices.Sort(lat)
	return ms(lat[1])
}

// measureCrashLoop runs 50 jobs that exit with status 1 after 0.2 s.
func measureCrashLoop(s supervisor, r result, window time.Duration) {
	dir, err := os.MkdirTemp(workDir, "crash-")
	if err != nil {
		return
	}
	count := dir + "/spawns"
	jobs := make([]job, 50)
	for i := range jobs {
		jobs[i] = job{name: fmt.Sprintf("c%d", i), argv: []string{"/bin/sh", "-c", "echo x >> " + count + "; sleep 0.2; exit 1"}}
	}
	if err := s.start(dir, jobs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return
	}
	time.Sleep(500 * time.Millisecond)
	procs := supervisorProcs(s.main())
	before, spawned := sum(procs, procfs.CPUTicks), lines(count)
	time.Sleep(window)
	spent, spawns := sum(supervisorProcs(s.main()), procfs.CPUTicks)-before, lines(count)-spawned
	s.stop()
	r[metrics[7]] = fmt.Sprintf("%d in %v", spawns, window)
	r[metrics[8]] = fmt.Sprintf("%.1f%% of a core", float64(spent)*10/float64(window.Milliseconds())*100)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func lines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}
