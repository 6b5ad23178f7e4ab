package joboutput

import (
	"os"
	"slices"
	"time"

	"pmtr/handover"
)

// pmtr upgrade: the reader holds still between two reads, its pipes go to
// the new binary with what was read of a line not yet ended, and the
// rings go along (handover.EncodeRings).

type pauseReq struct{ ack, resume chan struct{} }

// woken: the reader was woken. It reports whether to finish (Close); a
// pause (Pause) holds the reader here until Resume.
func (r *Reader) woken() bool {
	select {
	case <-r.stopped:
		return true
	default:
	}
	r.pmu.Lock()
	p := r.preq
	r.pmu.Unlock()
	if p == nil {
		return false
	}
	close(p.ack)
	select {
	case <-p.resume:
		return false
	case <-r.stopped:
		return true
	}
}

// Pause stops reading the pipes between two reads (their writers wait
// once a pipe is full); false when the reader did not stop within.
func (r *Reader) Pause(within time.Duration) bool {
	p := &pauseReq{ack: make(chan struct{}), resume: make(chan struct{})}
	r.pmu.Lock()
	r.preq = p
	r.pmu.Unlock()
	r.set.Wake()
	select {
	case <-p.ack:
		return true
	case <-time.After(within):
		return false
	case <-r.done:
		return false
	}
}

// Resume reads again.
func (r *Reader) Resume() {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	if r.preq != nil {
		close(r.preq.resume)
		r.preq = nil
	}
}

// Outputs are the pipes read now (admitted ones not yet in the set
// among them), for the new binary; call it while paused. Their
// descriptors are the pipes' own.
func (r *Reader) Outputs() []handover.Output {
	var out []handover.Output
	add := func(p *Pipe) {
		out = append(out, handover.Output{FD: int(p.fd), Job: p.name, PID: p.pid, Stderr: p.stderr, Part: slices.Clone(p.part)})
	}
	r.mu.Lock()
	for _, p := range r.pipes {
		add(p)
	}
	r.mu.Unlock()
	r.pendMu.Lock()
	for _, p := range r.pending {
		add(p)
	}
	r.pendMu.Unlock()
	slices.SortFunc(out, func(a, b handover.Output) int { return a.FD - b.FD })
	return out
}

// Inherit reads on the pipes the pmtr before an upgrade read, from where
// it stopped.
func (r *Reader) Inherit(outs []handover.Output) {
	var ps []*Pipe
	for _, o := range outs {
		p := r.Prepare(os.NewFile(uintptr(o.FD), "job output"), o.Job, o.PID, o.Stderr)
		if len(o.Part) > 0 {
			p.part = append(make([]byte, 0, maxLine), o.Part...)
		}
		ps = append(ps, p)
	}
	if len(ps) > 0 {
		r.Admit(ps...)
	}
}

// Export is every ring, the merged one (Merged) among them, for the new
// binary.
func (l *Rings) Export() []handover.Ring {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []handover.Ring{{Merged: true, Lines: slices.Clone(l.all.lines)}}
	for job, r := range l.rings {
		out = append(out, handover.Ring{Job: job, Lines: slices.Clone(r.lines), Out: r.out, Errf: r.errf})
	}
	slices.SortFunc(out[1:], func(a, b handover.Ring) int {
		if a.Job < b.Job {
			return -1
		}
		return 1
	})
	return out
}

// Import puts back the rings of the pmtr before an upgrade.
func (l *Rings) Import(rings []handover.Ring) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range rings {
		r := &l.all
		if !h.Merged {
			r = l.get(h.Job)
			r.out, r.errf = h.Out, h.Errf
		}
		r.lines, r.bytes = h.Lines, 0
		for _, line := range h.Lines {
			r.bytes += len(line)
		}
	}
}
