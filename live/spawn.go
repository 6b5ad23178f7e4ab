package live

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"pmtr/confgrammar"
)

// spawner starts jobs through the re-exec helper.
type spawner struct {
	self   string // path of the pmtr binary (the helper)
	nrOpen uint64
	log    *Logger
}

func newSpawner(log *Logger) (*spawner, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("live: find own binary for the exec helper: %w", err)
	}
	s := &spawner{self: self, nrOpen: 1 << 20, log: log}
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			s.nrOpen = n
		}
	}
	return s, nil
}

// started is a helper that is running; status delivers "" once the job's
// program runs (exec succeeded) or the reason it could not be started.
type started struct {
	pid    int
	status <-chan string
}

// start launches the helper for job j in its own process group. Its stdout
// and stderr, unless redirected to files, go to pmtr's log line by line.
func (s *spawner) start(j *confgrammar.Job) (started, error) {
	env, err := s.helperEnv(j)
	if err != nil {
		return started{}, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return started{}, fmt.Errorf("live: status pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		statusR.Close()
		statusW.Close()
		return started{}, fmt.Errorf("live: output pipe: %w", err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return started{}, fmt.Errorf("live: open %s: %w", os.DevNull, err)
	}
	attr := &os.ProcAttr{
		Env:   env,
		Files: []*os.File{devnull, outW, outW, statusW},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	}
	p, err := os.StartProcess(s.self, []string{"pmtr", HelperArg}, attr)
	devnull.Close()
	outW.Close()
	statusW.Close()
	if err != nil {
		statusR.Close()
		outR.Close()
		return started{}, fmt.Errorf("live: start helper for job %s: %w", j.Name, err)
	}
	pid := p.Pid
	p.Release() // pmtr's reaper owns every wait; signals go to the group by number
	go copyOutput(s.log, j.Name, pid, outR)
	return started{pid: pid, status: readStatus(statusR)}, nil
}

func readStatus(r *os.File) <-chan string {
	ch := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 4096))
		r.Close()
		ch <- string(b)
	}()
	return ch
}

func (s *spawner) helperEnv(j *confgrammar.Job) ([]string, error) {
	spec := procSpec{
		Argv: j.Cmd, Dir: j.Dir, Env: j.Env, User: j.User, Nice: j.Nice, CPUs: j.CPUs,
		In: j.In, Out: logTarget(j.Out), Err: logTarget(j.Err), NrOpen: s.nrOpen, IsChild: true,
	}
	for _, u := range j.Ulimits {
		spec.Limits = append(spec.Limits, limit{Resource: u.Resource, Value: u.Value, Infinite: u.Infinite})
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("live: encode spec of job %s: %w", j.Name, err)
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, helperEnv+"=") {
			env = append(env, kv)
		}
	}
	return append(env, helperEnv+"="+string(b)), nil
}

// logTarget: "syslog" (or nothing) means pmtr's log, i.e. keep the pipe.
func logTarget(path string) string {
	if path == "syslog" {
		return ""
	}
	return path
}
