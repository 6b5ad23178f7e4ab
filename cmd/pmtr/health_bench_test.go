package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pmtr/procfs"
)

// Benchmarks of readiness and health (issue 23); targets in
// docs/BENCHMARKS.md.

// readyC is a job that becomes ready after DELAY ms: it writes "r TIME" to
// FILE the moment it is, then (fd) writes a newline to fd 3, (notify)
// sends READY=1 to $NOTIFY_SOCKET, or (tcp) has already started listening
// on 127.0.0.1:PORT; then it waits to be stopped.
const readyC = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
static void stamp(const char *path) {
	struct timespec t; char b[64];
	clock_gettime(CLOCK_REALTIME, &t);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	write(fd, b, snprintf(b, sizeof b, "r %ld.%09ld\n", (long)t.tv_sec, t.tv_nsec));
	close(fd);
}
int main(int argc, char **argv) {
	const char *mode = argv[2];
	long ms = atol(argv[3]);
	struct timespec d = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&d, 0);
	if (strcmp(mode, "tcp") == 0) {
		int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		struct sockaddr_in a = {0};
		a.sin_family = AF_INET; a.sin_port = htons(atoi(argv[4])); a.sin_addr.s_addr = htonl(0x7f000001);
		bind(s, (struct sockaddr *)&a, sizeof a);
		listen(s, 128);
		stamp(argv[1]);
		for (;;) { int c = accept(s, 0, 0); if (c >= 0) close(c); }
	}
	stamp(argv[1]);
	if (strcmp(mode, "fd") == 0) {
		write(3, "\n", 1);
	} else {
		struct sockaddr_un u = {0};
		u.sun_family = AF_UNIX;
		strncpy(u.sun_path, getenv("NOTIFY_SOCKET"), sizeof u.sun_path - 1);
		int s = socket(AF_UNIX, SOCK_DGRAM, 0);
		sendto(s, "READY=1", 7, 0, (struct sockaddr *)&u, sizeof u);
	}
	for (;;) pause();
}
`

// readyProgram builds readyC (a C compiler is needed: a script's start-up
// would blur milliseconds).
func readyProgram(b *testing.B, dir string) string {
	src, bin := filepath.Join(dir, "ready.c"), filepath.Join(dir, "ready")
	os.WriteFile(src, []byte(readyC), 0o644)
	if out, err := exec.Command("cc", "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		b.Skipf("no C compiler to build the ready job: %v %s", err, out)
	}
	return bin
}

// readStampAt waits for the line of kind k ("r", "s") in path.
func readStampAt(b *testing.B, path, k string, within time.Duration) time.Time {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(data), "\n") {
			if stamp, ok := strings.CutPrefix(l, k+" "); ok {
				if t, err := strconv.ParseFloat(stamp, 64); err == nil {
					return time.Unix(0, int64(t*1e9))
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.Fatalf("no %q stamp in %s within %v", k, path, within)
	return time.Time{}
}

// BenchmarkReadyToAfterStart: from the moment a job says it is ready (fd:
// its newline on fd 3; notify: READY=1; tcp: its port listens) to the
// first instruction of the job after it. Pairs of jobs, each ready job
// getting ready DELAY ms after its start (random-looking delays within
// the window). Targets: fd and notify p50 <= 5 ms; tcp p50 <= 150 ms.
func BenchmarkReadyToAfterStart(b *testing.B) {
	for _, c := range []struct {
		mode   string
		window int // ms: the ready delays fall within it
	}{{"fd", 1000}, {"notify", 1000}, {"tcp", 500}, {"tcp", 3000}} {
		b.Run(fmt.Sprintf("%s-%dms", c.mode, c.window), func(b *testing.B) {
			for b.Loop() {
				lat := readyPairs(b, c.mode, c.window, 30)
				b.ReportMetric(percentile(lat, 50), "ms-p50")
				b.ReportMetric(percentile(lat, 90), "ms-p90")
				b.ReportMetric(percentile(lat, 99), "ms-p99")
			}
		})
	}
}

func readyPairs(b *testing.B, mode string, window, pairs int) []time.Duration {
	dir := b.TempDir()
	ready, stamp := readyProgram(b, dir), stampProgram(b, dir)
	cond := map[string]string{"fd": "ready fd 3", "notify": "ready notify"}[mode]
	var conf strings.Builder
	for i := range pairs {
		port := 0
		if mode == "tcp" {
			port = freeBenchPort(b)
			cond = fmt.Sprintf("ready tcp 127.0.0.1:%d", port)
		}
		delay := (i*7919)%window + 1
		fmt.Fprintf(&conf, "job {\nname r%d\ncmd %s %s/r%d %s %d %d\n%s\n}\n", i, ready, dir, i, mode, delay, port, cond)
		fmt.Fprintf(&conf, "job {\nname a%d\ncmd %s %s/a%d\nafter r%d\n}\n", i, stamp, dir, i, i)
	}
	path := filepath.Join(dir, "pmtr.conf")
	os.WriteFile(path, []byte(conf.String()), 0o644)
	d := pmtrCmd(b, "-F", "-c", path)
	if err := d.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { d.Process.Signal(syscall.SIGTERM); d.Wait() }()
	var lat []time.Duration
	for i := range pairs {
		r := readStampAt(b, fmt.Sprintf("%s/r%d", dir, i), "r", 60*time.Second)
		s := readStampAt(b, fmt.Sprintf("%s/a%d", dir, i), "s", 60*time.Second)
		lat = append(lat, s.Sub(r))
	}
	return lat
}

func freeBenchPort(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// BenchmarkTCPChecks1000: 1000 jobs, each with a tcp check every 1 s on
// loopback (one listener in the benchmark accepts them all): pmtr's CPU
// over 30 s (target <= 5% of one core), and its memory against the same
// 1000 jobs without checks (target <= 2 kB per check): anonymous memory
// (heap, stacks); the pages of pmtr's binary that running the checks
// keeps mapped (about 3 MB, whatever the number of checks, where an idle
// pmtr has dropped them) are reported apart.
func BenchmarkTCPChecks1000(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	check := fmt.Sprintf("check tcp %s every 1s timeout 1s\n", ln.Addr())
	for b.Loop() {
		bare, bareFile := settledRSS(b, "")
		d := startBenchDaemon(b, 1000, check)
		d.waitCount(b, regexp.MustCompile(`started job j`), 1000, 60*time.Second)
		time.Sleep(5 * time.Second) // the starts' CPU and garbage are behind
		pid := d.cmd.Process.Pid
		before := procfs.CPUTicks(pid)
		time.Sleep(30 * time.Second)
		cpu := float64(procfs.CPUTicks(pid)-before) * 10 / 30000 * 100
		rss, anon := procfs.RSSKB(pid), procfs.AnonKB(pid)
		failed := d.count(regexp.MustCompile(`check failed`))
		d.cmd.Process.Signal(syscall.SIGTERM)
		d.cmd.Wait()
		b.ReportMetric(cpu, "%cpu")
		b.ReportMetric(float64(anon-bare)/1000, "kB/check")
		b.ReportMetric(float64(rss-anon-bareFile)/1000, "kB-file-pages/check")
		b.ReportMetric(float64(rss)/1024, "MB-RSS")
		b.ReportMetric(float64(failed), "failed-checks")
	}
}

// settledRSS is pmtr's anonymous memory and the rest of its RSS (its
// binary's and libraries' pages) with 1000 jobs and extra, 35 s after they
// run.
func settledRSS(b *testing.B, extra string) (anon, file int) {
	d := startBenchDaemon(b, 1000, extra)
	d.waitCount(b, regexp.MustCompile(`started job j`), 1000, 60*time.Second)
	time.Sleep(35 * time.Second)
	rss, anon := procfs.RSSKB(d.cmd.Process.Pid), procfs.AnonKB(d.cmd.Process.Pid)
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()
	return anon, rss - anon
}
