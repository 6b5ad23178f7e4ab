// Package logsink is pmtr's own log: where its lines and its jobs' output
// lines go (stderr in the C pmtr -F form, the journal with priorities,
// syslog, or a file in the runtime directory when there is no syslog).
//
// A Logger owns one writer goroutine, which alone talks to the sink. Log
// and Logf never block: pmtr's own lines are queued, and left out and
// counted when the sink is that far behind. JobLine waits for room, which
// slows only the job's output reader. Flush waits (up to 2 s) for the
// queue to drain.
package logsink

import (
	"fmt"
	"io"
	"log/syslog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"pmtr/core"
	"pmtr/live/hostfacts"
)

// Logger writes pmtr's log where it fits: to stderr as "pmtr[PID]: message"
// in the foreground; to the journal with "<N>" priority prefixes (and no
// pid prefix: the journal adds it) when stderr is the journal; to syslog
// (ident pmtr) when detached; to a file in the runtime directory when
// detached without a syslog socket. It is safe for concurrent use: job
// output readers and the driver share it.
type Logger struct {
	mu      sync.Mutex
	queue   lineQueue      // lines for the writer goroutine: a slow sink never blocks pmtr
	dropped atomic.Int64   // lines left out while the queue was full
	pending atomic.Int64   // lines queued and not written yet
	w       io.Writer      // foreground or journal sink, or nil
	journal bool           // w is the journal: priority prefixes, no pid
	file    bool           // w is the fallback file: times in front
	path    string         // the fallback file's path, when file
	sys     *syslog.Writer // daemon sink, or nil
	jobs    *syslog.Writer // job output: facility daemon, as C pmtr
	pid     int
	verbose int
	tee     atomic.Pointer[func(job, msg string)] // also gets pmtr's own lines (SetTee)
	// The writer's own, under mu: a line's bytes, the end of a line a
	// full disk cut short (when it could not be taken back), and the
	// lines not written since writing last worked, and why.
	buf     []byte
	rest    []byte
	lost    int64
	lostErr error
}

// SetTee hands pmtr's own lines (not the jobs' output, not -v's debug
// lines) to f as well, with the job each is about ("" for none): the
// merged view of pmtr logs. f must not block.
func (l *Logger) SetTee(f func(job, msg string)) { l.tee.Store(&f) }

// logQueue is how many lines may wait for a slow sink (a stderr pipe that
// nobody reads, a stuck syslog) before lines are left out and counted.
const logQueue = 4096

type logLine struct {
	s    *syslog.Writer
	prio syslog.Priority
	msg  string
}

// lineQueue holds the lines the writer has not taken yet. Its memory
// follows the backlog (a buffered channel of logQueue lines would keep
// 128 kB for good).
type lineQueue struct {
	mu    sync.Mutex
	cond  *sync.Cond // lines to take, or room for a job's line
	lines []logLine
}

// push queues a line; when logQueue lines wait, a job's line (wait) waits
// for room and pmtr's own is refused.
func (q *lineQueue) push(line logLine, wait bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.lines) >= logQueue {
		if !wait {
			return false
		}
		q.cond.Wait()
	}
	q.lines = append(q.lines, line)
	q.cond.Broadcast()
	return true
}

// take waits for lines and takes all of them.
func (q *lineQueue) take() []logLine {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.lines) == 0 {
		q.cond.Wait()
	}
	lines := q.lines
	q.lines = nil
	q.cond.Broadcast()
	return lines
}

func newLogger(w io.Writer, verbose int) *Logger {
	l := &Logger{w: w, pid: os.Getpid(), verbose: verbose}
	l.queue.cond = sync.NewCond(&l.queue.mu)
	go l.writer()
	return l
}

// NewStderrLogger logs to w in the C pmtr -F form, or with priorities when
// w is stderr and stderr is the journal (JOURNAL_STREAM).
func NewStderrLogger(w io.Writer, verbose int) *Logger {
	l := newLogger(w, verbose)
	l.journal = w == io.Writer(os.Stderr) && stderrIsJournal()
	return l
}

// writer writes the queued lines in order, and says how many were left out.
func (l *Logger) writer() {
	for {
		for _, line := range l.queue.take() {
			if n := l.dropped.Swap(0); n > 0 {
				l.put(line.s, syslog.LOG_ERR, fmt.Sprintf("... %d log lines left out: the log could not keep up", n))
			}
			l.put(line.s, line.prio, line.msg)
			l.pending.Add(-1)
		}
	}
}

// Flush waits (up to 2 s) until the queued lines are written.
func (l *Logger) Flush() {
	for deadline := time.Now().Add(2 * time.Second); l.pending.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// Dropped is how many lines were left out since the log last said so.
func (l *Logger) Dropped() int64 { return l.dropped.Load() }

// stderrIsJournal: systemd connected stderr to the journal; JOURNAL_STREAM
// holds that stream's device and inode.
func stderrIsJournal() bool {
	dev, ino, ok := strings.Cut(os.Getenv("JOURNAL_STREAM"), ":")
	var st syscall.Stat_t
	if !ok || syscall.Fstat(2, &st) != nil {
		return false
	}
	return strconv.FormatUint(st.Dev, 10) == dev && strconv.FormatUint(st.Ino, 10) == ino
}

// NewSyslogLogger logs to syslog (facility local0 for pmtr, daemon for jobs).
// Without a syslog socket it logs to a file in the runtime directory
// (named after configPath), and says so once there and on w.
func NewSyslogLogger(w io.Writer, configPath string, verbose int) *Logger {
	l := newLogger(w, verbose)
	if s, err := syslog.New(syslog.LOG_INFO|syslog.LOG_LOCAL0, "pmtr"); err == nil {
		l.sys, l.w = s, nil
		if j, err := syslog.New(syslog.LOG_INFO|syslog.LOG_DAEMON, "pmtr"); err == nil {
			l.jobs = j
		}
		return l
	}
	path := LogFile(configPath)
	if hostfacts.SecureDir(filepath.Dir(path), true) == nil {
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
			l.w, l.file, l.path = f, true, path
			l.Log(core.Info, "no syslog socket (/dev/log): pmtr logs to "+path)
		}
	}
	return l
}

