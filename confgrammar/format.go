package confgrammar

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Format prints a config in canonical syntax: globals first, then one block
// per job in start order, options in a fixed order. For every valid input x,
// Parse(Format(Parse(x))) equals Parse(x) apart from positions.
func Format(c *Config) string {
	var b strings.Builder
	for _, r := range c.Reports {
		b.WriteString("report to " + FormatReport(r) + "\n")
	}
	for _, l := range c.Listens {
		b.WriteString("listen on " + FormatListen(l) + "\n")
	}
	for _, m := range c.Metrics {
		b.WriteString(fmt.Sprintf("metrics on http://%s\n", hostPort(m.Host, m.Port)))
	}
	for i := range c.Jobs {
		if i > 0 || b.Len() > 0 {
			b.WriteString("\n")
		}
		FormatJob(&b, &c.Jobs[i])
	}
	return b.String()
}

// FormatReport prints a report destination as "report to" writes it.
func FormatReport(r Report) string {
	spec := "udp://" + hostPort(r.Host, r.Port)
	if r.Iface != "" {
		spec += "@" + r.Iface
	}
	return spec
}

// FormatListen prints a control listener as "listen on" writes it.
func FormatListen(l Listen) string {
	s := "udp://" + hostPort(l.Host, l.Port)
	if l.KeyFile != "" {
		s += " key " + l.KeyFile
	}
	return s
}

func hostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// FormatJob writes one job block in canonical syntax.
func FormatJob(b *strings.Builder, j *Job) { formatJob(b, j, nil) }

// formatJob writes a job block; comment, if set, gives the comment of
// each line by its option (called in order: the n-th env line asks for
// "env" the n-th time), "job" for the block's first line.
func formatJob(b *strings.Builder, j *Job, comment func(key string) string) {
	emit := func(text, key string) {
		if comment == nil {
			b.WriteString(text + "\n")
			return
		}
		commented(b, text, comment(key))
	}
	emit("job {", "job")
	if comment != nil {
		for _, o := range j.Origins {
			if o.Key == "override" {
				b.WriteString(fmt.Sprintf("  # changed by the override at %s:%d\n", o.File, o.Line))
			}
		}
	}
	line := func(kw, v string) { emit(fmt.Sprintf("  %s %s", kw, v), strings.TrimSuffix(kw, " every")) }
	line("name", j.Name)
	line("cmd", FormatArgv(j.Cmd))
	for _, kv := range []struct{ kw, v string }{{"dir", j.Dir}, {"out", j.Out}, {"err", j.Err}, {"in", j.In}, {"user", j.User}} {
		if kv.v != "" {
			line(kv.kw, kv.v)
		}
	}
	for _, e := range j.Env {
		line("env", e)
	}
	if j.Order != 0 {
		line("order", strconv.Itoa(j.Order))
	}
	if j.Nice != 0 {
		line("nice", strconv.Itoa(j.Nice))
	}
	if len(j.CPUs) > 0 {
		line("cpu", FormatCPUs(j.CPUs))
	}
	for _, u := range j.Ulimits {
		line("ulimit", u.Flag+" "+u.ValueString())
	}
	if j.Bounce > 0 {
		line("bounce every", FormatInterval(j.Bounce))
	}
	formatPolicy(line, j)
	formatReadiness(line, j)
	switch {
	case slices.ContainsFunc(j.Depends, func(d string) bool { return lineKeywords[d] }):
		// A file named as an option (job, wait...) would read as that
		// option at the start of a line: all go on one line.
		emit("  depends { "+strings.Join(j.Depends, " ")+" }", "depends")
	case len(j.Depends) > 0:
		emit("  depends {", "depends")
		for _, d := range j.Depends {
			b.WriteString(fmt.Sprintf("    %s\n", d))
		}
		b.WriteString("  }\n")
	}
	for _, f := range []struct {
		on bool
		kw string
	}{{j.Disabled, "disable"}, {j.Wait, "wait"}, {j.Once, "once"}, {j.Critical, "critical"}} {
		if f.on {
			emit("  "+f.kw, f.kw)
		}
	}
	b.WriteString("}\n")
}

