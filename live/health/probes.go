package health

import (
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"pmtr/confgrammar"
	"pmtr/core"
)

// ExecSpec is the program an exec probe runs, and as whom: the fields of
// live/probe's ExecSpec, which the assembly converts it to.
type ExecSpec struct {
	Argv   []string            // Argv[0] as the job's cmd: not searched in PATH, relative to Dir
	Env    []string            // the whole environment; nil: pmtr's own
	Dir    string              // "": pmtr's working directory
	Cred   *syscall.Credential // nil: pmtr's own user
	Cgroup string              // a cgroup v2 directory to run in (the job's), or ""
}

// Probe starts an attempt and returns at once; an exec probe first finds
// its job's user on a goroutine of its own (a look-up may wait for NSS).
func (h *Health) Probe(e core.Probe) {
	if e.What.Kind == confgrammar.ProbeExec {
		go h.startExec(e)
		return
	}
	if !h.runner.Start(e, ExecSpec{}) {
		go h.deliver(core.ProbeResult{Job: e.Job, Seq: e.Seq, Busy: true, Outcome: "an earlier attempt still runs"})
	}
}

func (h *Health) startExec(e core.Probe) {
	spec, err := h.execSpec(e.Spec, e.What.Argv)
	if err != nil {
		h.deliver(core.ProbeResult{Job: e.Job, Seq: e.Seq, Outcome: err.Error()})
		return
	}
	if !h.runner.Start(e, spec) {
		h.deliver(core.ProbeResult{Job: e.Job, Seq: e.Seq, Busy: true, Outcome: "an earlier attempt still runs"})
	}
}

// execSpec runs an exec probe as its job runs: its user and groups, its
// environment (HOME, USER and LOGNAME its user's), its dir and its cgroup.
func (h *Health) execSpec(j *confgrammar.Job, argv []string) (ExecSpec, error) {
	spec := ExecSpec{Argv: argv, Dir: j.Dir, Cgroup: h.cg.Dir(j.Name)}
	env := os.Environ()
	if j.User != "" {
		u, cred, err := lookupCred(j.User)
		if err != nil {
			return spec, err
		}
		spec.Cred = cred
		env = setEnvVar(env, "HOME="+u.HomeDir, "USER="+u.Username, "LOGNAME="+u.Username)
	}
	spec.Env = setEnvVar(env, j.Env...)
	return spec, nil
}

// lookupCred finds a user's ids and groups.
func lookupCred(name string) (*user.User, *syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, nil, fmt.Errorf("unknown user: %s", name)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.Atoi(g); err == nil && n != gid {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return u, cred, nil
}

// setEnvVar sets each VAR=VALUE in a copy of env, replacing earlier values.
func setEnvVar(env []string, kvs ...string) []string {
	env = slices.Clone(env)
	for _, kv := range kvs {
		k, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		if i >= 0 {
			env[i] = kv
		} else {
			env = append(env, kv)
		}
	}
	return env
}
