package sim

import (
	"fmt"
	"html"
	"io"
	"slices"
	"strings"
	"time"

	"pmtr/core"
)

// JobSummary is what one job did over a run.
type JobSummary struct {
	Name    string
	Starts  int
	Exits   map[string]int // "exit 1", "signal 9", "spawn failed" -> count
	Running time.Duration  // total time with a live process
}

func (j *JobSummary) exit(key string) { j.Exits[key]++ }

// WriteSummary prints one line per job.
func WriteSummary(w io.Writer, jobs []JobSummary) {
	for _, j := range jobs {
		keys := make([]string, 0, len(j.Exits))
		for k := range j.Exits {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var exits []string
		for _, k := range keys {
			exits = append(exits, fmt.Sprintf("%s x%d", k, j.Exits[k]))
		}
		if len(exits) == 0 {
			exits = []string{"none"}
		}
		fmt.Fprintf(w, "  %-20s starts %-5d running %-12v exits: %s\n", j.Name, j.Starts, j.Running, strings.Join(exits, ", "))
	}
}

// Timeline is the state of every job sampled at even steps of a run, with
// what happened from outside (Marks) and when each job started (Starts).
type Timeline struct {
	End     core.Time
	Times   []core.Time
	Samples []map[string]core.State // job -> state
	Jobs    []string                // in order of first appearance
	Marks   []Mark
	Starts  map[string][]core.Time // job -> the times it (re)started
}

// Mark is an outside event on the timeline: E edit of the config, C control
// message, D dependency change, W a file held open for writing, H SIGHUP,
// K crash, S shutdown; Jobs are the jobs it acted on at once (started,
// signalled, or logged about), by name.
type Mark struct {
	At   core.Time
	Kind byte
	Jobs []string
}

// markNames words the mark letters for legends.
var markNames = []struct {
	kind byte
	name string
}{{'E', "config edit"}, {'C', "control"}, {'D', "dependency"}, {'W', "save in progress"}, {'H', "SIGHUP"}, {'K', "crash"}, {'S', "shutdown"}}

// label is a mark as the picture and the timeline's list say it: "C web,db",
// or the letter alone when it acted on no job.
func (m Mark) label() string {
	if len(m.Jobs) == 0 {
		return string(m.Kind)
	}
	return string(m.Kind) + " " + strings.Join(m.Jobs, ",")
}

// notReady stands, on the timeline only, for a job whose process runs but
// is not ready yet (core.Starting with a pid).
const notReady core.State = "not ready"

func (t *Timeline) add(now core.Time, st []core.JobStatus) {
	m := map[string]core.State{}
	for _, s := range st {
		m[s.Name] = s.State
		if s.State == core.Starting && s.PID != 0 {
			m[s.Name] = notReady
		}
		if !slices.Contains(t.Jobs, s.Name) {
			t.Jobs = append(t.Jobs, s.Name)
		}
	}
	t.Times = append(t.Times, now)
	t.Samples = append(t.Samples, m)
}

// class folds a job state into what the timeline draws.
func class(state core.State) byte {
	switch state {
	case core.Running, core.Starting, core.ReadyState:
		return '#'
	case notReady:
		return ':'
	case core.Unhealthy:
		return '!'
	case core.Stopping:
		return '~'
	case core.Waiting:
		return '.'
	case core.Gated, core.Held:
		return '='
	}
	return ' '
}

// timelineCols is the width of the terminal timeline, whatever the number
// of samples (an SVG may use more).
const timelineCols = 100

// WriteTimeline draws one row per job: # running (or ready), : running but
// not ready yet, ! unhealthy, ~ stopping, . waiting to (re)start, = held
// back (gated behind a wait job, or held for a dependency), blank stopped,
// + a restart; a row of outside events; a time axis with ticks every 10
// columns; and the legend, with the jobs each event acted on.
func WriteTimeline(w io.Writer, t Timeline) {
	if len(t.Samples) == 0 {
		return
	}
	width := len("events")
	for _, j := range t.Jobs {
		width = max(width, len(j))
	}
	cols := min(len(t.Samples), timelineCols)
	col := func(at core.Time) int { return min(int(int64(at)*int64(cols)/max(int64(t.End), 1)), cols-1) }
	for _, j := range t.Jobs {
		row := make([]byte, cols)
		for c := range row {
			row[c] = class(t.Samples[c*len(t.Samples)/cols][j])
		}
		for i, at := range t.Starts[j] {
			if i > 0 {
				row[col(at)] = '+'
			}
		}
		fmt.Fprintf(w, "  %-*s |%s|\n", width, j, row)
	}
	events := []byte(strings.Repeat(" ", cols))
	for _, m := range t.Marks {
		events[col(m.At)] = m.Kind
	}
	fmt.Fprintf(w, "  %-*s |%s|\n", width, "events", events)
	axis, labels := []byte(strings.Repeat("-", cols)), []byte(strings.Repeat(" ", cols+12))
	for c := 0; c < cols; c += 10 {
		axis[c] = '+'
		copy(labels[c:], tickLabel(t.End*core.Time(c)/core.Time(cols)))
	}
	copy(labels[cols-1:], tickLabel(t.End))
	fmt.Fprintf(w, "  %-*s |%s|\n  %-*s  %s\n", width, "time", axis, width, "", strings.TrimRight(string(labels), " "))
	fmt.Fprintf(w, "  %-*s  # running  ~ stopping  . waiting to start  (blank) stopped  + restarted%s\n", width, "", t.healthLegend())
	fmt.Fprintf(w, "  %-*s  events: %s\n", width, "", markLegend())
	if len(t.Marks) > 0 {
		fmt.Fprintf(w, "  %-*s  at: %s\n", width, "", t.markList())
	}
}

// markList words each event with its time and the jobs it acted on:
// "10s C debug; 20s C web; 40s H debug".
func (t *Timeline) markList() string {
	parts := make([]string, len(t.Marks))
	for i, m := range t.Marks {
		parts[i] = tickLabel(m.At) + " " + m.label()
	}
	return strings.Join(parts, "; ")
}

// healthLegend names the readiness marks the timeline uses, if any (a
// config without ready or check conditions draws none).
func (t *Timeline) healthLegend() string {
	s := ""
	for _, c := range []struct {
		state core.State
		words string
	}{{notReady, "  : not ready"}, {core.Unhealthy, "  ! unhealthy"}, {core.Gated, "  = held back (gated or held)"}} {
		if t.uses(c.state) {
			s += c.words
		}
	}
	return s
}

// uses: some job is in state st (or, for a state drawn as others are, one
// of those) in some sample.
func (t *Timeline) uses(st core.State) bool {
	for _, m := range t.Samples {
		for _, s := range m {
			if s == st || class(s) == class(st) && class(st) == '=' {
				return true
			}
		}
	}
	return false
}

// tickLabel words an axis time briefly: 0s, 45s, 1m30s, 2h.
func tickLabel(t core.Time) string {
	s := time.Duration(t).Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func markLegend() string {
	parts := make([]string, len(markNames))
	for i, m := range markNames {
		parts[i] = string(m.kind) + " " + m.name
	}
	return strings.Join(parts, "  ")
}

var svgColor = map[byte]string{'#': "#2e9e4f", '~': "#e8912d", '.': "#e6d15a", '=': "#8c7fc9", ':': "#9fd4ae", '!': "#d9534f"}

// WriteSVG draws the timeline as an SVG picture: a bar per job, restarts
// as ticks, outside events as lines across all rows, a time axis and a
// legend with swatches.
func WriteSVG(w io.Writer, title string, t Timeline) {
	const left, row, width = 160, 24, 800
	n := max(len(t.Samples), 1)
	top, bottom := 30, 30+row*len(t.Jobs)
	height := bottom + 90
	x := func(at core.Time) int { return left + int(int64(at)*width/max(int64(t.End), 1)) }
	fmt.Fprintf(w, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"monospace\" font-size=\"12\">\n", left+width+40, height)
	fmt.Fprintf(w, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"10\" y=\"18\">%s (0 to %v)</text>\n", html.EscapeString(title), t.End)
	for r, j := range t.Jobs {
		y := top + r*row
		fmt.Fprintf(w, "<text x=\"10\" y=\"%d\">%s</text>\n", y+15, html.EscapeString(j))
		fmt.Fprintf(w, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#f2f2f2\"/>\n", left, y+2, width, row-6)
		for i := 0; i < len(t.Samples); {
			c, k := class(t.Samples[i][j]), i
			for k < len(t.Samples) && class(t.Samples[k][j]) == c {
				k++
			}
			if col, ok := svgColor[c]; ok {
				fmt.Fprintf(w, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n",
					left+i*width/n, y+2, max((k-i)*width/n, 1), row-6, col)
			}
			i = k
		}
		for i, at := range t.Starts[j] {
			if i > 0 {
				fmt.Fprintf(w, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\" stroke-width=\"2\"><title>restarted at %v</title></line>\n", x(at), y, x(at), y+row-2, at)
			}
		}
	}
	for _, m := range t.Marks { // the line down the rows; its label names the jobs it acted on
		fmt.Fprintf(w, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#3060c0\" stroke-dasharray=\"3,3\"><title>%s at %v</title></line><text x=\"%d\" y=\"%d\" fill=\"#3060c0\">%s</text>\n",
			x(m.At), top, x(m.At), bottom, html.EscapeString(m.label()), m.At, x(m.At)-3, top-2, html.EscapeString(m.label()))
		for r, j := range t.Jobs { // and a dot on the row of each
			if slices.Contains(m.Jobs, j) {
				fmt.Fprintf(w, "<circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"#3060c0\"/>\n", x(m.At), top+r*row+row/2-1)
			}
		}
	}
	writeSVGAxis(w, t, left, width, bottom)
	writeSVGLegend(w, bottom+50, t)
	fmt.Fprintln(w, "</svg>")
}

func writeSVGAxis(w io.Writer, t Timeline, left, width, y int) {
	fmt.Fprintf(w, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", left, y+4, left+width, y+4)
	for i := 0; i <= 10; i++ {
		tx := left + i*width/10
		fmt.Fprintf(w, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/><text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
			tx, y+4, tx, y+9, tx, y+22, tickLabel(t.End*core.Time(i)/10))
	}
}

func writeSVGLegend(w io.Writer, y int, t Timeline) {
	x := 10
	swatches := []struct{ color, name string }{{svgColor['#'], "running"}, {svgColor['~'], "stopping"}, {svgColor['.'], "waiting to start"}, {"#f2f2f2", "stopped"}}
	if t.uses(notReady) {
		swatches = append(swatches, struct{ color, name string }{svgColor[':'], "not ready"})
	}
	if t.uses(core.Unhealthy) {
		swatches = append(swatches, struct{ color, name string }{svgColor['!'], "unhealthy"})
	}
	if t.uses(core.Gated) {
		swatches = append(swatches, struct{ color, name string }{svgColor['='], "held back (gated or held)"})
	}
	for _, s := range swatches {
		fmt.Fprintf(w, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\" stroke=\"#888\"/><text x=\"%d\" y=\"%d\">%s</text>\n", x, y, s.color, x+16, y+11, s.name)
		x += 30 + 8*len(s.name)
	}
	fmt.Fprintf(w, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\" stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">restarted</text>\n", x+6, y, x+6, y+12, x+14, y+11)
	fmt.Fprintf(w, "<text x=\"10\" y=\"%d\" fill=\"#3060c0\">events: %s</text>\n", y+30, html.EscapeString(markLegend()))
}
