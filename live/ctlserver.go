package live

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"pmtr/confgrammar"
	"pmtr/core"
	"pmtr/ctlproto"
	"pmtr/driver"
	"pmtr/logsafe"
)

// The requests and replies are ctlproto's; the server answers each in
// the version it was asked in.

// answer is what a request gets.
type answer struct {
	code    int
	toErr   bool
	refusal ctlproto.Refusal
	text    string
	stream  func(w io.Writer) // logs -f: after text, until the client leaves
}

func (a answer) write(c net.Conn, version int) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	h := ctlproto.Reply{Version: version, Code: a.code, ToErr: a.toErr, Refusal: a.refusal}.Header()
	io.WriteString(c, h+a.text)
	if a.stream != nil {
		c.SetWriteDeadline(time.Time{})
		a.stream(c)
	}
}

func errAnswer(code int, format string, args ...any) answer {
	return answer{code: code, toErr: true, text: fmt.Sprintf(format, args...) + "\n"}
}

func refusedAnswer(err error) answer {
	var r *ctlproto.RefusedError
	if !errors.As(err, &r) {
		return errAnswer(ctlproto.CodeRefused, "%v", err)
	}
	return answer{code: ctlproto.CodeRefused, toErr: true, refusal: r.Why, text: r.Text + "\n"}
}

func lines(r driver.Result) answer {
	text := strings.Join(r.Lines, "\n")
	if text != "" {
		text += "\n"
	}
	return answer{code: r.Code, toErr: r.Code != driver.CodeOK, text: text}
}

// serveConn answers one request from a caller that may use the daemon:
// root or the daemon's own user (SO_PEERCRED).
func serveConn(c *net.UnixConn, b *backend) {
	defer c.Close()
	cred, err := peer(c)
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(io.LimitReader(c, confgrammar.MaxSize+ctlproto.MaxLine))
	line, _ := r.ReadString('\n')
	req, err := ctlproto.ParseRequest(line)
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		b.log.Logf(core.Error, "control socket: refused %s by uid %d pid %d (only root and uid %d may use it)", logsafe.Text(cmp.Or(req.Verb, "a request")), cred.Uid, cred.Pid, os.Geteuid())
		errAnswer(driver.CodeFailed, "permission denied: uid %d may not use this pmtr (only root and uid %d may)", cred.Uid, os.Geteuid()).write(c, req.Version)
		return
	}
	c.SetReadDeadline(time.Time{})
	if err != nil {
		refusedAnswer(err).write(c, req.Version)
		return
	}
	h, ok := handlers[req.Verb]
	if !ok { // a verb of ctlproto's table that this server lacks (a test checks there is none)
		errAnswer(driver.CodeFailed, "%s: this pmtr does not answer it yet", req.Verb).write(c, req.Version)
		return
	}
	by := fmt.Sprintf("uid %d pid %d", cred.Uid, cred.Pid)
	h(b, request{Request: req, body: r, by: by}).write(c, req.Version)
}

func peer(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	err = raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if err == nil {
		err = cerr
	}
	return cred, err
}

// request is a request that ParseRequest has checked against its verb,
// with a Body verb's bytes still to read and the caller for the log.
type request struct {
	ctlproto.Request
	body io.Reader
	by   string // "uid 0 pid 4711"
}

// handlers has one entry for each of ctlproto's verbs (a test checks).
var handlers = map[string]func(*backend, request) answer{
	"status":  (*backend).statusAnswer,
	"plan":    (*backend).planAnswer,
	"stop":    (*backend).commandAnswer,
	"start":   (*backend).commandAnswer,
	"restart": (*backend).commandAnswer,
	"reload":  (*backend).reloadAnswer,
	"why":     (*backend).whyAnswer,
	"logs":    (*backend).logsAnswer,
	"metrics": (*backend).metricsAnswer,
}

