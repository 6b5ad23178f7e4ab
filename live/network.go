package live

import (
	"sync"

	"github.com/benbjohnson/clock"

	"pmtr/driver"
	"pmtr/live/logsink"
	"pmtr/live/metrics"
)

// maxQueuedReports: reports beyond this, while the network worker is
// stuck (DNS of a new listen line, say), are dropped; the next one carries
// the same state anyway.
const maxQueuedReports = 16

// netWorker owns the report and control sockets. Setting them up may wait
// for DNS or read key files, so it runs on a goroutine of its own: the
// driver only queues a setup (the latest wins) or a report.
type netWorker struct {
	rep     *reporter
	ctl     *controller
	metrics *metrics.Servers
	watch   func(files []string) // the watcher's set, applied here too
	mu      sync.Mutex
	setup   *driver.Setup
	reports []string
	wake    chan struct{}
	stop    <-chan struct{}
}

func newNetWorker(clk clock.Clock, log *logsink.Logger, m *metrics.Servers, stop <-chan struct{}) *netWorker {
	n := &netWorker{rep: newReporter(log), ctl: newController(clk, log), wake: make(chan struct{}, 1), stop: stop,
		metrics: m}
	go n.run()
	return n
}

func (n *netWorker) configure(s driver.Setup) {
	n.mu.Lock()
	n.setup = &s
	n.mu.Unlock()
	n.poke()
}

func (n *netWorker) report(body string) {
	n.mu.Lock()
	if len(n.reports) < maxQueuedReports {
		n.reports = append(n.reports, body)
	}
	n.mu.Unlock()
	n.poke()
}

func (n *netWorker) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *netWorker) run() {
	defer n.ctl.closeAll()
	defer n.metrics.CloseAll()
	defer n.rep.closeAll()
	for {
		select {
		case <-n.wake:
		case <-n.stop:
			return
		}
		n.mu.Lock()
		s, reports := n.setup, n.reports
		n.setup, n.reports = nil, nil
		n.mu.Unlock()
		if s != nil {
			if n.watch != nil {
				n.watch(s.Watch)
			}
			n.rep.configure(s.Reports)
			n.ctl.configure(s.Listens, s.Keys)
			n.metrics.Configure(s.Metrics)
		}
		for _, r := range reports {
			n.rep.send(r)
		}
	}
}
