package core

import (
	"fmt"
	"slices"
	"time"
)

// Log lines caused by control messages from the network: at most
// NetLogBurst per NetLogWindow per listener, then one summary line when
// the window ends, so a flood cannot flood the log.
const (
	NetLogBurst  = 3
	NetLogWindow = Time(10 * time.Second)
)

type netLimit struct {
	start   Time
	n       int
	dropped int
}

// netLog logs a line caused by a control message received on via, within
// the limit.
func (m *Machine) netLog(via string, l Level, text string) {
	nl := m.netLimits[via]
	if nl == nil {
		nl = &netLimit{start: m.now}
		m.netLimits[via] = nl
	}
	if m.now-nl.start >= NetLogWindow {
		nl.start, nl.n = m.now, 0
	}
	if nl.n < NetLogBurst {
		nl.n++
		m.logf(l, "%s", text)
		return
	}
	nl.dropped++
	end := nl.start + NetLogWindow
	if m.netWake == Never || end < m.netWake {
		m.netWake = end
	}
}

// netSummaries logs the summary of every window that has ended with lines
// left out, in the order of the listeners' names.
func (m *Machine) netSummaries() {
	if m.netWake == Never || m.now < m.netWake {
		return
	}
	m.netWake = Never
	vias := make([]string, 0, len(m.netLimits))
	for via := range m.netLimits {
		vias = append(vias, via)
	}
	slices.Sort(vias)
	for _, via := range vias {
		nl := m.netLimits[via]
		end := nl.start + NetLogWindow
		switch {
		case nl.dropped == 0:
		case m.now >= end:
			m.logf(Error, "%s", netSummary(via, nl.dropped))
			nl.dropped = 0
		case m.netWake == Never || end < m.netWake:
			m.netWake = end
		}
	}
}

func netSummary(via string, n int) string {
	where := ""
	if via != "" {
		where = " on " + via
	}
	return fmt.Sprintf("... %d more log lines about control messages%s left out in the last %v", n, where, time.Duration(NetLogWindow))
}
