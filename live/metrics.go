package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
	"pmtr/udp"
)

// Version is pmtr's version for pmtr_build_info (set by cmd/pmtr).
var Version = "devel"

// refusedControl counts datagrams that keyed listeners refused; the core
// counts the ones it could not decode.
var refusedControl atomic.Int64

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The metric families. Their values are the core's; only the wall-clock
// conversion of times is done here.
var (
	mUp        = desc("pmtr_job_up", "1 while the job's process runs.", "job")
	mState     = desc("pmtr_job_state", "1 for the job's current state (as pmtr status shows it), 0 for the others.", "job", "state")
	mStarts    = desc("pmtr_job_starts_total", "Starts of the job since pmtr started (failed starts included).", "job")
	mExits     = desc("pmtr_job_exits_total", "Ends of the job's processes since pmtr started, by how they ended.", "job", "reason")
	mLastCode  = desc("pmtr_job_last_exit_code", "Exit status of the job's last process (0 when it was killed by a signal or has not ended).", "job")
	mLastSig   = desc("pmtr_job_last_exit_signal", "Signal that killed the job's last process (0 when it exited or has not ended).", "job")
	mStartTime = desc("pmtr_job_start_time_seconds", "Unix time when the job's last process started (0 if it never ran).", "job")
	mPending   = desc("pmtr_job_restart_pending_seconds", "Seconds until a waiting job starts again (0 when none is pending).", "job")
	mEnabled   = desc("pmtr_job_enabled", "1 when the job may run (enabled by the config or by control, not held).", "job")
	mReloads   = desc("pmtr_config_reloads_total", "Config reloads since pmtr started, by result.", "result")
	mLastOK    = desc("pmtr_config_last_reload_successful", "1 when the last reload applied, 0 when it was rejected.")
	mLastOKAt  = desc("pmtr_config_last_reload_success_timestamp_seconds", "Unix time when a config was last applied.")
	mControl   = desc("pmtr_control_messages_total", "Control messages since pmtr started, by result.", "result")
	mBuild     = desc("pmtr_build_info", "pmtr's version; the value is always 1.", "version")
)

// jobCollector turns the driver's metrics snapshot into samples, at each
// scrape (and only then: no work while nobody scrapes).
type jobCollector struct{ b *backend }

func (c jobCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mUp, mState, mStarts, mExits, mLastCode, mLastSig, mStartTime,
		mPending, mEnabled, mReloads, mLastOK, mLastOKAt, mControl, mBuild} {
		ch <- d
	}
}

func (c jobCollector) Collect(ch chan<- prometheus.Metric) {
	m, ok := ask(c.b, 5*time.Second, func(r chan<- driver.Metrics) driver.Input { return driver.MetricsQuery{Reply: r} })
	if !ok {
		return
	}
	for _, j := range m.Jobs {
		c.job(ch, m.Now, j)
	}
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	n := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	k := m.Counters
	n(mReloads, k.ReloadsOK, "ok")
	n(mReloads, k.ReloadsRejected, "rejected")
	g(mLastOK, boolf(k.LastReloadOK))
	g(mLastOKAt, unixSeconds(c.b.wall(k.LastReloadOKAt)))
	n(mControl, k.ControlAccepted, "accepted")
	n(mControl, k.ControlRejected+int(refusedControl.Load()), "rejected")
	g(mBuild, 1, Version)
}

