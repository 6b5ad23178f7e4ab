package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pmtr/live/ctlsock"
	"pmtr/procfs"
)

// BenchmarkHostile: pmtr under the attacks of issue 28, each on the same
// daemon (40 canary jobs, a metrics endpoint, the control socket), one
// after the other: 2000 concurrent scrapers (while canaries are killed
// and pmtr status is asked: restart latency and status time, targets p99
// <= 20 ms and <= 100 ms); 10 000 connections to the metrics endpoint
// that send nothing; ten 10 MB request lines and 1000 half-sent plans to
// the control socket. For each: pmtr's peak RSS during it (target <= 64
// MB) and its RSS 60 s after (target: within 2x of idle;
// PMTR_BENCH_SETTLE shortens the wait, PMTR_BENCH_ATTACKS=scrapers,...
// picks attacks, PMTR_BENCH_TRACE=1 logs each slow restart and status).
// It reports, never fails on a figure.
func BenchmarkHostile(b *testing.B) {
	settle := 60 * time.Second
	if s, err := time.ParseDuration(os.Getenv("PMTR_BENCH_SETTLE")); err == nil {
		settle = s
	}
	for b.Loop() {
		port := freeTCPPortB(b)
		const canaries = 40
		dir := b.TempDir()
		canary := canaryProgram(b, dir)
		var conf strings.Builder
		fmt.Fprintf(&conf, "metrics on http://127.0.0.1:%d\n", port)
		for i := range canaries {
			fmt.Fprintf(&conf, "job {\nname j%d\ncmd %s %s/j%d.stamp\n}\n", i, canary, dir, i)
		}
		d := startBenchDaemonWith(b, conf.String(), 0, "")
		d.waitCount(b, regexp.MustCompile(`started job j`), canaries, 30*time.Second)
		pid := d.cmd.Process.Pid
		confPath := d.cmd.Args[len(d.cmd.Args)-1]
		time.Sleep(11 * time.Second) // canaries that lived 10 s restart at once
		idle := procfs.RSSKB(pid)
		b.ReportMetric(float64(idle)/1024, "MB-idle")
		restart, status := restartsAndStatus(b, dir, confPath, canaries, 12*time.Second)
		b.ReportMetric(percentile(restart, 99), "quiet-restart-ms-p99")
		b.ReportMetric(percentile(status, 99), "quiet-status-ms-p99")
		time.Sleep(11 * time.Second) // every canary has lived 10 s again
		attacks := []struct {
			name string
			run  func()
		}{
			{"scrapers", func() { scrapersAttack(b, pid, confPath, dir, port, canaries) }},
			{"idleconns", func() { idleConnsAttack(b, port, 10000, 15*time.Second) }},
			{"longlines", func() { longLinesAttack(b, confPath, 10, 10<<20) }},
			{"halfplans", func() { halfPlansAttack(b, confPath, 1000, 10*time.Second) }},
		}
		for _, a := range attacks {
			if only := os.Getenv("PMTR_BENCH_ATTACKS"); only != "" && !strings.Contains(only, a.name) {
				continue
			}
			resetPeak(b, pid)
			a.run()
			peak := peakRSSKB(pid)
			time.Sleep(settle)
			after := procfs.RSSKB(pid)
			b.ReportMetric(float64(peak)/1024, "MB-peak-"+a.name)
			b.ReportMetric(float64(after)/float64(idle), "x-idle-after-"+a.name)
		}
	}
}

func freeTCPPortB(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// resetPeak starts pmtr's peak RSS (VmHWM) afresh.
func resetPeak(b *testing.B, pid int) {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		b.Logf("can't reset the peak RSS (%v): the peaks are since pmtr started", err)
	}
}

