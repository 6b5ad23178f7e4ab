package hostfacts

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// What a pmtr finds of the descriptors it inherited at pmtr upgrade when
// the state that named them could not be read: /proc says what each is.

// OpenFD is one of this process's descriptors and what it is
// ("socket:[123]", "pipe:[456]", a path).
type OpenFD struct {
	FD   int
	Link string
}

// OpenFDs lists this process's descriptors above 2.
func OpenFDs() []OpenFD {
	return fdsOf("self")
}

// ProcFD is what descriptor fd of process pid is, or "".
func ProcFD(pid, fd int) string {
	l, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd))
	return l
}

func fdsOf(proc string) []OpenFD {
	entries, err := os.ReadDir("/proc/" + proc + "/fd")
	if err != nil {
		return nil
	}
	var out []OpenFD
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		if l, err := os.Readlink("/proc/" + proc + "/fd/" + e.Name()); err == nil {
			out = append(out, OpenFD{FD: fd, Link: l})
		}
	}
	return out
}

// UnixSocket is a unix socket of the host's (/proc/net/unix): its path
// and whether it listens (else it is connected, or neither).
type UnixSocket struct {
	Path      string
	Listening bool
}

// UnixSockets are the host's unix sockets by their link ("socket:[INODE]").
func UnixSockets() map[string]UnixSocket {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]UnixSocket{}
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode [Path]
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 {
			continue
		}
		s := UnixSocket{Listening: fields[3] == "00010000"} // __SO_ACCEPTCON
		if len(fields) > 7 {
			s.Path = fields[7]
		}
		out["socket:["+fields[6]+"]"] = s
	}
	return out
}
