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

// Timeline is the state of every job sampled at even steps of a run.
type Timeline struct {
	End     core.Time
	Times   []core.Time
	Samples []map[string]core.State // job -> state
	Jobs    []string                // in order of first appearance
}

func (t *Timeline) add(now core.Time, st []core.JobStatus) {
	m := map[string]core.State{}
	for _, s := range st {
		m[s.Name] = s.State
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
	case core.Running, core.Starting:
		return '#'
	case core.Stopping:
		return '~'
	case core.Waiting, core.Gated, core.Held:
		return '.'
	}
	return ' '
}

// WriteTimeline draws one row per job: # running, ~ stopping, . waiting to
// (re)start, blank stopped.
func WriteTimeline(w io.Writer, t Timeline) {
	if len(t.Samples) == 0 {
		return
	}
	width := 0
	for _, j := range t.Jobs {
		width = max(width, len(j))
	}
	fmt.Fprintf(w, "  %-*s |%s| %v\n", width, "", strings.Repeat("-", len(t.Samples)), t.End)
	for _, j := range t.Jobs {
		row := make([]byte, len(t.Samples))
		for i, s := range t.Samples {
			row[i] = class(s[j])
		}
		fmt.Fprintf(w, "  %-*s |%s|\n", width, j, row)
	}
	fmt.Fprintf(w, "  %-*s  # running  ~ stopping  . waiting to start  (blank) stopped\n", width, "")
}

var svgColor = map[byte]string{'#': "#2e9e4f", '~': "#e8912d", '.': "#e6d15a"}

// WriteSVG draws the timeline as an SVG picture.
func WriteSVG(w io.Writer, title string, t Timeline) {
	const left, row, width = 160, 24, 800
	n := max(len(t.Samples), 1)
	height := 60 + row*len(t.Jobs)
	fmt.Fprintf(w, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"monospace\" font-size=\"12\">\n", left+width+20, height)
	fmt.Fprintf(w, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"10\" y=\"18\">%s (0 to %v)</text>\n", html.EscapeString(title), t.End)
	for r, j := range t.Jobs {
		y := 30 + r*row
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
	}
	fmt.Fprintf(w, "<text x=\"10\" y=\"%d\">green running, orange stopping, yellow waiting to start</text>\n</svg>\n", height-8)
}
