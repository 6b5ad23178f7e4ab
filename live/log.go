package live

import (
	"fmt"
	"io"
	"log/syslog"
	"os"
	"sync"

	"pmtr/core"
)

// Logger writes pmtr's log: to stderr as "pmtr[PID]: message" in the
// foreground, to syslog (ident pmtr, with pid) when detached. It is safe for
// concurrent use: job output readers and the driver share it.
type Logger struct {
	mu      sync.Mutex
	w       io.Writer      // foreground sink, or nil
	sys     *syslog.Writer // daemon sink, or nil
	jobs    *syslog.Writer // job output: facility daemon, as C pmtr
	pid     int
	verbose int
}

// NewStderrLogger logs to w in the C pmtr -F form.
func NewStderrLogger(w io.Writer, verbose int) *Logger {
	return &Logger{w: w, pid: os.Getpid(), verbose: verbose}
}

// NewSyslogLogger logs to syslog (facility local0 for pmtr, daemon for jobs).
// Without a syslog daemon it falls back to w.
func NewSyslogLogger(w io.Writer, verbose int) *Logger {
	l := &Logger{w: w, pid: os.Getpid(), verbose: verbose}
	if s, err := syslog.New(syslog.LOG_INFO|syslog.LOG_LOCAL0, "pmtr"); err == nil {
		l.sys, l.w = s, nil
		if j, err := syslog.New(syslog.LOG_INFO|syslog.LOG_DAEMON, "pmtr"); err == nil {
			l.jobs = j
		}
	}
	return l
}

// Log writes one line at the given level.
func (l *Logger) Log(level core.Level, msg string) {
	if level == core.Debug && l.verbose == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sys != nil {
		switch level {
		case core.Error:
			l.sys.Err(msg)
		case core.Debug:
			l.sys.Debug(msg)
		default:
			l.sys.Info(msg)
		}
		return
	}
	if l.w != nil {
		fmt.Fprintf(l.w, "pmtr[%d]: %s\n", l.pid, msg)
	}
}

// Logf formats and writes one informational line.
func (l *Logger) Logf(level core.Level, format string, args ...any) {
	l.Log(level, fmt.Sprintf(format, args...))
}

// JobLine logs one line of a job's output (facility daemon under syslog).
func (l *Logger) JobLine(name string, pid int, text string) {
	line := fmt.Sprintf("%s[%d]: %s", name, pid, text)
	if l.jobs == nil {
		l.Log(core.Info, line)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.jobs.Info(line)
}
