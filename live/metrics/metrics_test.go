package metrics

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"pmtr/core"
	"pmtr/driver"
)

// BenchmarkExposition1000: writing the metrics of 1000 jobs (the part of a
// scrape after the driver's snapshot).
func BenchmarkExposition1000(b *testing.B) {
	boot := time.Now()
	x := &Exporter{Wall: func(t core.Time) time.Time { return boot.Add(time.Duration(t)) }, Refused: func() int64 { return 0 }}
	var m driver.Metrics
	for i := range 1000 {
		m.Jobs = append(m.Jobs, core.JobStatus{Name: "job" + strconv.Itoa(i), State: core.Running, PID: 1000 + i, Starts: 3})
	}
	for b.Loop() {
		e := newExpo(io.Discard, false)
		x.jobFamilies(e, m)
		x.daemonFamilies(e, m.Counters)
		e.processMetrics()
		e.end()
	}
}

// A scrape writes the driver's values with wall-clock times, and says so
// when the driver does not answer.
func TestExporterWrite(t *testing.T) {
	boot := time.Unix(1_700_000_000, 0)
	m := driver.Metrics{Snapshot: driver.Snapshot{Now: core.Time(5 * time.Second), Jobs: []core.JobStatus{
		{Name: "web", State: core.Running, PID: 42, Starts: 2, StartedAt: core.Time(time.Second), Enabled: true},
		{Name: "api", State: core.Failed, Starts: 5, FailedRuns: 5, GaveUp: true, RestartDelay: core.Time(10 * time.Minute), NextStart: core.Time(600 * time.Second)},
		{Name: "db", State: core.Waiting, Starts: 3, FailedRuns: 3, RestartDelay: core.Time(4100 * time.Millisecond), NextStart: core.Time(8 * time.Second)},
	}}}
	x := &Exporter{Query: func() (driver.Metrics, bool) { return m, true },
		Wall:          func(t core.Time) time.Time { return boot.Add(time.Duration(t)) },
		Refused:       func() int64 { return 3 },
		NotifyDropped: func() []Count { return []Count{{"too_long", 0}, {"not_job", 7}} }}
	var b strings.Builder
	if err := x.Write(&b, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"pmtr_job_up{job=\"web\"} 1\n",
		"pmtr_job_state{job=\"web\",state=\"running\"} 1\n",
		"pmtr_job_starts_total{job=\"web\"} 2\n",
		"pmtr_job_start_time_seconds{job=\"web\"} 1700000001\n",
		"pmtr_job_gave_up{job=\"api\"} 1\n",
		"pmtr_job_gave_up{job=\"db\"} 0\n",
		"pmtr_job_restart_delay_seconds{job=\"api\"} 600\n",
		"pmtr_job_restart_delay_seconds{job=\"db\"} 4.1\n",
		"pmtr_job_restart_delay_seconds{job=\"web\"} 0\n",
		"pmtr_job_restart_pending_seconds{job=\"db\"} 3\n",
		"# TYPE pmtr_control_messages counter\n",
		"pmtr_control_messages_total{result=\"rejected\"} 3\n",
		"# TYPE pmtr_notify_dropped counter\n",
		"pmtr_notify_dropped_total{reason=\"too_long\"} 0\n",
		"pmtr_notify_dropped_total{reason=\"not_job\"} 7\n",
		"# EOF\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the scrape lacks %q:\n%s", want, b.String())
		}
	}
	x.Query = func() (driver.Metrics, bool) { return driver.Metrics{}, false }
	if err := x.Write(io.Discard, false); err == nil {
		t.Fatal("a scrape the driver did not answer succeeded")
	}
}

// /healthz names the jobs that are not ready or fail their checks; a job
// disabled, stopped by control or done does not count; /livez says whether
// the driver answers.
func TestHealthzAndLivez(t *testing.T) {
	jobs := []core.JobStatus{{Name: "web", State: core.ReadyState}, {Name: "db", State: core.Starting, PID: 7},
		{Name: "api", State: core.Unhealthy}, {Name: "plain", State: core.Running}, {Name: "off", State: core.Disabled},
		{Name: "held", State: core.Stopped, Control: core.Disable}, {Name: "setup", State: core.Done}}
	answers := true
	x := &Exporter{Query: func() (driver.Metrics, bool) {
		return driver.Metrics{Snapshot: driver.Snapshot{Jobs: jobs}}, answers
	}}
	if code, body := x.Healthz(); code != 503 || body != "not ready: db api\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	jobs = jobs[:1]
	if code, body := x.Healthz(); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	if code, _ := x.Livez(); code != 200 {
		t.Fatalf("livez: %d", code)
	}
	answers = false
	if code, _ := x.Livez(); code != 503 {
		t.Fatalf("livez of a loop that does not answer: %d", code)
	}
	if code, _ := x.Healthz(); code != 503 {
		t.Fatalf("healthz of a loop that does not answer: %d", code)
	}
}
