// Package joboutput reads what jobs write to pmtr's log and keeps each
// job's last lines for pmtr logs.
//
// A Reader owns one epoll set of every job's output pipes and the two
// goroutines that serve it: one reads the pipes and logs their lines, one
// adds newly admitted pipes to the set. Prepare and Admit never wait for a
// system call, so the driver's goroutine may call Admit; the reader itself
// waits when pmtr's log cannot keep up (and so do the jobs). Close waits
// up to a second. Rings holds the per-job rings under one mutex; its calls
// do not block.
package joboutput

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/core"
	"pmtr/live/epollset"
)

// maxLine is the longest job output line logged as one entry; longer lines
// are split, as C pmtr's 1000-byte reads split them.
const maxLine = 1000

// Reader logs each non-empty line the jobs write to pmtr's log as
// "NAME[PID]: line", with control bytes shown as '?'. One goroutine reads
// every job's pipe through one epoll set: a goroutine per pipe cost about
// 2.5 kB per job (docs/BENCHMARKS.md). A pipe is read until every writer
// has closed it (the job and any children that kept it). The driver never
// waits for it; when pmtr's log cannot keep up, the jobs' lines wait for
// room, and so do the jobs that write more than their pipe holds.
type Reader struct {
	log     Sink
	logs    *Rings
	set     *epollset.Set // the pipes; its wake-up asks the reader to finish or pause
	mu      sync.Mutex
	pipes   map[int32]*Pipe // by fd; nil once the reader has finished
	pendMu  sync.Mutex      // the driver waits only for this one, never for a system call
	pending []*Pipe         // admitted, not yet in the epoll set
	ended   bool            // the reader has finished: admitted pipes are closed
	kick    chan struct{}   // pending has pipes
	done    chan struct{}   // closed when the reader has finished
	closing sync.Once
	stopped chan struct{} // closed by Close
	pmu     sync.Mutex    // pmtr upgrade's pause (handover.go)
	preq    *pauseReq
	buf     []byte   // read buffer; the reader goroutine's own, as are spare
	spare   [][]byte // line buffers not in use
}

// Sink is pmtr's log as the reader sees it.
type Sink interface {
	JobLine(name string, pid int, text string, stderr bool)
	Logf(level core.Level, format string, args ...any)
}

// Pipe is one job's stdout or stderr pipe.
type Pipe struct {
	f      *os.File
	fd     int32
	name   string
	pid    int
	stderr bool
	part   []byte // a line begun and not ended yet, or nil: quiet jobs hold no buffer
}

// readPerTurn bounds what one pipe is read in a turn, so that a job that
// floods its output cannot starve the others' lines.
const readPerTurn = 64 << 10

// NewReader starts the reader of the jobs' output, which logs each line to
// log and keeps it in logs.
func NewReader(log Sink, logs *Rings) (*Reader, error) {
	set, err := epollset.New("live: job output")
	if err != nil {
		return nil, err
	}
	r := &Reader{log: log, logs: logs, set: set,
		pipes: map[int32]*Pipe{}, kick: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{}), buf: make([]byte, 16<<10)}
	go r.run()
	go r.register()
	return r, nil
}

// Prepare readies f, the read end of job name's pipe; nothing is read
// from it until it is admitted.
func (r *Reader) Prepare(f *os.File, name string, pid int, stderr bool) *Pipe {
	p := &Pipe{f: f, name: name, pid: pid, stderr: stderr, fd: -1}
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { p.fd = int32(fd) })
	}
	return p
}

// Close closes a pipe that is not to be admitted (pmtr is stopping).
func (p *Pipe) Close() { p.f.Close() }