// commentColumn is where FormatSources starts its comments, so that they
// line up.
const commentColumn = 40

// commented writes a line with a comment, if any, after it.
func commented(b *strings.Builder, text, comment string) {
	b.WriteString(text)
	if comment != "" {
		b.WriteString(strings.Repeat(" ", max(commentColumn-len(text), 1)))
		b.WriteString("# " + comment)
	}
	b.WriteString("\n")
}

// FormatSources prints a config as Format does, each line with the
// FILE:LINE it came from as a comment, after a comment for each include
// line and what it matched (pmtr cat). The output is itself a config: the
// config in one file. With jobs, only the jobs of those names are
// printed, in start order.
func FormatSources(c *Config, jobs []string) string {
	var b strings.Builder
	if len(jobs) == 0 {
		formatIncludes(&b, c)
		for _, r := range c.Reports {
			commented(&b, "report to "+FormatReport(r), sourceOf(r.File, r.Pos))
		}
		for _, l := range c.Listens {
			commented(&b, "listen on "+FormatListen(l), sourceOf(l.File, l.Pos))
		}
		for _, m := range c.Metrics {
			commented(&b, "metrics on http://"+hostPort(m.Host, m.Port), sourceOf(m.File, m.Pos))
		}
	}
	for i := range c.Jobs {
		j := &c.Jobs[i]
		if len(jobs) > 0 && !slices.Contains(jobs, j.Name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		formatJob(&b, j, originsOf(j))
	}
	return b.String()
}

// originsOf answers formatJob's comments from the job's origins: the n-th
// time a key is asked, its n-th origin (or its last, for a value several
// lines made, as cpu).
func originsOf(j *Job) func(key string) string {
	asked := map[string]int{}
	return func(key string) string {
		if key == "job" {
			return sourceOf(j.File, j.Pos)
		}
		n := asked[key]
		asked[key]++
		var found *Origin
		for i := range j.Origins {
			if o := &j.Origins[i]; o.Key == key {
				if found = o; n == 0 {
					break
				}
				n--
			}
		}
		if found == nil {
			return ""
		}
		return fmt.Sprintf("%s:%d", found.File, found.Line)
	}
}

func sourceOf(file string, pos Pos) string {
	if file == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", file, pos.Line)
}

// formatIncludes writes a comment per include line: where it is and what
// it matched.
func formatIncludes(b *strings.Builder, c *Config) {
	for _, inc := range c.Includes {
		matched := "matches nothing"
		if len(inc.Matches) > 0 {
			matched = strings.Join(inc.Matches, " ")
		}
		b.WriteString(fmt.Sprintf("# include %s (%s:%d): %s\n", inc.Pattern, inc.File, inc.Pos.Line, matched))
	}
}

// ValueString prints the limit as it is written in pmtr.conf.
func (u Ulimit) ValueString() string {
	if u.Infinite {
		return "infinity"
	}
	return strconv.FormatUint(u.Value, 10)
}

// FormatArgv prints a command line as the cmd option writes it, quoting
// the arguments that need it.
func FormatArgv(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if i > 0 && needsQuotes(a) {
			a = `"` + a + `"`
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func needsQuotes(a string) bool {
	return a == "" || a == "{" || a == "}" || a[0] == '#' || strings.ContainsAny(a, " \t\r")
}

// FormatCPUs prints a sorted CPU set as a list with ranges, e.g. 0-3,8.
func FormatCPUs(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); {
		k := i
		for k+1 < len(cpus) && cpus[k+1] == cpus[k]+1 {
			k++
		}
		if k == i {
			parts = append(parts, strconv.Itoa(cpus[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[k]))
		}
		i = k + 1
	}
	return strings.Join(parts, ",")
}

// FormatInterval prints a whole-second duration with the largest exact unit.
func FormatInterval(d time.Duration) string {
	for _, u := range []struct {
		d time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if d%u.d == 0 {
			return fmt.Sprintf("%d%s", d/u.d, u.s)
		}
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
