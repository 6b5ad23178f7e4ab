package health

import (
	"fmt"
	"os"

	"pmtr/driver"
	"pmtr/handover"
)

// pmtr upgrade: the old pmtr holds the outcomes still and hands the
// sockets and pipes over; the new one inherits them.

// holdReq is a pause of the forwarder.
type holdReq struct{ ack, resume chan struct{} }

// Pause holds the readiness outcomes: the notify reader stops between
// reads and the forwarder between outcomes (what they had read waits in
// the forwarder's queue, Queued). On the upgrade's goroutine.
func (h *Health) Pause() {
	h.sockMu.Lock() // no notify socket is let go under the upgrade
	h.sockHeld = true
	if h.notes != nil {
		h.notes.Pause()
	}
	p := holdReq{ack: make(chan struct{}), resume: make(chan struct{})}
	select {
	case h.pauses <- p:
		<-p.ack
		h.held = &p
	case <-h.stop:
	}
}

// Resume undoes Pause.
func (h *Health) Resume() {
	if h.held != nil {
		close(h.held.resume)
		h.held = nil
	}
	if h.notes != nil {
		h.notes.Resume()
	}
	if h.sockHeld {
		h.sockHeld = false
		h.sockMu.Unlock()
	}
}

// Queued are the outcomes the paused forwarder holds.
func (h *Health) Queued() <-chan driver.Input { return h.fwd }

// Files are the notify sockets (with their owners) and readiness pipes.
func (h *Health) Files() ([]handover.NotifySocket, []handover.ReadyPipe) {
	if h.notes == nil {
		return nil, nil
	}
	socks, pipes := h.notes.Files()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, s := range socks {
		o, ok := h.owners[s.Job]
		if !ok {
			o = [2]int{-1, -1}
		}
		socks[i].UID, socks[i].GID = o[0], o[1]
	}
	return socks, pipes
}

// Inherit takes over the notify sockets and readiness pipes, and knows
// the jobs' leaders again.
func (h *Health) Inherit(st *handover.State) {
	h.mu.Lock()
	for _, j := range st.Driver.Core.Jobs {
		if j.PID != 0 {
			h.leaders[j.Spec.Name], h.jobOf[j.PID] = j.PID, j.Spec.Name
		}
	}
	for _, s := range st.Files.Notify {
		h.paths[s.Job], h.owners[s.Job] = s.Path, [2]int{s.UID, s.GID}
	}
	h.mu.Unlock()
	if h.notes == nil {
		for _, s := range st.Files.Notify {
			os.NewFile(uintptr(s.FD), "notify").Close()
		}
		for _, p := range st.Files.Pipes {
			os.NewFile(uintptr(p.FD), "readiness").Close()
		}
		return
	}
	err := h.notes.Inherit(st.Files.Notify, st.Files.Pipes, func(job string) func(pid int) bool {
		return func(pid int) bool { return h.belongs(job, pid) }
	})
	if err != nil {
		h.noteErr = fmt.Errorf("the notify sockets handed over: %w", err)
	}
}