func peakRSSKB(pid int) int {
	s, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// scrapersAttack: 2000 connections scrape /metrics as fast as they can
// for 26 s, from a process of their own (so that the measures here do
// not wait behind them), while a canary is killed every 300 ms (each has
// lived over 10 s, so it restarts at once: the latency is from the kill to
// the new canary's own time stamp) and pmtr status is run every 100 ms.
func scrapersAttack(b *testing.B, pid int, conf, dir string, port, canaries int) {
	swarm := exec.Command(os.Args[0], "-test.run=^$")
	swarm.Env = append(os.Environ(), fmt.Sprintf("PMTR_BENCH_SWARM=127.0.0.1:%d 2000 26s", port))
	var out strings.Builder
	swarm.Stdout, swarm.Stderr = &out, &out
	if err := swarm.Start(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the scrapers are at full speed
	cpu0, t0 := procfs.CPUTicks(pid), time.Now()
	stopProbes := probeLivez(b, fmt.Sprintf("127.0.0.1:%d", port), "scrapers")
	restart, status := restartsAndStatus(b, dir, conf, canaries, 23*time.Second)
	stopProbes()
	b.ReportMetric(float64(procfs.CPUTicks(pid)-cpu0)/100/time.Since(t0).Seconds()*100, "pmtr-cpu-%")
	if err := swarm.Wait(); err != nil {
		b.Fatalf("the scrapers: %v\n%s", err, out.String())
	}
	var scrapes, failed float64
	fmt.Sscan(out.String(), &scrapes, &failed)
	b.ReportMetric(scrapes/26, "scrapes/s")
	b.ReportMetric(failed/26, "failed-scrapes/s")
	b.ReportMetric(percentile(restart, 50), "restart-ms-p50")
	b.ReportMetric(percentile(restart, 99), "restart-ms-p99")
	b.ReportMetric(percentile(status, 50), "status-ms-p50")
	b.ReportMetric(percentile(status, 99), "status-ms-p99")
}

// restartsAndStatus kills a canary every 300 ms (each has lived over 10
// s, so it restarts at once: the latency is from the kill to the new
// canary's own time stamp) and runs pmtr status every 100 ms, for dur.
func restartsAndStatus(b *testing.B, dir, conf string, canaries int, dur time.Duration) (restart, status []time.Duration) {
	stop := make(chan struct{})
	statusDone := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(statusDone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			t0 := time.Now()
			if o, err := exec.Command(pmtrBin, "status", "-c", conf).CombinedOutput(); err != nil {
				b.Logf("status: %v\n%s", err, o)
			}
			if os.Getenv("PMTR_BENCH_TRACE") != "" && time.Since(t0) > 100*time.Millisecond {
				b.Logf("status at +%v took %v", t0.Sub(start).Round(time.Millisecond), time.Since(t0))
			}
			status = append(status, time.Since(t0))
		}
	}()
	for i := 0; time.Since(start) < dur; i++ {
		stamp := filepath.Join(dir, fmt.Sprintf("j%d.stamp", i%canaries))
		pid := canaryPid(stamp)
		os.Remove(stamp)
		killed := time.Now()
		if pid == 0 || !killPid(pid) {
			continue
		}
		lat := readCanaryStamp(b, stamp, 10*time.Second).Sub(killed)
		if os.Getenv("PMTR_BENCH_TRACE") != "" && lat > 20*time.Millisecond {
			b.Logf("restart %d at +%v took %v", i, time.Since(start).Round(time.Millisecond), lat)
		}
		restart = append(restart, lat)
		time.Sleep(300 * time.Millisecond)
	}
	close(stop)
	<-statusDone
	return restart, status
}

// swarm scrapes addr from n goroutines for the duration (spec: "ADDR N
// DURATION") and prints how many scrapes succeeded and failed: the
// scrapers of BenchmarkHostile, run as a process of their own.
func swarm(spec string) int {
	var addr string
	var n int
	var dur time.Duration
	var durText string
	if _, err := fmt.Sscan(spec, &addr, &n, &durText); err != nil {
		fmt.Fprintln(os.Stderr, "swarm:", err)
		return 2
	}
	dur, _ = time.ParseDuration(durText)
	var scrapes, failed atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(dur)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				if scrapeOnce(addr) {
					scrapes.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Println(scrapes.Load(), failed.Load())
	return 0
}

// canaryC writes its start time to argv[1] ("s SECONDS.NANOS"), then
// sleeps until killed.
const canaryC = `#include <stdio.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv) {
	struct timespec t; char b[64];
	clock_gettime(CLOCK_REALTIME, &t);
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	write(fd, b, snprintf(b, sizeof b, "s %ld.%09ld %d\n", (long)t.tv_sec, t.tv_nsec, (int)getpid()));
	close(fd);
	for (;;) pause();
}
`

// canaryProgram builds canaryC, or falls back to a shell script (whose
// start-up then counts in the restart latency).
func canaryProgram(b *testing.B, dir string) string {
	src, bin := filepath.Join(dir, "canary.c"), filepath.Join(dir, "canary")
	os.WriteFile(src, []byte(canaryC), 0o644)
	if err := exec.Command("cc", "-O2", "-static", "-o", bin, src).Run(); err == nil {
		return bin
	}
	b.Log("no C compiler: the canary is a shell script, whose start-up counts in the latency")
	script := filepath.Join(dir, "canary.sh")
	os.WriteFile(script, []byte("echo \"s $EPOCHREALTIME $$\" > $1\nexec sleep 1000000\n"), 0o755)
	return "/bin/bash " + script
}

// canaryPid is the pid in a canary's stamp.
func canaryPid(path string) int {
	var s string
	var t float64
	var pid int
	data, _ := os.ReadFile(path)
	fmt.Sscan(string(data), &s, &t, &pid)
	return pid
}

// readCanaryStamp waits for a canary's start stamp.
func readCanaryStamp(b *testing.B, path string, within time.Duration) time.Time {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(path)
		var s string
		var t float64
		if err == nil && strings.HasSuffix(string(data), "\n") {
			if _, err := fmt.Sscan(string(data), &s, &t); err == nil {
				return time.Unix(0, int64(t*1e9))
			}
		}
		time.Sleep(time.Millisecond)
	}
	b.Fatalf("no start stamp in %s within %v", path, within)
	return time.Time{}
}

// scrapeOnce is one GET /metrics, read to its end.
func scrapeOnce(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: pmtr\r\n\r\n"); err != nil {
		return false
	}
	n, err := io.Copy(io.Discard, c)
	return err == nil && n > 1000
}

