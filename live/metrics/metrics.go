// Package metrics serves pmtr's Prometheus metrics: the "metrics on"
// endpoints (a minimal HTTP/1.1 server, GET /metrics only), the text of a
// scrape (the driver's values, then pmtr's own process figures), and the
// fleet view of pmtr rptserver --metrics.
//
// Each endpoint runs one accept goroutine, and one goroutine per
// connection (at most MaxConns at once), which reads the request and
// waits for its turn: scrapes MaxScrapes at once then MaxPerSecond,
// /healthz and /livez on a pace of their own. A scrape takes the values
// the driver published (Latest), waiting up to 5 s for newer ones when an
// input changed them, and reads /proc; Servers.Configure binds sockets. Call neither on the driver's goroutine:
// the live backend configures on its network worker. Latest's driver side
// (Stale, Wanted, Publish) never waits.
package metrics

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/datagram"
	"pmtr/driver"
	"pmtr/live/hostfacts"
)

// Version is pmtr's version for pmtr_build_info (set by cmd/pmtr).
var Version = "devel"

// Exporter writes the daemon's metrics. It holds no state: every value
// comes from the driver (Query: the values it published).
type Exporter struct {
	Query   func() (driver.Metrics, bool) // the driver's values; false: it did not answer in time
	Wall    func(core.Time) time.Time     // a driver time as wall-clock time
	Refused func() int64                  // control datagrams that keyed listeners refused (the core counts the ones it could not decode)
	// NotifyDropped counts the sd_notify messages credited to no job, by
	// reason (the label's values, in a fixed order); nil: none are heard.
	NotifyDropped func() []Count
}

// Count is a counter's value for one value of its label.
type Count struct {
	Label string
	N     int64
}

// Write writes pmtr's metrics: the core's values (times turned into
// wall-clock seconds), then the process's own; om asks for OpenMetrics.
func (x *Exporter) Write(w io.Writer, om bool) error {
	m, ok := x.Query()
	if !ok {
		return errors.New("the daemon did not answer in time")
	}
	e := newExpo(w, om)
	x.jobFamilies(e, m)
	x.daemonFamilies(e, m.Counters)
	e.processMetrics()
	return e.end()
}

// jobFamily is one per-job metric: its value for a job at now.
type jobFamily struct {
	name, typ, help string
	value           func(j core.JobStatus, now core.Time) float64
}

func (x *Exporter) jobFamilies(e *expo, m driver.Metrics) {
	for _, f := range x.perJob() {
		e.family(f.name, f.typ, f.help)
		for _, j := range m.Jobs {
			e.sample(f.name, f.value(j, m.Now), "job", j.Name)
		}
		if f.name == "pmtr_job_up" { // the labelled families follow up
			x.stateFamily(e, m)
			x.exitsFamily(e, m)
		}
	}
}

func (x *Exporter) stateFamily(e *expo, m driver.Metrics) {
	e.family("pmtr_job_state", "gauge", "1 for the job's current state (as pmtr status shows it), 0 for the others.")
	for _, j := range m.Jobs {
		for _, s := range core.States {
			e.sample("pmtr_job_state", boolf(j.State == s), "job", j.Name, "state", string(s))
		}
	}
}

func (x *Exporter) exitsFamily(e *expo, m driver.Metrics) {
	e.family("pmtr_job_exits_total", "counter", "Ends of the job's processes since pmtr started, by how they ended.")
	for _, j := range m.Jobs {
		for r, reason := range core.ExitReasons {
			e.sample("pmtr_job_exits_total", float64(j.Exits[r]), "job", j.Name, "reason", reason)
		}
	}
}