// ask puts a query to the driver and waits for its answer, within.
func ask[T any](b *backend, within time.Duration, query func(chan<- T) driver.Input) (T, bool) {
	var zero T
	reply := make(chan T, 1)
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case b.in <- query(reply):
	case <-t.C:
		return zero, false
	case <-b.stop:
		return zero, false
	}
	select {
	case a := <-reply:
		return a, true
	case <-t.C:
	case <-b.stop:
	}
	return zero, false
}

var busy = errAnswer(driver.CodeFailed, "timeout: the daemon did not answer in time")

func (b *backend) statusAnswer(req request) answer {
	names := req.Operands
	snap, ok := ask(b, 5*time.Second, func(r chan<- driver.Snapshot) driver.Input { return driver.StatusQuery{Reply: r} })
	if !ok {
		return busy
	}
	code, bad := driver.StatusCode(snap, names)
	if len(bad) > 0 {
		return errAnswer(code, "%s", strings.Join(bad, "\n"))
	}
	snap.Jobs = pick(snap.Jobs, names)
	if req.Has("--json") {
		return answer{code: code, text: b.statusJSON(snap)}
	}
	return answer{code: code, text: snap.Table()}
}

func pick(jobs []core.JobStatus, names []string) []core.JobStatus {
	if len(names) == 0 {
		return jobs
	}
	var out []core.JobStatus
	for _, j := range jobs {
		for _, n := range names {
			if j.Name == n {
				out = append(out, j)
			}
		}
	}
	return out
}

func (b *backend) planAnswer(req request) answer {
	src, err := io.ReadAll(req.body)
	if err != nil {
		return errAnswer(driver.CodeFailed, "read the config: %v", err)
	}
	a, ok := ask(b, 5*time.Second, func(r chan<- driver.PlanAnswer) driver.Input { return driver.PlanQuery{Source: src, Reply: r} })
	if !ok {
		return busy
	}
	code := driver.CodeOK
	if len(a.Errors) > 0 {
		code = driver.CodeFailed
	}
	return answer{code: code, text: a.Text()}
}

// commandAnswer: pmtr stop, start, restart.
func (b *backend) commandAnswer(req request) answer {
	v, ok := driver.ControlVerb(req.Verb)
	if !ok {
		return errAnswer(driver.CodeFailed, "%s: not a control verb", req.Verb)
	}
	r, ok := ask(b, 30*time.Second, func(r chan<- driver.Result) driver.Input {
		return driver.Command{Verb: v, Names: req.Operands, By: req.by, Wait: !req.Has("--no-wait"), Reply: r}
	})
	if !ok {
		return busy
	}
	return lines(r)
}

func (b *backend) reloadAnswer(request) answer {
	r, ok := ask(b, 30*time.Second, func(r chan<- driver.Result) driver.Input { return driver.Reload{Force: true, Reply: r} })
	if !ok {
		return busy
	}
	return lines(r)
}

func (b *backend) whyAnswer(req request) answer {
	job := req.Operands[0]
	r, ok := ask(b, 5*time.Second, func(r chan<- driver.Result) driver.Input {
		return driver.WhyQuery{Name: job, At: b.clockText, Reply: r}
	})
	if !ok {
		return busy
	}
	if r.Code == driver.CodeOK && len(r.Lines) > 0 {
		r.Lines = append(r.Lines[:1], append([]string{"contained in its " + b.cg.Where(job)}, r.Lines[1:]...)...)
	}
	return lines(r)
}

// wall is the wall-clock time of a machine time.
func (b *backend) wall(t core.Time) time.Time {
	return b.boot.Add(time.Duration(t)).Round(time.Millisecond)
}

// clockText words a machine time as the log does: the time of day, with
// the date when it is not today.
func (b *backend) clockText(t core.Time) string {
	w := b.wall(t)
	if y, m, d := w.Date(); y == time.Now().Year() && m == time.Now().Month() && d == time.Now().Day() {
		return w.Format("15:04:05")
	}
	return w.Format("2006-01-02 15:04:05")
}

