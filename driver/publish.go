package driver

// Publisher is an optional part of a Backend: where the driver publishes
// the metrics' values, so that a scrape reads them without waiting in the
// driver's queue behind jobs' exits (live: the metrics room). After each
// input, when a scrape wants newer values, the driver publishes them.
type Publisher interface {
	// Stale: an input may have changed the values since the last publish
	// (said once until the next). Until it is said, readers may use the
	// last values, at a later time, without asking.
	Stale()
	// Wanted says a reader waits for values newer than the last published.
	Wanted() bool
	// Publish hands over the values; they are never changed afterwards.
	// The three are called on the driver's loop and must return at once.
	Publish(Metrics)
}

// MetricsWanted wakes an idle driver to publish the metrics' values (a
// scrape waits for them). A driver that is busy publishes after the
// input at hand, before this one comes up.
type MetricsWanted struct{}

func (MetricsWanted) isInput()       {}
func (MetricsWanted) String() string { return "metrics wanted" }

// readOnly: inputs that change nothing the metrics show.
func readOnly(in Input) bool {
	switch in.(type) {
	case StatusQuery, MetricsQuery, PlanQuery, WhyQuery, MetricsWanted:
		return true
	}
	return false
}

// publish hands the metrics' values to a Publisher that wants them. The
// jobs' states are copied only when an input may have changed them;
// otherwise the last values go again, at the time now.
func (d *Driver) publish(in Input) {
	if !readOnly(in) {
		d.changed()
	}
	if d.pub == nil || !d.pub.Wanted() {
		return
	}
	if d.pubStale {
		d.published = Metrics{Snapshot: d.Status(), Counters: d.m.Counters()}
		d.pubStale = false
	} else {
		d.published.Now = max(d.now, d.b.Now())
	}
	d.pub.Publish(d.published)
}

// changed: the metrics' values may have changed since the last publish.
func (d *Driver) changed() {
	if !d.pubStale {
		d.pubStale = true
		if d.pub != nil {
			d.pub.Stale()
		}
	}
}
