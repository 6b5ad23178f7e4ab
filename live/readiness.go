package live

import (
	"os"

	"golang.org/x/sys/unix"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/live/health"
	"pmtr/live/metrics"
	"pmtr/live/notify"
	"pmtr/live/probe"
	"pmtr/live/spawn"
)

// The wiring of live/health (readiness and health checks, issue 23): its
// attempts run on live/probe's runner, exec probes start through spawn's
// reaper, the jobs are heard through live/notify, and what those report
// reaches it as core events.

func (b *backend) newHealth() *health.Health {
	return health.New(health.Deps{ConfigPath: b.o.ConfigPath, Jobs: b.cg, Send: b.q.Send, Now: b.Now, Stop: b.q.Done(),
		Probes: func(deliver func(core.Event)) health.Prober {
			return probes{probe.New(probe.Config{Clock: b.clk, Spawn: b.spawnProbe, Deliver: func(r probe.Result) {
				deliver(core.ProbeResult{Job: r.ID.Job, Seq: r.ID.Seq, OK: r.OK, Outcome: r.Outcome, Output: r.Output})
			}})}
		},
		Notes: b.newNotes})
}

func (b *backend) newNotes(dir string, deliver func(core.Event)) (health.Notes, error) {
	l, err := notify.New(notify.Config{Dir: dir, Clock: b.clk,
		Logf: func(format string, args ...any) { b.log.Logf(core.Error, format, args...) },
		Deliver: func(n notify.Notification) {
			deliver(core.Notified{Job: n.Job, PID: n.PID, Attempt: uint64(n.Attempt), Ready: n.Ready, Watchdog: n.Watchdog,
				Stopping: n.Stopping, HasStatus: n.HasStatus, Status: n.Status, PipeClosed: n.PipeClosed})
		}})
	if err != nil {
		return nil, err // not a nil *Listener in the interface
	}
	b.notes = l // made once, in newHealth, before the metrics can ask
	return l, nil
}

// notifyDropped counts the notify messages credited to no job, by reason
// (all 0 without a listener: the series stay the same).
func (b *backend) notifyDropped() []metrics.Count {
	var n [len(notify.DropReasons)]int64
	if b.notes != nil {
		n = b.notes.DroppedBy()
	}
	counts := make([]metrics.Count, len(n))
	for i := range n {
		counts[i] = metrics.Count{Label: notify.DropReasons[i], N: n[i]}
	}
	return counts
}

// probes runs the health room's attempts on live/probe's runner.
type probes struct{ *probe.Runner }

var probeKinds = map[confgrammar.ProbeKind]probe.Kind{confgrammar.ProbeTCP: probe.TCP, confgrammar.ProbeHTTP: probe.HTTP,
	confgrammar.ProbeExec: probe.Exec, confgrammar.ProbeFile: probe.File}

func (p probes) Start(e core.Probe, exec health.ExecSpec) bool {
	return p.Runner.Start(probe.Request{ID: probe.ID{Job: e.Job, Seq: e.Seq}, Kind: probeKinds[e.What.Kind],
		Target: e.What.Target, Timeout: e.Timeout, Exec: probe.ExecSpec(exec)})
}

// spawnProbe starts an exec probe through pmtr's reaper, which waits for
// every child (wait4(-1)): a probe's own wait would race it.
func (b *backend) spawnProbe(path string, argv []string, attr *os.ProcAttr) (probe.Child, error) {
	exited := make(chan probe.Exit, 1)
	pid, kill, err := b.procs.StartWatched(path, argv, attr, func(ws unix.WaitStatus) { exited <- probe.Exit{Status: ws} })
	if err != nil {
		return probe.Child{}, err
	}
	return probe.Child{PID: pid, Exited: exited, Kill: kill}, nil
}

// notice gives each start what the health room adds to it.
type notice struct{ h *health.Health }

func (n notice) ForStart(e core.Spawn) (spawn.StartNotice, error) {
	s, err := n.h.ForStart(e)
	return spawn.StartNotice(s), err
}