// Admit has ps read from now on. It never waits for a system call (while
// pmtr runs it makes none), so that the driver can call it once it has
// logged the job's start: the start line comes before the job's output.
func (r *Reader) Admit(ps ...*Pipe) {
	r.pendMu.Lock()
	ended := r.ended
	if !ended {
		r.pending = append(r.pending, ps...)
	}
	r.pendMu.Unlock()
	if ended { // pmtr is stopping
		for _, p := range ps {
			p.f.Close()
		}
		return
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// register adds the admitted pipes to the epoll set, on a goroutine of its
// own, until the reader has finished.
func (r *Reader) register() {
	for {
		select {
		case <-r.kick:
		case <-r.done:
			return
		}
		r.pendMu.Lock()
		ps := r.pending
		r.pending = nil
		r.pendMu.Unlock()
		r.mu.Lock()
		for _, p := range ps {
			r.add(p)
		}
		r.mu.Unlock()
	}
}

// add puts p in the epoll set; r.mu is held.
func (r *Reader) add(p *Pipe) {
	if r.pipes == nil { // the reader has finished: pmtr is stopping
		p.f.Close()
		return
	}
	err := unix.SetNonblock(int(p.fd), true)
	if err == nil {
		err = r.set.Add(int(p.fd))
	}
	if err != nil {
		r.log.Logf(core.Error, "can't read the output of job %s: %v", p.name, err)
		p.f.Close()
		return
	}
	r.pipes[p.fd] = p
}

// Close has the reader take what the pipes hold now, close them, and
// stop. It waits for that at most a second: a reader held by a log sink
// that does not take lines must not keep pmtr from stopping.
func (r *Reader) Close() {
	r.closing.Do(func() {
		close(r.stopped)
		r.set.Wake()
	})
	select {
	case <-r.done:
	case <-time.After(time.Second):
	}
}

func (r *Reader) run() {
	defer close(r.done)
	ready := make([]int32, 0, 64)
	for {
		fds, woken, err := r.set.Wait(ready)
		if err != nil {
			r.log.Logf(core.Error, "reading job output: %v", err)
			time.Sleep(time.Second) // not seen: an epoll set that fails keeps failing, but slowly
		}
		if woken && r.woken() {
			r.finish()
			return
		}
		for _, fd := range fds {
			r.mu.Lock()
			p := r.pipes[fd]
			r.mu.Unlock()
			if p != nil && r.turn(p, readPerTurn) {
				r.remove(p)
			}
		}
	}
}

// finish takes what every pipe holds and closes them all.
func (r *Reader) finish() {
	r.pendMu.Lock()
	r.ended = true
	pending := r.pending
	r.pending = nil
	r.pendMu.Unlock()
	r.mu.Lock()
	pipes := r.pipes
	r.pipes = nil
	r.mu.Unlock()
	for _, p := range pending { // admitted, not yet in the set
		if unix.SetNonblock(int(p.fd), true) == nil {
			pipes[p.fd] = p
		} else {
			p.f.Close()
		}
	}
	for _, p := range pipes {
		r.turn(p, 1<<20)
		r.flush(p)
		p.f.Close()
	}
	r.set.Close()
}

// turn reads p until it is empty or limit bytes are read; true once all
// its writers are gone.
func (r *Reader) turn(p *Pipe, limit int) bool {
	for read := 0; read < limit; {
		n, err := unix.Read(int(p.fd), r.buf)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return false
		case err != nil || n == 0:
			return true
		}
		r.feed(p, r.buf[:n])
		read += n
	}
	return false
}

// remove forgets a pipe whose writers are gone, logging its last part line.
func (r *Reader) remove(p *Pipe) {
	r.mu.Lock()
	delete(r.pipes, p.fd)
	r.set.Remove(int(p.fd))
	r.mu.Unlock()
	r.flush(p)
	p.f.Close()
}

// feed splits data into lines of at most maxLine bytes, the first one
// continuing p's part line, and keeps what does not end a line.
func (r *Reader) feed(p *Pipe, data []byte) {
	for len(data) > 0 {
		room := maxLine - len(p.part)
		end := bytes.IndexByte(data, '\n') + 1
		if end == 0 || end > room {
			if len(data) < room { // wait for the rest of the line
				if p.part == nil {
					p.part = r.lineBuf()
				}
				p.part = append(p.part, data...)
				return
			}
			end = room // a full maxLine piece without a line end
		}
		line := data[:end]
		if len(p.part) > 0 {
			line = append(p.part, line...)
		}
		r.emit(p, line)
		data = data[end:]
		r.release(p)
	}
}

// flush logs p's part line, as the end of its output.
func (r *Reader) flush(p *Pipe) {
	if len(p.part) > 0 {
		r.emit(p, p.part)
	}
	r.release(p)
}

// lineBuf lends a buffer for a part line.
func (r *Reader) lineBuf() []byte {
	if n := len(r.spare); n > 0 {
		b := r.spare[n-1]
		r.spare = r.spare[:n-1]
		return b
	}
	return make([]byte, 0, maxLine)
}

// release gives p's line buffer back, for the next job that is mid-line;
// a few are kept, the rest left to the collector.
func (r *Reader) release(p *Pipe) {
	if p.part != nil && len(r.spare) < 8 {
		r.spare = append(r.spare, p.part[:0])
	}
	p.part = nil
}

func (r *Reader) emit(p *Pipe, line []byte) {
	if text := sanitize(line); text != "" {
		r.log.JobLine(p.name, p.pid, text, p.stderr)
		line := OutputLine(p.name, p.pid, text, p.stderr)
		r.logs.Add(p.name, line)
		r.logs.AddAll(p.name, line)
	}
}

// sanitize drops the line end and replaces control bytes (but tab) with '?'.
func sanitize(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}