func (x *Exporter) perJob() []jobFamily {
	return []jobFamily{
		{"pmtr_job_up", "gauge", "1 while the job's process runs.",
			func(j core.JobStatus, _ core.Time) float64 { return boolf(j.Up()) }},
		{"pmtr_job_starts_total", "counter", "Starts of the job since pmtr started (failed starts included).",
			func(j core.JobStatus, _ core.Time) float64 { return float64(j.Starts) }},
		{"pmtr_job_last_exit_code", "gauge", "Exit status of the job's last process (0 when it was killed by a signal or has not ended).",
			func(j core.JobStatus, _ core.Time) float64 { return float64(j.LastCode) }},
		{"pmtr_job_last_exit_signal", "gauge", "Signal that killed the job's last process (0 when it exited or has not ended).",
			func(j core.JobStatus, _ core.Time) float64 { return float64(j.LastSignal) }},
		{"pmtr_job_start_time_seconds", "gauge", "Unix time when the job's last process started (0 if it never ran).",
			func(j core.JobStatus, _ core.Time) float64 {
				if j.PID == 0 && !j.HasExited {
					return 0
				}
				return unixSeconds(x.Wall(j.StartedAt))
			}},
		{"pmtr_job_restart_pending_seconds", "gauge", "Seconds until a waiting job starts again (0 when none is pending).",
			func(j core.JobStatus, now core.Time) float64 {
				if (j.State == core.Waiting || j.State == core.Failed) && j.NextStart > now {
					return time.Duration(j.NextStart - now).Seconds()
				}
				return 0
			}},
		{"pmtr_job_restart_delay_seconds", "gauge", "The wait chosen after the job's last failed run (its backoff step with jitter, 10 s without backoff, its retry after giving up); 0 after a stable run.",
			func(j core.JobStatus, _ core.Time) float64 { return time.Duration(j.RestartDelay).Seconds() }},
		{"pmtr_job_gave_up", "gauge", "1 while the job has given up (give-up: too many failed runs within its window), until its retry or pmtr start.",
			func(j core.JobStatus, _ core.Time) float64 { return boolf(j.GaveUp) }},
		{"pmtr_job_enabled", "gauge", "1 when the job may run (enabled by the config or by control, not held).",
			func(j core.JobStatus, _ core.Time) float64 { return boolf(j.Enabled) }},
		{"pmtr_job_ready", "gauge", "1 while the job's process runs and is ready (its ready condition held, or it has none).",
			func(j core.JobStatus, _ core.Time) float64 { return boolf(j.Up() && (!j.HasReady || j.Ready)) }},
		{"pmtr_job_check_failures_total", "counter", "Failed checks of the job (a missed watchdog is one) since pmtr started.",
			func(j core.JobStatus, _ core.Time) float64 { return float64(j.CheckFailures) }},
	}
}

func (x *Exporter) daemonFamilies(e *expo, k core.Counters) {
	e.family("pmtr_config_reloads_total", "counter", "Config reloads since pmtr started, by result.")
	e.sample("pmtr_config_reloads_total", float64(k.ReloadsOK), "result", "ok")
	e.sample("pmtr_config_reloads_total", float64(k.ReloadsRejected), "result", "rejected")
	e.family("pmtr_config_last_reload_successful", "gauge", "1 when the last reload applied, 0 when it was rejected.")
	e.sample("pmtr_config_last_reload_successful", boolf(k.LastReloadOK))
	e.family("pmtr_config_last_reload_success_timestamp_seconds", "gauge", "Unix time when a config was last applied.")
	e.sample("pmtr_config_last_reload_success_timestamp_seconds", unixSeconds(x.Wall(k.LastReloadOKAt)))
	e.family("pmtr_control_messages_total", "counter", "Control messages since pmtr started, by result.")
	e.sample("pmtr_control_messages_total", float64(k.ControlAccepted), "result", "accepted")
	e.sample("pmtr_control_messages_total", float64(k.ControlRejected+int(x.Refused())), "result", "rejected")
	if x.NotifyDropped != nil {
		e.family("pmtr_notify_dropped_total", "counter", "sd_notify messages credited to no job since pmtr started, by reason: too_long (over 4096 bytes), unknown_sender (no credentials), not_job (not from a process of the job).")
		for _, c := range x.NotifyDropped() {
			e.sample("pmtr_notify_dropped_total", float64(c.N), "reason", c.Label)
		}
	}
	e.family("pmtr_build_info", "info", "pmtr's version; the value is always 1.")
	e.sample("pmtr_build_info", 1, "version", Version)
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

// Servers are the "metrics on" endpoints; servers of unchanged lines
// survive a reload. Configure and CloseAll are called from one goroutine.
type Servers struct {
	log   Logger
	pages Pages
	mu    sync.Mutex // Configure runs on the network worker, the upgrade's calls on its own goroutine
	open  map[string]*server
}

// Logger is where bind failures and warnings go (pmtr's log).
type Logger interface {
	Logf(level core.Level, format string, args ...any)
}

// NewServers serves pages on the endpoints Configure is given.
func NewServers(log Logger, pages Pages) *Servers {
	return &Servers{log: log, pages: pages, open: map[string]*server{}}
}

func metricsID(m confgrammar.Metrics) string { return net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) }

// Configure opens new endpoints and closes removed ones. A bind failure is
// logged and pmtr runs on.
func (s *Servers) Configure(specs []confgrammar.Metrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for _, m := range specs {
		want[metricsID(m)] = true
	}
	for id, srv := range s.open {
		if !want[id] {
			srv.Close()
			delete(s.open, id)
		}
	}
	for _, m := range specs {
		id := metricsID(m)
		if _, ok := s.open[id]; ok {
			continue
		}
		srv, err := serve(id, s.log, s.pages)
		if err != nil {
			s.log.Logf(core.Error, "can't serve metrics on http://%s: %s", id, hostfacts.Strerror(err))
			continue
		}
		if host, _, _ := net.SplitHostPort(id); hostfacts.OpenToOthers(net.ParseIP(host)) {
			s.log.Logf(core.Error, "warning: metrics on http://%s can be read by anyone who can reach it (they are read-only and unauthenticated)", id)
		}
		s.open[id] = srv
	}
}

