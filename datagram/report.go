package datagram

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A status report datagram, byte for byte as C pmtr sends it:
//
//	report HOSTNAME[ IP]\n
//	NAME e|d SECONDS PID ARGV0\n      (one line per job that may still run)

// FormatReport builds the datagram from the report id and the job lines.
func FormatReport(id, body string) []byte { return []byte("report " + id + "\n" + body) }

// JobLine is one job of a report.
type JobLine struct {
	Name    string
	Enabled bool
	Seconds int64
	PID     int
	Argv0   string
}

// ParseReport reads a report datagram.
func ParseReport(b []byte) (id string, jobs []JobLine, err error) {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if !strings.HasPrefix(lines[0], "report ") {
		return "", nil, errors.New("not a pmtr report")
	}
	id = strings.TrimPrefix(lines[0], "report ")
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 4 || f[1] != "e" && f[1] != "d" {
			return "", nil, fmt.Errorf("bad job line %q", l)
		}
		secs, err1 := strconv.ParseInt(f[2], 10, 64)
		pid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			return "", nil, fmt.Errorf("bad job line %q", l)
		}
		j := JobLine{Name: f[0], Enabled: f[1] == "e", Seconds: secs, PID: pid}
		if len(f) > 4 {
			j.Argv0 = f[4]
		}
		jobs = append(jobs, j)
	}
	return id, jobs, nil
}

// Expiry is how long a silent host stays in a Table.
const Expiry = 60 * time.Second

// Table keeps the latest report of each host, as pmtr rptserver shows it.
type Table struct {
	hosts map[string]hostReport // by sender address
}

type hostReport struct {
	id   string
	at   time.Time
	jobs []JobLine
}

// Update records a datagram from sender at now; it reports whether the
// table changed.
func (t *Table) Update(sender string, b []byte, now time.Time) (bool, error) {
	id, jobs, err := ParseReport(b)
	if err != nil {
		return false, err
	}
	if t.hosts == nil {
		t.hosts = map[string]hostReport{}
	}
	old, had := t.hosts[sender]
	t.hosts[sender] = hostReport{id: id, at: now, jobs: jobs}
	return !had || old.id != id || !slices.Equal(old.jobs, jobs), nil
}

// Expire forgets hosts silent for Expiry; it reports whether any went.
func (t *Table) Expire(now time.Time) bool {
	gone := false
	for h, r := range t.hosts {
		if now.Sub(r.at) > Expiry {
			delete(t.hosts, h)
			gone = true
		}
	}
	return gone
}

// Render prints the table: one block per host (sorted), one line per job.
func (t *Table) Render(now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "update at %s\n%d systems reporting\n", now.Format("2006-01-02 15:04:05"), len(t.hosts))
	senders := make([]string, 0, len(t.hosts))
	for s := range t.hosts {
		senders = append(senders, s)
	}
	slices.SortFunc(senders, func(a, c string) int { return strings.Compare(t.hosts[a].id+a, t.hosts[c].id+c) })
	for _, s := range senders {
		r := t.hosts[s]
		fmt.Fprintf(&b, "\n%s (%s)\n", r.id, s)
		for _, j := range r.jobs {
			state, up := "enabled", Uptime(j.Seconds)
			if !j.Enabled {
				state, up = "disabled", "-"
			}
			fmt.Fprintf(&b, "\t%-40s %-10s %20s\n", j.Name, state, up)
		}
	}
	return b.String()
}

// Uptime spells seconds as "1d 2h 3m 4s", leaving out zero parts.
func Uptime(secs int64) string {
	if secs <= 0 {
		return "0s"
	}
	var parts []string
	for _, u := range []struct {
		n    int64
		unit string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if v := secs / u.n; v > 0 {
			parts = append(parts, fmt.Sprintf("%d%s", v, u.unit))
			secs -= v * u.n
		}
	}
	return strings.Join(parts, " ")
}

// HostJobs is one reporting host's latest report.
type HostJobs struct {
	Sender string
	ID     string
	Age    time.Duration // since its last report
	Jobs   []JobLine
}

// Hosts lists every host's latest report, sorted by id and sender.
func (t *Table) Hosts(now time.Time) []HostJobs {
	out := make([]HostJobs, 0, len(t.hosts))
	for s, r := range t.hosts {
		out = append(out, HostJobs{Sender: s, ID: r.id, Age: now.Sub(r.at), Jobs: r.jobs})
	}
	slices.SortFunc(out, func(a, b HostJobs) int { return strings.Compare(a.ID+a.Sender, b.ID+b.Sender) })
	return out
}