// RemoveFile removes the fallback log file, if pmtr logs to one, once
// its lines are written: a clean exit leaves nothing in the runtime
// directory.
func (l *Logger) RemoveFile() {
	if !l.file {
		return
	}
	l.Flush()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w = nil // a late line goes nowhere rather than to a removed file
	os.Remove(l.path)
}

// LogFile is where a detached pmtr logs when there is no syslog.
func LogFile(configPath string) string {
	return filepath.Join(hostfacts.RuntimeDir(), "log-"+hostfacts.ConfigHash(configPath))
}

// SplitsStreams: the sink keeps priorities, so a job's stderr (warning) is
// read apart from its stdout (info).
func (l *Logger) SplitsStreams() bool { return l.journal || l.jobs != nil }

// Log writes one line at the given level.
func (l *Logger) Log(level core.Level, msg string) { l.LogFor(level, "", msg) }

// LogFor writes one line at the given level about job ("" for none).
func (l *Logger) LogFor(level core.Level, job, msg string) {
	if f := l.tee.Load(); f != nil && level != core.Debug {
		(*f)(job, msg)
	}
	if level == core.Debug && l.verbose == 0 {
		return
	}
	prio := map[core.Level]syslog.Priority{core.Error: syslog.LOG_ERR, core.Debug: syslog.LOG_DEBUG}[level]
	if prio == 0 {
		prio = syslog.LOG_INFO
	}
	l.write(l.sys, prio, msg, true)
}

// write queues one line for the writer goroutine. pmtr's own lines never
// wait: when the sink is behind they are left out and counted. A job's
// output line waits, which slows only that job's reader (and so the job),
// as a full pipe always did.
func (l *Logger) write(s *syslog.Writer, prio syslog.Priority, msg string, own bool) {
	l.pending.Add(1)
	if !l.queue.push(logLine{s, prio, msg}, !own) {
		l.pending.Add(-1)
		l.dropped.Add(1)
	}
}

// put sends one line to syslog writer s at prio, or to w in its form.
// A line goes to w whole or not at all; the lines that could not be
// written are counted and said once writing works again.
func (l *Logger) put(s *syslog.Writer, prio syslog.Priority, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case s != nil:
		map[syslog.Priority]func(string) error{syslog.LOG_ERR: s.Err, syslog.LOG_WARNING: s.Warning,
			syslog.LOG_DEBUG: s.Debug, syslog.LOG_INFO: s.Info}[prio](msg)
		return
	case l.w == nil:
		return
	}
	if l.lost > 0 {
		notice := fmt.Sprintf("... %d log lines left out: writing the log failed (%s)", l.lost, hostfacts.Strerror(l.lostErr))
		if !l.writeLine(syslog.LOG_ERR, notice) {
			l.lost++ // and this one
			return
		}
		l.lost = 0
	}
	if !l.writeLine(prio, msg) {
		l.lost++
	}
}

// writeLine writes one line to w in its form; false when it could not.
// A write cut short (a full disk) is taken back, so that no torn line is
// left for the next one to run into: a file is truncated to where the
// line began; elsewhere the line's end is written first when writing
// works again.
func (l *Logger) writeLine(prio syslog.Priority, msg string) bool {
	b := l.buf[:0]
	switch {
	case l.journal:
		b = fmt.Appendf(b, "<%d>%s\n", prio, msg)
	case l.file:
		b = fmt.Appendf(b, "%s pmtr[%d]: %s\n", time.Now().Format("2006-01-02T15:04:05.000"), l.pid, msg)
	default:
		b = fmt.Appendf(b, "pmtr[%d]: %s\n", l.pid, msg)
	}
	if cap(b) <= 64<<10 {
		l.buf = b
	}
	if len(l.rest) > 0 {
		n, err := l.w.Write(l.rest)
		l.rest = l.rest[n:]
		if err != nil {
			l.lostErr = err
			return false
		}
		l.rest = nil
	}
	n, err := l.w.Write(b)
	if err == nil {
		return true
	}
	l.lostErr = err
	if n > 0 && n < len(b) && !takeBack(l.w, n) {
		l.rest = append([]byte(nil), b[n:]...)
		return true // it will be whole: its end goes first
	}
	return false
}

// takeBack removes the last n bytes written to a file.
func takeBack(w io.Writer, n int) bool {
	f, ok := w.(interface {
		io.Seeker
		Truncate(size int64) error
	})
	if !ok {
		return false
	}
	end, err := f.Seek(0, io.SeekCurrent)
	if err != nil || end < int64(n) || f.Truncate(end-int64(n)) != nil {
		return false
	}
	f.Seek(end-int64(n), io.SeekStart) // (opened without O_APPEND: no hole)
	return true
}

// Logf formats and writes one line.
func (l *Logger) Logf(level core.Level, format string, args ...any) {
	l.Log(level, fmt.Sprintf(format, args...))
}

// JobLine logs one line of a job's output (facility daemon under syslog);
// a line from its stderr has warning priority where the sink keeps it.
func (l *Logger) JobLine(name string, pid int, text string, stderr bool) {
	prio := syslog.LOG_INFO
	if stderr {
		prio = syslog.LOG_WARNING
	}
	s := l.jobs
	if s == nil {
		s = l.sys
	}
	l.write(s, prio, fmt.Sprintf("%s[%d]: %s", name, pid, text), false)
}