func (c jobCollector) job(ch chan<- prometheus.Metric, now core.Time, j core.JobStatus) {
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{j.Name}, labels...)...)
	}
	g(mUp, boolf(j.State == core.Running))
	for _, s := range core.States {
		g(mState, boolf(j.State == s), string(s))
	}
	ch <- prometheus.MustNewConstMetric(mStarts, prometheus.CounterValue, float64(j.Starts), j.Name)
	for r, name := range core.ExitReasons {
		ch <- prometheus.MustNewConstMetric(mExits, prometheus.CounterValue, float64(j.Exits[r]), j.Name, name)
	}
	code, sig := 0, 0
	if j.HasExited {
		code, sig = j.LastCode, j.LastSignal
	}
	g(mLastCode, float64(code))
	g(mLastSig, float64(sig))
	start := 0.0
	if j.Starts > 0 && j.PID != 0 || j.HasExited && j.StartedAt > 0 {
		start = unixSeconds(c.b.wall(j.StartedAt))
	}
	g(mStartTime, start)
	pending := 0.0
	if (j.State == core.Waiting || j.State == core.Failed) && j.NextStart > now {
		pending = time.Duration(j.NextStart - now).Seconds()
	}
	g(mPending, pending)
	g(mEnabled, boolf(j.Enabled))
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// newRegistry holds pmtr's collectors: its jobs and counters, and the
// process metrics (CPU, memory, open fds) of pmtr itself.
func newRegistry(b *backend) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(jobCollector{b}, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// writeMetrics prints the metrics in the Prometheus text format (for
// pmtr metrics).
func writeMetrics(reg prometheus.Gatherer, w io.Writer) error {
	families, err := reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

// metricsServers are the "metrics on" endpoints; servers of unchanged lines
// survive a reload.
type metricsServers struct {
	log  *Logger
	reg  *prometheus.Registry
	open map[string]*http.Server
}

func metricsID(m confgrammar.Metrics) string { return net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) }

// configure opens new endpoints and closes removed ones. A bind failure is
// logged and pmtr runs on.
func (s *metricsServers) configure(specs []confgrammar.Metrics) {
	want := map[string]bool{}
	for _, m := range specs {
		want[metricsID(m)] = true
	}
	for id, srv := range s.open {
		if !want[id] {
			srv.Shutdown(context.Background())
			delete(s.open, id)
		}
	}
	for _, m := range specs {
		id := metricsID(m)
		if _, ok := s.open[id]; ok {
			continue
		}
		if srv := s.serve(id); srv != nil {
			s.open[id] = srv
		}
	}
}

func (s *metricsServers) serve(addr string) *http.Server {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.log.Logf(core.Error, "can't serve metrics on http://%s: %s", addr, strerror(err))
		return nil
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; openToOthers(ip) {
		s.log.Logf(core.Error, "warning: metrics on http://%s can be read by anyone who can reach it (they are read-only and unauthenticated)", addr)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Logf(core.Error, "metrics on http://%s: %v", addr, err)
		}
	}()
	return srv
}

func (s *metricsServers) closeAll() {
	for id, srv := range s.open {
		srv.Close()
		delete(s.open, id)
	}
}

// metricsAnswer: pmtr metrics, over the control socket.
func (b *backend) metricsAnswer() answer {
	var text strings.Builder
	if err := writeMetrics(b.reg, &text); err != nil {
		return errAnswer(driver.CodeFailed, "metrics: %v", err)
	}
	return answer{text: text.String()}
}

var (
	mFleetEnabled = desc("pmtr_fleet_job_enabled", "1 when the job is enabled on the reporting host, as its last UDP report says.", "host", "job")
	mFleetUptime  = desc("pmtr_fleet_job_uptime_seconds", "Seconds the job has run on the reporting host, as its last UDP report says.", "host", "job")
	mFleetAge     = desc("pmtr_fleet_report_age_seconds", "Seconds since the host's last UDP report (hosts silent for 60 s are forgotten).", "host")
)

// fleetCollector shows pmtr rptserver's table: the UDP reports of every
// host (C pmtr included).
type fleetCollector struct{ hosts func() []udp.HostJobs }

func (c fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- mFleetEnabled
	ch <- mFleetUptime
	ch <- mFleetAge
}

func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[string]bool{}
	for _, h := range c.hosts() {
		host := h.ID
		if seen[host] { // two hosts report one name: tell them apart by address
			host += "@" + h.Sender
		}
		seen[host] = true
		ch <- prometheus.MustNewConstMetric(mFleetAge, prometheus.GaugeValue, h.Age.Seconds(), host)
		for _, j := range h.Jobs {
			ch <- prometheus.MustNewConstMetric(mFleetEnabled, prometheus.GaugeValue, boolf(j.Enabled), host, j.Name)
			ch <- prometheus.MustNewConstMetric(mFleetUptime, prometheus.GaugeValue, float64(j.Seconds), host, j.Name)
		}
	}
}

// ServeFleetMetrics serves the hosts' reports as metrics on addr (for pmtr
// rptserver --metrics).
func ServeFleetMetrics(addr string, hosts func() []udp.HostJobs) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(fleetCollector{hosts})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	go (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln)
	return nil
}