// probeLivez asks addr for /livez every second, as a kubelet does (a
// timeout of 10 s here, to see how long it takes, where a kubelet's is 1
// s), until the returned function is called, which reports the times and
// how many took over 1 s.
func probeLivez(b *testing.B, addr, attack string) func() {
	stop, done := make(chan struct{}), make(chan struct{})
	var lat []time.Duration
	go func() {
		defer close(done)
		for {
			t0 := time.Now()
			if !getLivez(addr) {
				lat = append(lat, 10*time.Second)
			} else {
				lat = append(lat, time.Since(t0))
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		over := 0
		for _, l := range lat {
			if l > time.Second {
				over++
			}
		}
		b.ReportMetric(percentile(lat, 50), "livez-ms-p50-"+attack)
		b.ReportMetric(percentile(lat, 100), "livez-ms-max-"+attack)
		b.ReportMetric(float64(over)/float64(len(lat))*100, "livez-over-1s-%-"+attack)
	}
}

// getLivez is one GET /livez that answers 200 within 10 s.
func getLivez(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /livez HTTP/1.1\r\nHost: pmtr\r\n\r\n"); err != nil {
		return false
	}
	body, err := io.ReadAll(c)
	return err == nil && strings.HasPrefix(string(body), "HTTP/1.1 200 ")
}

func killPid(pid int) bool {
	p, err := os.FindProcess(pid)
	return err == nil && p.Kill() == nil
}

// idleConnsAttack opens n connections to the metrics endpoint that send
// nothing, holds them, then closes them.
func idleConnsAttack(b *testing.B, port, n int, hold time.Duration) {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	conns := make(chan net.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
				conns <- c
			}
		}()
	}
	wg.Wait()
	close(conns)
	b.ReportMetric(float64(len(conns)), "idle-conns-open")
	stopProbes := probeLivez(b, addr, "idleconns")
	time.Sleep(hold)
	stopProbes()
	for c := range conns {
		c.Close()
	}
}

// longLinesAttack sends n request lines of size bytes (no newline) to the
// control socket at once.
func longLinesAttack(b *testing.B, conf string, n, size int) {
	line := []byte("pmtr/2 status " + strings.Repeat("x", size))
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("unix", ctlsock.Path(conf))
			if err != nil {
				b.Logf("dial: %v", err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			go c.Write(line)
			io.Copy(io.Discard, c)
		}()
	}
	wg.Wait()
}

// halfPlansAttack opens n plan requests that send part of their config
// and hold their connection.
func halfPlansAttack(b *testing.B, conf string, n int, hold time.Duration) {
	var conns []net.Conn
	for range n {
		c, err := net.Dial("unix", ctlsock.Path(conf))
		if err != nil {
			continue
		}
		io.WriteString(c, "pmtr/2 plan\njob {\nname a\n")
		conns = append(conns, c)
	}
	b.ReportMetric(float64(len(conns)), "half-plans-open")
	time.Sleep(hold)
	for _, c := range conns {
		c.Close()
	}
}