// CloseAll closes every endpoint.
func (s *Servers) CloseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, srv := range s.open {
		srv.Close()
		delete(s.open, id)
	}
}

// Inherit serves the endpoints the pmtr before an upgrade listened on
// (by "HOST:PORT"), before the first Configure, which keeps those of its
// lines and closes the others. One that cannot be used is logged; the
// config's line binds it again.
func (s *Servers) Inherit(files map[string]*os.File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, f := range files {
		ln, err := net.FileListener(f)
		f.Close()
		tl, ok := ln.(*net.TCPListener)
		if err != nil || !ok {
			s.log.Logf(core.Error, "metrics on http://%s: the socket handed over cannot be used (%v); binding it again", id, err)
			if ln != nil {
				ln.Close()
			}
			continue
		}
		s.open[id] = serveOn(tl, id, s.log, s.pages)
	}
}

// Pause stops accepting on every endpoint (pmtr upgrade), and waits up
// to within for the scrapes being answered; false when some still are.
func (s *Servers) Pause(within time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	deadline := time.Now().Add(within)
	ok := true
	for _, srv := range s.open {
		ok = srv.gate.Pause(time.Until(deadline)) && ok
	}
	for _, srv := range s.open {
		ok = srv.gate.Idle(time.Until(deadline)) && ok
	}
	return ok
}

// Resume accepts again on every endpoint.
func (s *Servers) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, srv := range s.open {
		srv.gate.Resume()
	}
}

// Files are descriptors of the endpoints for the new binary, by
// "HOST:PORT" (close-on-exec duplicates; the caller closes them).
func (s *Servers) Files() (map[string]*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*os.File{}
	for id, srv := range s.open {
		f, err := srv.gate.File()
		if err != nil {
			for _, f := range out {
				f.Close()
			}
			return nil, fmt.Errorf("live: metrics on http://%s: %w", id, err)
		}
		out[id] = f
	}
	return out, nil
}

// ServeFleet serves the hosts' UDP reports (C pmtr's included) as
// metrics on addr, for pmtr rptserver --metrics.
func ServeFleet(addr string, log Logger, hosts func() []datagram.HostJobs) error {
	_, err := serve(addr, log, Pages{Metrics: func(w io.Writer, om bool) error { return writeFleet(w, om, hosts()) }})
	if err != nil {
		return fmt.Errorf("metrics on %s: %w", addr, err)
	}
	return nil
}

func writeFleet(w io.Writer, om bool, hosts []datagram.HostJobs) error {
	e := newExpo(w, om)
	names := fleetNames(hosts)
	e.family("pmtr_fleet_job_enabled", "gauge", "1 when the job is enabled on the reporting host, as its last UDP report says.")
	for i, h := range hosts {
		for _, j := range h.Jobs {
			e.sample("pmtr_fleet_job_enabled", boolf(j.Enabled), "host", names[i], "job", j.Name)
		}
	}
	e.family("pmtr_fleet_job_uptime_seconds", "gauge", "Seconds the job has run on the reporting host, as its last UDP report says.")
	for i, h := range hosts {
		for _, j := range h.Jobs {
			e.sample("pmtr_fleet_job_uptime_seconds", float64(j.Seconds), "host", names[i], "job", j.Name)
		}
	}
	e.family("pmtr_fleet_report_age_seconds", "gauge", "Seconds since the host's last UDP report (hosts silent for 60 s are forgotten).")
	for i, h := range hosts {
		e.sample("pmtr_fleet_report_age_seconds", h.Age.Seconds(), "host", names[i])
	}
	return e.end()
}

// fleetNames labels each host by its report id; two hosts that report one
// name are told apart by address.
func fleetNames(hosts []datagram.HostJobs) []string {
	seen := map[string]bool{}
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.ID
		if seen[h.ID] {
			out[i] += "@" + h.Sender
		}
		seen[out[i]] = true
	}
	return out
}

// Healthz answers /healthz: 200 when every job that should run is ready
// and passing its checks, else 503 naming those that are not (a kubelet's
// readiness probe of pmtr as PID 1).
func (x *Exporter) Healthz() (int, string) {
	m, ok := x.Query()
	if !ok {
		return 503, "pmtr's loop did not answer in time\n"
	}
	if bad := driver.Unready(m.Snapshot); len(bad) > 0 {
		return 503, "not ready: " + strings.Join(bad, " ") + "\n"
	}
	return 200, "ok\n"
}

// Livez answers /livez: 200 while pmtr's loop answers (a liveness probe).
func (x *Exporter) Livez() (int, string) {
	if _, ok := x.Query(); !ok {
		return 503, "pmtr's loop did not answer in time\n"
	}
	return 200, "ok\n"
}
