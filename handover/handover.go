// Package handover is the format of what one pmtr hands the next at pmtr
// upgrade: the driver's state (with the core's snapshot), the inputs that
// came after it was taken, the spawns not begun, the descriptors the new
// binary inherits, and the jobs' log rings. It is pure: the live backend
// writes the bytes into a memfd and execs the new binary, which reads
// them back.
//
// The format is versioned. Format is what this pmtr writes; Reads lists
// what it reads (pmtr --state-format prints it, and the old pmtr refuses
// a binary that does not read its Format). Change Format when a change of
// State, driver.State or core.Snapshot would be misread by a binary that
// reads the old one: the codec (codec.go) fills a field that is new to the
// reader with its zero value and skips one it does not know, so a new
// field whose zero is a right default needs no new format.
package handover

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"pmtr/core"
	"pmtr/driver"
)

// Format is the version of the state this pmtr writes: 3 is pmtr's own
// encoding (codec.go), compressed with flate. Formats 1 (a gob stream) and
// 2 (the same compressed), written by pmtr before 2026-12-07, are no longer
// read: encoding/gob made 300 kB of the binary. An older pmtr refuses to
// hand over to this one (it checks pmtr --state-format first), and a state
// of those formats that reaches this one anyway is refused with its
// format named (the new pmtr then rebuilds from the jobs' cgroups).
const Format = 3

// Reads lists the formats this pmtr reads.
var Reads = []int{3}

// header starts the bytes of a state: the format, then the stream.
const header = "pmtr-state "

// State is everything the new pmtr needs to carry on.
type State struct {
	From    string       // the version of the pmtr that wrote it
	Driver  driver.State // the decisions' state
	Pending []Pending    // inputs that came after Driver was taken, in order
	Spawns  []Spawn      // spawns handed to the old spawners and not begun
	// At is the old pmtr's time when CLOCK_MONOTONIC read Mono (ns): the
	// new pmtr's clock goes on from there (the time the exec took passes
	// for the jobs too).
	At      core.Time
	Mono    int64
	Log     Log
	Files   Files
	Cgroups bool // the jobs are in cgroups (else process groups with pid records)
}

// Pending is one input the old driver did not get to: a core event, a
// control datagram's text or a reload.
type Pending struct {
	At      core.Time
	Event   core.Event
	Control *driver.ControlText
	Reload  *driver.ReloadNeed
}

// Spawn is a spawn the old pmtr's spawners had not begun; Cancelled: the
// core withdrew it meanwhile (it is answered SpawnCancelled).
type Spawn struct {
	Spawn     core.Spawn
	Cancelled bool
}

// Log is how pmtr logs: to stderr (the foreground, the journal) or to
// syslog (detached), with its verbosity.
type Log struct {
	Syslog  bool
	Verbose int
}

// Files are the descriptors the new pmtr inherits, at the same numbers;
// -1 where there is none.
type Files struct {
	Control int        // the control socket's listener
	Lock    int        // the config's lock
	Reply   int        // pmtr upgrade's connection: the new pmtr answers it
	ReplyV  int        // the version its request was asked in
	Rings   int        // a memfd with the jobs' log rings (EncodeRings)
	Metrics []Listener // metrics on endpoints
	UDP     []Listener // listen on sockets
	Outputs []Output   // the jobs' output pipes
	Notify  []NotifySocket
	Pipes   []ReadyPipe
}

// NotifySocket is a job's sd_notify socket, with the user it was made
// for (-1: pmtr's).
type NotifySocket struct {
	Job      string
	Path     string
	FD       int
	UID, GID int
}

// ReadyPipe is the read end of a run's readiness pipe.
type ReadyPipe struct {
	Job     string
	Attempt int
	FD      int
}

// Listener is a bound socket and the config line it is for.
type Listener struct {
	ID string
	FD int
}

// Output is the read end of a job's output pipe, with what was read of
// a line not yet ended.
type Output struct {
	FD     int
	Job    string
	PID    int
	Stderr bool
	Part   []byte
}

