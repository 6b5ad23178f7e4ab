package live

import (
	"errors"
	"net"
	"os"
	"strconv"
	"syscall"

	"pmtr/confgrammar"
	"pmtr/core"
)

// reporter sends the core's status reports to every "report to" address,
// in the C pmtr datagram format: "report HOSTNAME\n" then one line per job.
type reporter struct {
	log   *Logger
	id    string
	conns []net.Conn
}

func newReporter(log *Logger) *reporter {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	if len(host) > 99 {
		host = host[:99]
	}
	return &reporter{log: log, id: host}
}

// configure reopens the destinations of a newly loaded config.
func (r *reporter) configure(dests []confgrammar.Report) {
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
	for _, d := range dests {
		addr := net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
		c, err := net.Dial("udp", addr)
		if err != nil {
			r.log.Logf(core.Error, "can't connect to udp://%s: %v", addr, err)
			continue
		}
		r.conns = append(r.conns, c)
	}
}

func (r *reporter) send(body string) {
	msg := []byte("report " + r.id + "\n" + body)
	for _, c := range r.conns {
		if _, err := c.Write(msg); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			r.log.Logf(core.Info, "write error: %s", strerror(err))
		}
	}
}
