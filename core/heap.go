package core

import "container/heap"

// wake is one entry of the deadline heap. Entries go stale when a job's
// deadline changes; they are recognised by comparing with job.wakeAt.
type wake struct {
	at  Time
	seq uint64 // insertion order breaks ties, for determinism
	job *job
}

type wakeHeap []wake

func (h wakeHeap) Len() int { return len(h) }
func (h wakeHeap) Less(i, k int) bool {
	return h[i].at < h[k].at || h[i].at == h[k].at && h[i].seq < h[k].seq
}
func (h wakeHeap) Swap(i, k int) { h[i], h[k] = h[k], h[i] }
func (h *wakeHeap) Push(x any)   { *h = append(*h, x.(wake)) }
func (h *wakeHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	return w
}

// arm records the job's current deadline and pushes it on the heap.
func (m *Machine) arm(j *job) {
	at := j.deadline(m.now)
	if at == j.wakeAt {
		return
	}
	j.wakeAt = at
	if at != Never {
		m.seq++
		heap.Push(&m.wakes, wake{at: at, seq: m.seq, job: j})
	}
}

// dropStale pops entries whose job no longer has that deadline.
func (m *Machine) dropStale() {
	for len(m.wakes) > 0 {
		w := m.wakes[0]
		if w.job.wakeAt == w.at && !w.job.gone {
			return
		}
		heap.Pop(&m.wakes)
	}
}