// Ring is one job's log ring (its last lines, where its output goes), or
// the merged ring of pmtr's whole log (Merged).
type Ring struct {
	Job       string
	Merged    bool
	Lines     []string
	Out, Errf string
}

// wire encodes the state; the core's events travel in Pending as an
// interface, by name.
var wire = newCodec(core.Spawned{}, core.SpawnFailed{}, core.SpawnCancelled{}, core.ExecFailed{},
	core.Exited{}, core.DepChanged{}, core.Control{}, core.Shutdown{}, core.ProbeResult{}, core.Notified{},
	core.ConfigRejected{}, core.ConfigRestored{})

// Encode is the state's bytes.
func Encode(s State) ([]byte, error) { return encode(s) }

// Decode reads a state, refusing a format this pmtr does not read.
func Decode(b []byte) (State, error) {
	var s State
	err := decode(b, &s)
	return s, err
}

// EncodeRings is the bytes of the jobs' log rings (apart from the state:
// they may hold 64 kB a job).
func EncodeRings(r []Ring) ([]byte, error) { return encode(r) }

// DecodeRings reads the log rings.
func DecodeRings(b []byte) ([]Ring, error) {
	var r []Ring
	err := decode(b, &r)
	return r, err
}

func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header + strconv.Itoa(Format) + "\n")
	raw, err := wire.marshal(v)
	if err != nil {
		return nil, fmt.Errorf("handover: %w", err)
	}
	z, err := flate.NewWriter(&buf, flate.BestSpeed) // fast: the jobs wait unsupervised meanwhile
	if err == nil {
		_, err = z.Write(raw)
	}
	if err == nil {
		err = z.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("handover: %w", err)
	}
	return buf.Bytes(), nil
}

func decode(b []byte, v any) error {
	line, rest, ok := bytes.Cut(b, []byte("\n"))
	f, isHeader := strings.CutPrefix(string(line), header)
	if !ok || !isHeader {
		return fmt.Errorf("handover: not a pmtr state (it begins %q)", first(b))
	}
	n, err := strconv.Atoi(f)
	if err != nil || !slices.Contains(Reads, n) {
		old := ""
		if n == 1 || n == 2 {
			old = " (gob, written by a pmtr before 2026-12-07)"
		}
		return fmt.Errorf("handover: state format %s%s, this pmtr reads %s", f, old, FormatsText(Reads))
	}
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(rest)))
	if err == nil {
		err = wire.unmarshal(raw, v)
	}
	if err != nil {
		return fmt.Errorf("handover: state format %d: %w", n, err)
	}
	return nil
}

func first(b []byte) string {
	if len(b) > 20 {
		b = b[:20]
	}
	return string(b)
}

// FormatsText words formats as pmtr --state-format prints them: "1 2".
func FormatsText(formats []int) string {
	words := make([]string, len(formats))
	for i, f := range formats {
		words[i] = strconv.Itoa(f)
	}
	return strings.Join(words, " ")
}

// FormatLine is what pmtr --state-format prints: the formats it reads.
func FormatLine() string { return header + FormatsText(Reads) + "\n" }

// CheckFormats reads another binary's pmtr --state-format output and says
// why it cannot read the state this pmtr writes, or nil.
func CheckFormats(out string) error {
	words, ok := strings.CutPrefix(strings.TrimSpace(out), strings.TrimSpace(header))
	if !ok {
		return fmt.Errorf("it does not say which state formats it reads (an older pmtr, or not pmtr: %q)", first([]byte(out)))
	}
	var reads []int
	for _, w := range strings.Fields(words) {
		n, err := strconv.Atoi(w)
		if err != nil {
			return fmt.Errorf("it says it reads state formats %q", words)
		}
		reads = append(reads, n)
	}
	if !slices.Contains(reads, Format) {
		return fmt.Errorf("it reads state formats %s, this pmtr writes format %d", FormatsText(reads), Format)
	}
	return nil
}
