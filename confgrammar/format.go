package confgrammar

import (
	"fmt"
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
		spec := "udp://" + hostPort(r.Host, r.Port)
		if r.Iface != "" {
			spec += "@" + r.Iface
		}
		b.WriteString(fmt.Sprintf("report to %s\n", spec))
	}
	for _, l := range c.Listens {
		b.WriteString(fmt.Sprintf("listen on udp://%s", hostPort(l.Host, l.Port)))
		if l.KeyFile != "" {
			b.WriteString(fmt.Sprintf(" key %s", l.KeyFile))
		}
		b.WriteString("\n")
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

func hostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// FormatJob writes one job block in canonical syntax.
func FormatJob(b *strings.Builder, j *Job) {
	b.WriteString("job {\n")
	line := func(kw, v string) { b.WriteString(fmt.Sprintf("  %s %s\n", kw, v)) }
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
	if len(j.Depends) > 0 {
		b.WriteString("  depends {\n")
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
			b.WriteString(fmt.Sprintf("  %s\n", f.kw))
		}
	}
	b.WriteString("}\n")
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
