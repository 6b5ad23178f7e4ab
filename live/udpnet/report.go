package udpnet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/datagram"
	"pmtr/live/hostfacts"
)

// reporter sends the core's status reports to every "report to" address in
// the C pmtr datagram format. Sockets of unchanged lines survive a reload.
type reporter struct {
	log  Logger
	host string
	open map[string]*dest // by the report line's identity
	ids  []string         // open destinations in config order
}

type dest struct {
	conn net.Conn
	id   string // "HOSTNAME" or "HOSTNAME IP" with @IFACE
}

func newReporter(log Logger) *reporter {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	if len(host) > 99 {
		host = host[:99]
	}
	return &reporter{log: log, host: host, open: map[string]*dest{}}
}

func reportID(r confgrammar.Report) string {
	return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) + "@" + r.Iface
}

// configure opens new destinations and closes removed ones.
func (r *reporter) configure(specs []confgrammar.Report) {
	want := map[string]bool{}
	r.ids = r.ids[:0]
	for _, s := range specs {
		id := reportID(s)
		want[id] = true
		if _, ok := r.open[id]; !ok {
			d, err := r.dial(s)
			if err != nil {
				r.log.Logf(core.Error, "%v", err)
				continue
			}
			r.open[id] = d
		}
		r.ids = append(r.ids, id)
	}
	for id, d := range r.open {
		if !want[id] {
			d.conn.Close()
			delete(r.open, id)
		}
	}
}

func (r *reporter) dial(s confgrammar.Report) (*dest, error) {
	spec := "udp://" + net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	c, err := net.Dial("udp4", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	if err != nil {
		return nil, fmt.Errorf("can't connect to %s: %s", spec, hostfacts.Strerror(err))
	}
	d := &dest{conn: c, id: r.host}
	if s.Iface != "" {
		ip, err := multicastIface(c, s.Iface)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("report to %s@%s: %w", spec, s.Iface, err)
		}
		d.id = r.host + " " + ip.String()
	}
	return d, nil
}

// multicastIface sets the socket's multicast egress interface.
func multicastIface(c net.Conn, name string) (net.IP, error) {
	ip, err := hostfacts.InterfaceAddr(name)
	if err != nil {
		return nil, err
	}
	raw, err := c.(*net.UDPConn).SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInet4Addr(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, [4]byte(ip))
	})
	if serr != nil {
		return nil, fmt.Errorf("setsockopt: %s", hostfacts.Strerror(serr))
	}
	return ip, nil
}

func (r *reporter) send(body string) {
	for _, id := range r.ids {
		d := r.open[id]
		if _, err := d.conn.Write(datagram.FormatReport(d.id, body)); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			r.log.Logf(core.Info, "write error: %s", hostfacts.Strerror(err))
		}
	}
}

func (r *reporter) closeAll() {
	for id, d := range r.open {
		d.conn.Close()
		delete(r.open, id)
	}
	r.ids = nil
}
