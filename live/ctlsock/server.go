package ctlsock

import (
	"bufio"
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
	"pmtr/live/accept"
	"pmtr/live/inbox"
	"pmtr/live/joboutput"
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

// write sends the answer; a stream (pmtr logs -f) goes on until the
// client leaves, and pmtr upgrade does not wait for it (release).
func (a answer) write(c net.Conn, version int, release func(net.Conn)) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, a.Text(version))
	if a.stream != nil {
		release(c)
		c.SetWriteDeadline(time.Time{})
		a.stream(c)
	}
}

// Text is the answer as written in protocol version.
func (a answer) Text(version int) string {
	return ctlproto.Reply{Version: version, Code: a.code, ToErr: a.toErr, Refusal: a.refusal}.Header() + a.text
}

// Answer is a reply to a request asked in version: the code, and the lines
// (to stdout for code 0, else to stderr). The pmtr that takes over at
// pmtr upgrade answers the upgrade's connection with it.
func Answer(version, code int, lines ...string) string {
	return answer{code: code, toErr: code != driver.CodeOK, text: joinLines(lines)}.Text(version)
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

// Logger is pmtr's log.
type Logger interface {
	Logf(level core.Level, format string, args ...any)
}

// Rings are the jobs' last lines and the merged log (joboutput.Rings).
type Rings interface {
	Tail(job string, n int) ([]string, string)
	Follow(job string) (<-chan string, func())
	TailAll(n int) []joboutput.Merged
	FollowAll(n int) ([]joboutput.Merged, <-chan string, func())
}

// Deps is what the server answers from.
type Deps struct {
	Inbox   *inbox.Inbox                     // the driver's queue: queries go there
	Log     Logger                           // refused callers are logged
	Where   func(job string) string          // how a job is contained (contain.Jobs.Where)
	Rings   Rings                            // pmtr logs
	Wall    func(core.Time) time.Time        // a driver time as wall-clock time
	Metrics func(w io.Writer, om bool) error // pmtr metrics
	// Upgrade is pmtr upgrade. It returns only when the new binary did not
	// take over, saying why; the new binary answers c itself.
	Upgrade func(binary string, c Caller) error
}

// Caller is the connection of a pmtr upgrade request.
type Caller struct {
	Conn    *net.UnixConn
	Version int    // the protocol the request was asked in
	By      string // "uid 0 pid 4711"
}

// server answers the requests of one run.
type server struct {
	d      Deps
	mayUse func(uid uint32) bool // root and pmtr's own user (a test narrows it)
	wait   time.Duration         // for the request line, and again for a plan's config
	plans  chan struct{}         // one plan's config is read and planned at a time
	gate   *accept.Gate          // pmtr upgrade's pause, or nil
}

func newServer(d Deps, gate *accept.Gate) *server {
	return &server{d: d, mayUse: ownerOrRoot, wait: requestWait, plans: make(chan struct{}, 1), gate: gate}
}

// release: c's request needs this process no more (pmtr upgrade waits
// for the others).
func (sv *server) release(c net.Conn) {
	if sv.gate != nil {
		sv.gate.Release(c)
	}
}

func ownerOrRoot(uid uint32) bool { return uid == 0 || int(uid) == os.Geteuid() }

// requestWait is how long a client has to send its request line, and
// then a plan's config: every read has a deadline.
const requestWait = 5 * time.Second

// serveConn answers one request from a caller that may use the daemon:
// root or the daemon's own user (SO_PEERCRED, asked before a byte is
// read: another user's request is never read, so it costs pmtr nothing).
// The request line must end (a newline) within MaxLine bytes and the
// deadline; a request cut off is refused, never run.
func (sv *server) serveConn(c *net.UnixConn) {
	defer c.Close()
	cred, err := peer(c)
	if err != nil {
		return
	}
	if !sv.mayUse(cred.Uid) {
		sv.d.Log.Logf(core.Error, "control socket: refused a connection by uid %d pid %d (only root and uid %d may use it)", cred.Uid, cred.Pid, os.Geteuid())
		// In the oldest form, which every client reads.
		errAnswer(driver.CodeFailed, "permission denied: uid %d may not use this pmtr (only root and uid %d may)", cred.Uid, os.Geteuid()).write(c, ctlproto.Legacy, sv.release)
		return
	}
	c.SetReadDeadline(time.Now().Add(sv.wait))
	r := bufio.NewReaderSize(c, 4<<10)
	line, err := readLine(r, ctlproto.MaxLine)
	req, perr := ctlproto.ParseRequest(line)
	if err != nil {
		refusedAnswer(sv.cutOff(err)).write(c, req.Version, sv.release)
		return
	}
	if perr != nil {
		refusedAnswer(perr).write(c, req.Version, sv.release)
		return
	}
	h, ok := handlers[req.Verb]
	if !ok { // a verb of ctlproto's table that this server lacks (a test checks there is none)
		errAnswer(driver.CodeFailed, "%s: this pmtr does not answer it yet", req.Verb).write(c, req.Version, sv.release)
		return
	}
	c.SetReadDeadline(time.Time{}) // a plan sets its own; pmtr logs -f reads only to see the client leave
	by := fmt.Sprintf("uid %d pid %d", cred.Uid, cred.Pid)
	h(sv, request{Request: req, conn: c, body: r, by: by, who: fmt.Sprintf("uid %d", cred.Uid)}).write(c, req.Version, sv.release)
}

// errTooLong: the request line goes on past MaxLine bytes.
var errTooLong = errors.New("too long")

// readLine reads one line, its newline included, of at most max bytes.
// A line cut off by the end of the stream or the deadline is returned
// with the error.
func readLine(r *bufio.Reader, max int) (string, error) {
	var line []byte
	for {
		part, err := r.ReadSlice('\n')
		if len(line)+len(part) > max {
			return string(line), errTooLong
		}
		line = append(line, part...)
		if err != bufio.ErrBufferFull {
			return string(line), err
		}
	}
}

// cutOff words why a request line was not read whole.
func (sv *server) cutOff(err error) error {
	switch {
	case errors.Is(err, errTooLong):
		return &ctlproto.RefusedError{Why: ctlproto.BadRequest, Text: fmt.Sprintf("request line longer than %d bytes", ctlproto.MaxLine)}
	case isTimeout(err):
		return &ctlproto.RefusedError{Why: ctlproto.BadRequest, Text: fmt.Sprintf("the request did not end (no newline) within %v: nothing was done", sv.wait)}
	}
	return &ctlproto.RefusedError{Why: ctlproto.BadRequest, Text: "the request ended without its newline: nothing was done"}
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
	conn net.Conn
	body io.Reader
	by   string // "uid 0 pid 4711"
	who  string // "uid 0": what a job stopped by this request shows
}

// handlers has one entry for each of ctlproto's verbs (a test checks).
var handlers = map[string]func(*server, request) answer{
	"status":  (*server).statusAnswer,
	"plan":    (*server).planAnswer,
	"stop":    (*server).commandAnswer,
	"start":   (*server).commandAnswer,
	"restart": (*server).commandAnswer,
	"reload":  (*server).reloadAnswer,
	"why":     (*server).whyAnswer,
	"logs":    (*server).logsAnswer,
	"metrics": (*server).metricsAnswer,
	"cat":     (*server).catAnswer,
	"upgrade": (*server).upgradeAnswer,
}

var busy = errAnswer(driver.CodeFailed, "timeout: the daemon did not answer in time")

func (sv *server) statusAnswer(req request) answer {
	names := req.Operands
	snap, ok := inbox.Ask(sv.d.Inbox, 5*time.Second, func(r chan<- driver.Snapshot) driver.Input { return driver.StatusQuery{Reply: r} })
	if !ok {
		return busy
	}
	code, bad := driver.StatusCode(snap, names)
	if len(bad) > 0 {
		return errAnswer(code, "%s", strings.Join(bad, "\n"))
	}
	snap.Jobs = pick(snap.Jobs, names)
	if req.Has("--json") {
		return answer{code: code, text: sv.statusJSON(snap)}
	}
	return answer{code: code, text: snap.Table(sv.clockText)}
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

func (sv *server) planAnswer(req request) answer {
	// One plan at a time: a config may be 10 MB, and its parse several
	// times that.
	select {
	case sv.plans <- struct{}{}:
		defer func() { <-sv.plans }()
	case <-time.After(sv.wait):
		return errAnswer(driver.CodeFailed, "busy: another pmtr plan is being answered; try again")
	}
	req.conn.SetReadDeadline(time.Now().Add(sv.wait))
	src, err := io.ReadAll(io.LimitReader(req.body, confgrammar.MaxSize+1))
	switch {
	case isTimeout(err):
		return errAnswer(driver.CodeFailed, "the config did not arrive within %v: nothing was planned", sv.wait)
	case err != nil:
		return errAnswer(driver.CodeFailed, "read the config: %v", err)
	case len(src) > confgrammar.MaxSize:
		return errAnswer(driver.CodeFailed, "the config is larger than %d bytes, the most pmtr reads", confgrammar.MaxSize)
	}
	a, ok := inbox.Ask(sv.d.Inbox, 5*time.Second, func(r chan<- driver.PlanAnswer) driver.Input { return driver.PlanQuery{Source: src, Reply: r} })
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
func (sv *server) commandAnswer(req request) answer {
	v, ok := driver.ControlVerb(req.Verb)
	if !ok {
		return errAnswer(driver.CodeFailed, "%s: not a control verb", req.Verb)
	}
	r, ok := inbox.Ask(sv.d.Inbox, 30*time.Second, func(r chan<- driver.Result) driver.Input {
		return driver.Command{Verb: v, Names: req.Operands, By: req.by, Who: req.who, Wait: !req.Has("--no-wait"), Reply: r}
	})
	if !ok {
		return busy
	}
	return lines(r)
}

func (sv *server) reloadAnswer(request) answer {
	r, ok := inbox.Ask(sv.d.Inbox, 30*time.Second, func(r chan<- driver.Result) driver.Input { return driver.Reload{Force: true, Reply: r} })
	if !ok {
		return busy
	}
	return lines(r)
}

func (sv *server) whyAnswer(req request) answer {
	job := req.Operands[0]
	r, ok := inbox.Ask(sv.d.Inbox, 5*time.Second, func(r chan<- driver.Result) driver.Input {
		return driver.WhyQuery{Name: job, At: sv.clockText, Reply: r}
	})
	if !ok {
		return busy
	}
	if r.Code == driver.CodeOK && len(r.Lines) > 0 {
		r.Lines = append(r.Lines[:1], append([]string{"contained in its " + sv.d.Where(job)}, r.Lines[1:]...)...)
	}
	return lines(r)
}

// catAnswer: pmtr cat [JOB...], the config in force as one file.
func (sv *server) catAnswer(req request) answer {
	r, ok := inbox.Ask(sv.d.Inbox, 5*time.Second, func(r chan<- driver.Result) driver.Input {
		return driver.CatQuery{Jobs: req.Operands, Reply: r}
	})
	if !ok {
		return busy
	}
	return lines(r)
}

// clockText words a machine time as the log does: the time of day, with
// the date when it is not today.
func (sv *server) clockText(t core.Time) string {
	w := sv.d.Wall(t)
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
	Contained string        `json:"contained"`  // "cgroup PATH" or "process group"
	StoppedBy *stoppedJSON  `json:"stopped_by"` // a stop by control (pmtr stop) that holds it, or null
	// The restart policy: failed runs in a row, and whether it gave up
	// (state "failed"; next_start is its retry, null with retry never).
	FailedRuns int  `json:"failed_runs"`
	GaveUp     bool `json:"gave_up"`
	// Readiness and health (issue 23): ready is null for a job without a
	// ready condition; health is null for one without check or watchdog;
	// notify_status is what the job last said with STATUS= ("" if nothing).
	Ready        *bool       `json:"ready"`
	Health       *healthJSON `json:"health"`
	NotifyStatus string      `json:"notify_status"`
	Source       string      `json:"source"` // where the job is defined, "FILE:LINE"
}

// healthJSON: ok while no check has failed since the last success; fails
// in a row; last, the outcome of the last probe (or missed watchdog).
type healthJSON struct {
	OK    bool   `json:"ok"`
	Fails int    `json:"fails"`
	Last  string `json:"last"`
}

type stoppedJSON struct {
	By   string `json:"by"` // "uid 0", or the sender of a UDP disable
	Time string `json:"time"`
}

type lastExitJSON struct {
	Code   *int   `json:"code"`
	Signal *int   `json:"signal"`
	Time   string `json:"time"`
	Text   string `json:"text"`
}

// configJSON is the config file's part of pmtr status --json: the config
// in force, and the refusal of the file on disk (null while it is the
// config in force).
type configJSON struct {
	Path    string       `json:"path"`
	Since   string       `json:"in_force_since"`
	Hash    string       `json:"hash"` // hex SHA-256 of the config in force
	Refused *refusalJSON `json:"refused"`
}

// containmentJSON is what keeps pmtr from containing the jobs as it
// should (the pid records cannot be written), and since when.
type containmentJSON struct {
	Since   string `json:"since"`
	Problem string `json:"problem"`
}

type refusalJSON struct {
	Time   string   `json:"time"`
	Errors []string `json:"errors"`
}

func (sv *server) configJSON(c driver.ConfigState) configJSON {
	o := configJSON{Path: c.Path, Since: sv.d.Wall(c.Since).Format(time.RFC3339Nano), Hash: c.Hash}
	if r := c.Refused; r != nil {
		o.Refused = &refusalJSON{Time: sv.d.Wall(r.At).Format(time.RFC3339Nano), Errors: r.Errors}
	}
	return o
}

func (sv *server) statusJSON(s driver.Snapshot) string {
	out := struct {
		Jobs        []jobJSON        `json:"jobs"`
		Config      configJSON       `json:"config"`
		Containment *containmentJSON `json:"containment_degraded"` // null while containment works
	}{Config: sv.configJSON(s.Config), Jobs: []jobJSON{}}
	if c := s.Containment; c.Degraded != "" {
		out.Containment = &containmentJSON{Since: sv.d.Wall(c.Since).Format(time.RFC3339Nano), Problem: c.Degraded}
	}
	for _, j := range s.Jobs {
		out.Jobs = append(out.Jobs, sv.jobJSON(j))
	}
	var text strings.Builder
	enc := json.NewEncoder(&text)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(out)
	return text.String()
}

func (sv *server) jobJSON(j core.JobStatus) jobJSON {
	o := jobJSON{Name: j.Name, State: string(j.State), PID: j.PID, Since: sv.d.Wall(j.Since).Format(time.RFC3339Nano),
		Starts: j.Starts, Reason: driver.Reason(j, sv.clockText), Enabled: j.Enabled, Contained: sv.d.Where(j.Name),
		FailedRuns: j.FailedRuns, GaveUp: j.GaveUp, NotifyStatus: j.NotifyStatus, Source: j.Source}
	if j.HasReady {
		ready := j.Ready
		o.Ready = &ready
	}
	if j.HasCheck {
		o.Health = &healthJSON{OK: j.CheckFails == 0, Fails: j.CheckFails, Last: j.LastProbe}
	}
	if j.State == core.Stopped && j.Control == core.Disable {
		o.StoppedBy = &stoppedJSON{By: j.ControlBy, Time: sv.d.Wall(j.ControlAt).Format(time.RFC3339Nano)}
	}
	if j.HasExited {
		e := &lastExitJSON{Time: sv.d.Wall(j.LastExitAt).Format(time.RFC3339Nano), Text: j.LastExit}
		if j.LastSignal != 0 {
			e.Signal = &j.LastSignal
		} else {
			e.Code = &j.LastCode
		}
		o.LastExit = e
	}
	if (j.State == core.Waiting || j.State == core.Failed) && j.NextStart != core.Never {
		next := sv.d.Wall(j.NextStart).Format(time.RFC3339Nano)
		o.NextStart = &next
	}
	return o
}

// logsAnswer: pmtr logs [-f] [-n N] [JOB].
func (sv *server) logsAnswer(req request) answer {
	snap, ok := inbox.Ask(sv.d.Inbox, 5*time.Second, func(r chan<- driver.Snapshot) driver.Input { return driver.StatusQuery{Reply: r} })
	if !ok {
		return busy
	}
	if len(req.Operands) == 0 {
		return sv.mergedLogs(req, snap)
	}
	job, n := req.Operands[0], req.Count("-n")
	if code, bad := driver.StatusCode(snap, []string{job}); code == driver.CodeUnknown {
		return errAnswer(code, "%s", strings.Join(bad, "\n"))
	}
	lines, where := sv.d.Rings.Tail(job, n)
	text := joinLines(lines)
	if where != "" {
		text = fmt.Sprintf("(%s: %s; here are pmtr's lines about it)\n", job, where) + text
	}
	a := answer{text: text}
	if req.Follows() {
		a.stream = func(w io.Writer) {
			ch, cancel := sv.d.Rings.Follow(job)
			sv.follow(ch, cancel, w, func(l string) string { return l })
		}
	}
	return a
}

// mergedLogs: pmtr logs without a job: pmtr's whole log, its own lines and
// every job's in the order they came, each with the job it is about ("-"
// for pmtr's own), the column as wide as the longest job name.
func (sv *server) mergedLogs(req request, snap driver.Snapshot) answer {
	width := 1
	for _, j := range snap.Jobs {
		width = max(width, len(j.Name))
	}
	format := func(m joboutput.Merged) string {
		job := m.Job
		if job == "" {
			job = "-"
		}
		return fmt.Sprintf("%s %-*s  %s", m.At, width, job, m.Text)
	}
	var tail []joboutput.Merged
	var ch <-chan string
	var cancel func()
	if req.Follows() { // the tail and the lines after it, none lost or twice
		tail, ch, cancel = sv.d.Rings.FollowAll(req.Count("-n"))
	} else {
		tail = sv.d.Rings.TailAll(req.Count("-n"))
	}
	var text strings.Builder
	for _, m := range tail {
		text.WriteString(format(m) + "\n")
	}
	a := answer{text: text.String()}
	if ch != nil {
		a.stream = func(w io.Writer) {
			sv.follow(ch, cancel, w, func(l string) string { return format(joboutput.ParseMerged(l)) })
		}
	}
	return a
}

// follow writes the lines of ch, as show words them, to w until the client
// goes or pmtr stops.
func (sv *server) follow(ch <-chan string, cancel func(), w io.Writer, show func(string) string) {
	defer cancel()
	gone := make(chan struct{})
	if c, ok := w.(net.Conn); ok {
		go func() { io.Copy(io.Discard, c); close(gone) }() // EOF: the client left
	}
	for {
		select {
		case line := <-ch:
			if _, err := io.WriteString(w, show(line)+"\n"); err != nil {
				return
			}
		case <-gone:
			return
		case <-sv.d.Inbox.Done():
			return
		}
	}
}

// metricsAnswer: pmtr metrics, over the control socket.
func (sv *server) metricsAnswer(request) answer {
	var text strings.Builder
	if err := sv.d.Metrics(&text, false); err != nil {
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

// upgradeAnswer: pmtr upgrade. When the new binary takes over, this
// process is that binary by then, and it answers the connection it
// inherits; this answer is for an upgrade that did not happen.
func (sv *server) upgradeAnswer(req request) answer {
	c, ok := req.conn.(*net.UnixConn)
	if sv.d.Upgrade == nil || !ok {
		return errAnswer(driver.CodeFailed, "upgrade: this pmtr cannot be upgraded in place")
	}
	sv.release(c) // the upgrade waits for the other requests being answered, not for itself
	err := sv.d.Upgrade(req.Value("--binary"), Caller{Conn: c, Version: req.Version, By: req.by})
	return errAnswer(driver.CodeFailed, "%v", err)
}
