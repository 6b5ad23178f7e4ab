// Package udpnet owns pmtr's UDP sockets: the "report to" destinations,
// which get the core's status reports in C pmtr's datagram format, and the
// "listen on" control sockets, whose datagrams (authenticated when a key is
// set, each accepted once across listeners and restarts) become
// driver.ControlTexts on a small queue of their own.
//
// A Worker runs one goroutine that applies each driver.Setup and sends the
// reports, since dialling, DNS and binding may wait; Apply and Report only
// queue (the latest setup wins, at most 16 reports wait) and return at
// once. The other outside-world parts of a setup, the watched files and
// the metrics endpoints, are applied on that goroutine too, through Watch
// and Endpoints. Each control socket has a reader goroutine, which drops
// datagrams while the driver is behind, so a flood cannot starve job
// supervision.
package udpnet

import (
	"os"
	"sync"

	"github.com/benbjohnson/clock"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/driver"
)

// maxQueuedReports: reports beyond this, while the network worker is
// stuck (DNS of a new listen line, say), are dropped; the next one carries
// the same state anyway.
const maxQueuedReports = 16

// Logger is pmtr's log.
type Logger interface {
	Logf(level core.Level, format string, args ...any)
}

// Endpoints are the sockets set up beside udpnet's (metrics.Servers).
type Endpoints interface {
	Configure(specs []confgrammar.Metrics)
	CloseAll()
}

// Deps is what a Worker works with.
type Deps struct {
	Clock     clock.Clock
	Log       Logger
	Stop      <-chan struct{}      // closed when the run ends: the sockets close
	Watch     func(files []string) // the files to watch (set first)
	Endpoints Endpoints            // configured last
	// Inherited are the listen sockets handed over by the pmtr before an
	// upgrade, by listen line (see Files).
	Inherited map[string]*os.File
}

// Worker owns the report and control sockets. Setting them up may wait
// for DNS or read key files, so it runs on a goroutine of its own: the
// driver only queues a setup (the latest wins) or a report.
type Worker struct {
	rep     *reporter
	ctl     *controller
	d       Deps
	mu      sync.Mutex
	setup   *driver.Setup
	reports []string
	wake    chan struct{}
	// applying is held while a setup or a report is applied, and by
	// Pause: pmtr upgrade takes the sockets as they are.
	applying sync.Mutex
}

// NewWorker starts the worker's goroutine; it ends with d.Stop.
func NewWorker(d Deps) *Worker {
	n := &Worker{rep: newReporter(d.Log), ctl: newController(d.Clock, d.Log), wake: make(chan struct{}, 1), d: d}
	n.ctl.inherit(d.Inherited)
	go n.run()
	return n
}

// Apply queues a setup; a setup not applied yet is replaced.
func (n *Worker) Apply(s driver.Setup) {
	n.mu.Lock()
	n.setup = &s
	n.mu.Unlock()
	n.poke()
}

// Report queues a status report for every destination.
func (n *Worker) Report(body string) {
	n.mu.Lock()
	if len(n.reports) < maxQueuedReports {
		n.reports = append(n.reports, body)
	}
	n.mu.Unlock()
	n.poke()
}

// Control is the queue of control messages for the driver.
func (n *Worker) Control() <-chan driver.ControlText { return n.ctl.out }

// Refused counts the datagrams that keyed listeners refused.
func (n *Worker) Refused() int64 { return n.ctl.refused.Load() }

func (n *Worker) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Worker) run() {
	defer n.ctl.closeAll()
	defer n.d.Endpoints.CloseAll()
	defer n.rep.closeAll()
	for {
		select {
		case <-n.wake:
		case <-n.d.Stop:
			return
		}
		n.applying.Lock()
		n.mu.Lock()
		s, reports := n.setup, n.reports
		n.setup, n.reports = nil, nil
		n.mu.Unlock()
		if s != nil {
			if n.d.Watch != nil {
				n.d.Watch(s.Watch)
			}
			n.rep.configure(s.Reports)
			n.ctl.configure(s.Listens, s.Keys)
			n.d.Endpoints.Configure(s.Metrics)
		}
		for _, r := range reports {
			n.rep.send(r)
		}
		n.applying.Unlock()
	}
}