// jobJSON is the documented, stable form of one job in pmtr status --json
// (see README, "Day to day").
type jobJSON struct {
	Name      string        `json:"name"`
	State     string        `json:"state"`
	PID       int           `json:"pid"`
	Since     string        `json:"since"`
	Starts    int           `json:"starts"`
	LastExit  *lastExitJSON `json:"last_exit"`
	NextStart *string       `json:"next_start"`
	Reason    string        `json:"reason"`
	Enabled   bool          `json:"enabled"`
	Contained string        `json:"contained"` // "cgroup PATH" or "process group"
}

type lastExitJSON struct {
	Code   *int   `json:"code"`
	Signal *int   `json:"signal"`
	Time   string `json:"time"`
	Text   string `json:"text"`
}

func (b *backend) statusJSON(s driver.Snapshot) string {
	out := struct {
		Jobs []jobJSON `json:"jobs"`
	}{Jobs: []jobJSON{}}
	for _, j := range s.Jobs {
		out.Jobs = append(out.Jobs, b.jobJSON(j))
	}
	var text strings.Builder
	enc := json.NewEncoder(&text)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(out)
	return text.String()
}

func (b *backend) jobJSON(j core.JobStatus) jobJSON {
	o := jobJSON{Name: j.Name, State: string(j.State), PID: j.PID, Since: b.wall(j.Since).Format(time.RFC3339Nano),
		Starts: j.Starts, Reason: j.Reason, Enabled: j.Enabled, Contained: b.cg.Where(j.Name)}
	if j.HasExited {
		e := &lastExitJSON{Time: b.wall(j.LastExitAt).Format(time.RFC3339Nano), Text: j.LastExit}
		if j.LastSignal != 0 {
			e.Signal = &j.LastSignal
		} else {
			e.Code = &j.LastCode
		}
		o.LastExit = e
	}
	if j.State == core.Waiting || j.State == core.Failed {
		next := b.wall(j.NextStart).Format(time.RFC3339Nano)
		o.NextStart = &next
	}
	return o
}

// logsAnswer: pmtr logs [-f] [-n N] JOB.
func (b *backend) logsAnswer(req request) answer {
	job, n := req.Operands[0], req.Count("-n")
	snap, ok := ask(b, 5*time.Second, func(r chan<- driver.Snapshot) driver.Input { return driver.StatusQuery{Reply: r} })
	if !ok {
		return busy
	}
	if code, bad := driver.StatusCode(snap, []string{job}); code == driver.CodeUnknown {
		return errAnswer(code, "%s", strings.Join(bad, "\n"))
	}
	lines, where := b.logs.Tail(job, n)
	text := joinLines(lines)
	if where != "" {
		text = fmt.Sprintf("(%s: %s; here are pmtr's lines about it)\n", job, where) + text
	}
	a := answer{text: text}
	if req.Follows() {
		a.stream = func(w io.Writer) { b.followLogs(job, w) }
	}
	return a
}

// followLogs writes job's new lines to w until the client goes or pmtr
// stops.
func (b *backend) followLogs(job string, w io.Writer) {
	ch, cancel := b.logs.Follow(job)
	defer cancel()
	gone := make(chan struct{})
	if c, ok := w.(net.Conn); ok {
		go func() { io.Copy(io.Discard, c); close(gone) }() // EOF: the client left
	}
	for {
		select {
		case line := <-ch:
			if _, err := io.WriteString(w, line+"\n"); err != nil {
				return
			}
		case <-gone:
			return
		case <-b.stop:
			return
		}
	}
}

// metricsAnswer: pmtr metrics, over the control socket.
func (b *backend) metricsAnswer(request) answer {
	var text strings.Builder
	if err := b.metrics.Write(&text, false); err != nil {
		return errAnswer(driver.CodeFailed, "metrics: %v", err)
	}
	return answer{text: text.String()}
}

func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}
