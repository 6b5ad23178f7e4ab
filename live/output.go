package live

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxLine is the longest job output line logged as one entry; longer lines
// are split, as C pmtr's 1000-byte reads split them.
const maxLine = 1000

// copyOutput logs each non-empty line a job writes as "NAME[PID]: line",
// with control bytes shown as '?'. It runs until every writer has closed the
// pipe (the job and any children that kept it). A job that floods its
// output only slows its own reader: the driver never waits for it.
func copyOutput(log *Logger, logs *jobLogs, name string, pid int, r io.ReadCloser, stderr bool, after, stop <-chan struct{}) {
	defer r.Close()
	select {
	case <-after:
	case <-stop:
		return
	}
	for {
		waitReadable(r)
		br := lineReaders.Get().(*bufio.Reader)
		br.Reset(r)
		done := copyLines(log, logs, name, pid, br, stderr)
		br.Reset(nil)
		lineReaders.Put(br)
		if done {
			return
		}
	}
}

// lineReaders: a job holds a line buffer only while it has output to
// read, so a thousand quiet jobs do not keep a thousand buffers.
var lineReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, maxLine) }}

// copyLines logs br's lines until nothing is buffered (false) or the pipe
// is closed (true).
func copyLines(log *Logger, logs *jobLogs, name string, pid int, br *bufio.Reader, stderr bool) bool {
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if text := sanitize(line); text != "" {
				log.JobLine(name, pid, text, stderr)
				logs.add(name, fmt.Sprintf("%s[%d]: %s", name, pid, text))
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return true
		}
		if br.Buffered() == 0 {
			return false
		}
	}
}

// waitReadable waits, without a buffer, until r has data or its writers
// are gone. The poll inside the callback sees data that came before the
// wait; the runtime's poller then sees what comes after. On anything but
// a pollable file it returns at once and the read itself waits.
func waitReadable(r io.Reader) {
	sc, ok := r.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	rc.Read(func(fd uintptr) bool {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(p, 0)
		return err != nil || n > 0
	})
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
