package live

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if text := sanitize(line); text != "" {
				log.JobLine(name, pid, text, stderr)
				logs.add(name, fmt.Sprintf("%s[%d]: %s", name, pid, text))
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
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
