package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"pmtr/live/hostfacts"
	"pmtr/live/metrics"
	"pmtr/proctest"
)

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func scrape(t *testing.T, port int) string {
	t.Helper()
	var err error
	for deadline := time.Now().Add(eventWait); time.Now().Before(deadline); {
		var resp *http.Response
		if resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port)); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no metrics on port %d: %v", port, err)
	return ""
}

func sample(text, series string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func promtoolCheck(t *testing.T, text string) {
	t.Helper()
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Log("promtool is not installed (Debian package prometheus): the exposition is not linted")
		return
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestMetricsEndpoint: the exposition passes promtool; counters survive a
// reload for kept jobs, a removed job's series go, a rejected reload is
// counted; pmtr metrics prints the same families.
func TestMetricsEndpoint(t *testing.T) {
	port := freeTCPPort(t)
	head := fmt.Sprintf("metrics on http://127.0.0.1:%d\n", port)
	jobs := "job {\nname keep\ncmd /bin/sh -c \"exit 1\"\n}\njob {\nname gone\ncmd /bin/sleep 501\n}\n"
	dir, conf := writeConf(t, head+jobs)
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `job keep \[\d+\] exited`, eventWait)
	text := scrape(t, port)
	promtoolCheck(t, text)
	for _, s := range []string{`pmtr_job_starts_total{job="keep"}`, `pmtr_job_up{job="gone"}`, `pmtr_job_exits_total{job="keep",reason="exit"}`,
		`pmtr_job_state{job="keep",state="waiting"}`, `pmtr_config_last_reload_successful`, `process_open_fds`} {
		if v, ok := sample(text, s); !ok || v != 1 && !strings.HasPrefix(s, "process") {
			t.Fatalf("%s = %v (%v)\n%s", s, v, ok, text)
		}
	}
	os.WriteFile(conf, []byte(head+"job {\nname keep\ncmd /bin/sh -c \"exit 1\"\n}\n"), 0o644)
	waitLogRe(t, d.log, `sending SIGTERM to job gone\(deleted\)`, eventWait)
	os.WriteFile(conf, []byte(head+"job {\n"), 0o644)
	waitLogRe(t, d.log, `FAILED to parse`, eventWait)
	text = scrape(t, port)
	if v, _ := sample(text, `pmtr_job_starts_total{job="keep"}`); v != 1 {
		t.Fatalf("keep's starts after a reload: %v", v)
	}
	if strings.Contains(text, `job="gone"`) {
		t.Fatal("a removed job's series are still there")
	}
	for s, want := range map[string]float64{`pmtr_config_reloads_total{result="rejected"}`: 1, `pmtr_config_reloads_total{result="ok"}`: 1, `pmtr_config_last_reload_successful`: 0} {
		if v, _ := sample(text, s); v != want {
			t.Fatalf("%s = %v, want %v", s, v, want)
		}
	}
	out, _, code := pmtrIn(t, conf, "metrics")
	if code != 0 || !strings.Contains(out, "# HELP pmtr_job_starts_total ") || !strings.Contains(out, `pmtr_config_reloads_total{result="rejected"} 1`) {
		t.Fatalf("pmtr metrics: exit %d\n%s", code, out)
	}
	promtoolCheck(t, out)
	d.terminate(eventWait)
}

// TestNotifyDroppedMetric: an sd_notify message to a job's socket from a
// process not of the job is counted in pmtr_notify_dropped_total (here the
// test sends it), and the exposition still passes promtool.
func TestNotifyDroppedMetric(t *testing.T) {
	port := freeTCPPort(t)
	dir, conf := writeConf(t, fmt.Sprintf("metrics on http://127.0.0.1:%d\njob {\nname told\ncmd /bin/sleep 513\nready notify\n}\n", port))
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `started job told`, eventWait)
	text := scrape(t, port)
	if v, ok := sample(text, `pmtr_notify_dropped_total{reason="not_job"}`); !ok || v != 0 {
		t.Fatalf("before any message: not_job = %v (%v)\n%s", v, ok, text)
	}
	notes, err := hostfacts.NotifyDir(conf)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: filepath.Join(notes, "notify.told.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("READY=1")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitLogRe(t, d.log, `job told: notify message dropped: from pid \d+, not a process of the job`, eventWait)
	text = scrape(t, port)
	promtoolCheck(t, text)
	for series, want := range map[string]float64{`pmtr_notify_dropped_total{reason="not_job"}`: 1,
		`pmtr_notify_dropped_total{reason="too_long"}`: 0, `pmtr_notify_dropped_total{reason="unknown_sender"}`: 0} {
		if v, ok := sample(text, series); !ok || v != want {
			t.Fatalf("%s = %v (%v), want %v\n%s", series, v, ok, want, text)
		}
	}
	d.terminate(eventWait)
}

// TestFleetMetrics: pmtr rptserver's table as metrics; a silent host goes.
func TestFleetMetrics(t *testing.T) {
	s := &rptServer{}
	now := time.Now()
	s.table.Update("127.0.0.1", []byte("report web1\nnginx e 3725 42 /usr/sbin/nginx\ncron d 0 0 /usr/sbin/cron\n"), now)
	s.table.Update("127.0.0.2", []byte("report web2\nnginx e 10 43 /usr/sbin/nginx\n"), now.Add(-61*time.Second))
	port := freeTCPPort(t)
	if err := metrics.ServeFleet(fmt.Sprintf("127.0.0.1:%d", port), lineLog{io.Discard, ""}, s.hosts); err != nil {
		t.Fatal(err)
	}
	text := scrape(t, port)
	promtoolCheck(t, text)
	for series, want := range map[string]float64{`pmtr_fleet_job_enabled{host="web1",job="nginx"}`: 1, `pmtr_fleet_job_enabled{host="web1",job="cron"}`: 0,
		`pmtr_fleet_job_uptime_seconds{host="web1",job="nginx"}`: 3725, `pmtr_fleet_job_uptime_seconds{host="web2",job="nginx"}`: 10} {
		if v, ok := sample(text, series); !ok || v != want {
			t.Fatalf("%s = %v (%v), want %v\n%s", series, v, ok, want, text)
		}
	}
	s.table.Expire(time.Now())
	if text := scrape(t, port); strings.Contains(text, `host="web2"`) || !strings.Contains(text, `host="web1"`) {
		t.Fatalf("after web2 went silent:\n%s", text)
	}
}

// TestPrometheusScrapesPmtr: a real Prometheus on loopback scrapes pmtr
// every second; a job is killed, and Prometheus sees its start counter go
// up and one exit by signal.
func TestPrometheusScrapesPmtr(t *testing.T) {
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Skip("prometheus is not installed (Debian package prometheus; .ci/run installs it)")
	}
	mport, pport := freeTCPPort(t), freeTCPPort(t)
	dir, conf := writeConf(t, fmt.Sprintf("metrics on http://127.0.0.1:%d\njob {\nname web\ncmd /bin/sh -c \"echo $$ > web.pid; exec /bin/sleep 502\"\ndir DIR\n}\n", mport))
	os.WriteFile(conf, []byte(strings.ReplaceAll(readFile(t, conf), "DIR", dir)), 0o644)
	d := startForeground(t, dir, conf)
	pid := readPid(t, filepath.Join(dir, "web.pid"), eventWait)
	promConf := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(promConf, []byte(fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pmtr\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n", mport)), 0o644)
	p := proctest.Command(t, "prometheus", "--config.file="+promConf, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", pport))
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { p.Process.Signal(syscall.SIGTERM); p.Wait() }()
	query := func(q string) (float64, bool) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/query?query=%s", pport, url.QueryEscape(q)))
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		var r struct {
			Data struct {
				Result []struct{ Value []any } `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&r) != nil || len(r.Data.Result) == 0 {
			return 0, false
		}
		v, err := strconv.ParseFloat(fmt.Sprint(r.Data.Result[0].Value[1]), 64)
		return v, err == nil
	}
	waitQuery := func(q string, ok func(float64) bool, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if v, got := query(q); got && ok(v) {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Fatalf("Prometheus never saw %s as wanted within %v", q, within)
	}
	// Prometheus keeps its own job label (the scrape job) and renames pmtr's
	// to exported_job, unless the scrape config says honor_labels: true.
	waitQuery(`pmtr_job_starts_total{exported_job="web"}`, func(v float64) bool { return v == 1 }, eventWait)
	syscall.Kill(pid, syscall.SIGKILL)
	waitQuery(`pmtr_job_exits_total{exported_job="web",reason="signal"}`, func(v float64) bool { return v == 1 }, eventWait)
	waitQuery(`pmtr_job_starts_total{exported_job="web"}`, func(v float64) bool { return v >= 2 }, 10*time.Second+eventWait)
	d.terminate(eventWait)
}

// TestReadmeAlertRules: the alert rules README.md recommends load in
// Prometheus (promtool check rules).
func TestReadmeAlertRules(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool is not installed (Debian package prometheus)")
	}
	readme := readFile(t, "../../README.md")
	m := regexp.MustCompile("(?s)```yaml\n(groups:.*?)```").FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no alert rules")
	}
	rules := filepath.Join(t.TempDir(), "rules.yml")
	os.WriteFile(rules, []byte(m[1]), 0o644)
	if out, err := exec.Command("promtool", "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// get fetches path from pmtr's metrics endpoint: its status code and body.
func get(t *testing.T, port int, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHealthzFollowsReadiness: /healthz answers 503 naming the job that is
// not ready, then 200 once it is; /livez 200 while pmtr's loop answers;
// pmtr_job_ready and pmtr_job_check_failures_total are exposed (issue 23).
func TestHealthzFollowsReadiness(t *testing.T) {
	var ready atomic.Bool
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	port := freeTCPPort(t)
	dir, conf := writeConf(t, fmt.Sprintf("metrics on http://127.0.0.1:%d\njob {\nname web\ncmd /bin/sleep 511\nready http http://%s/ready\ncheck http http://%s/ready every 1h\n}\njob {\nname plain\ncmd /bin/sleep 512\n}\n",
		port, ln.Addr(), ln.Addr()))
	d := startForeground(t, dir, conf)
	waitLogRe(t, d.log, `started job web`, eventWait)
	scrape(t, port) // the endpoint is up
	if code, body := get(t, port, "/healthz"); code != 503 || body != "not ready: web\n" {
		t.Fatalf("/healthz while web answers 503: %d %q", code, body)
	}
	if code, body := get(t, port, "/livez"); code != 200 || body != "ok\n" {
		t.Fatalf("/livez: %d %q", code, body)
	}
	if out, _, code := pmtrIn(t, conf, "status"); code != 3 || !regexp.MustCompile(`(?m)^web\s+starting\s+\d+\s.*not ready`).MatchString(out) {
		t.Fatalf("pmtr status while web is not ready: exit %d\n%s", code, out)
	}
	if out, _, _ := pmtrIn(t, conf, "why", "web"); !regexp.MustCompile(`^web: not ready: (http://[\d.:]+/ready answered 503 at \d\d:\d\d:\d\d \(attempt \d+\)|the first attempt \(http http://[\d.:]+/ready\) is due at)`).MatchString(out) {
		t.Fatalf("pmtr why web:\n%s", out)
	}
	text := scrape(t, port)
	if v, ok := sample(text, `pmtr_job_ready{job="web"}`); !ok || v != 0 {
		t.Fatalf(`pmtr_job_ready{job="web"} = %v (%v) while not ready`, v, ok)
	}
	ready.Store(true)
	waitLogRe(t, d.log, `job web is ready: http://[\d.:]+/ready answered 200`, eventWait)
	if code, body := get(t, port, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz once web is ready: %d %q", code, body)
	}
	text = scrape(t, port)
	promtoolCheck(t, text)
	for series, want := range map[string]float64{`pmtr_job_ready{job="web"}`: 1, `pmtr_job_ready{job="plain"}`: 1,
		`pmtr_job_check_failures_total{job="web"}`: 0, `pmtr_job_state{job="web",state="ready"}`: 1} {
		if v, ok := sample(text, series); !ok || v != want {
			t.Fatalf("%s = %v (%v), want %v\n%s", series, v, ok, want, text)
		}
	}
	out, _, code := pmtrIn(t, conf, "status")
	if code != 0 || !regexp.MustCompile(`(?m)^web\s+ready\s`).MatchString(out) {
		t.Fatalf("pmtr status: exit %d\n%s", code, out)
	}
	d.terminate(eventWait)
}
