package confgrammar

import (
	"maps"
	"slices"
)

// merge applies an override block to the job defined earlier: each option
// the block gives replaces the job's value, a repeatable one (env,
// depends, ulimit, after, cpu) as a whole. A flag given (disable, wait,
// once, critical) is set. It returns a new builder; neither input changes.
func merge(base, over *jobBuilder) *jobBuilder {
	m := &jobBuilder{job: base.job, seen: maps.Clone(base.seen), file: base.file, from: maps.Clone(base.from),
		namePos: base.namePos, afterPos: base.afterPos}
	if m.from == nil {
		m.from = map[string]string{}
	}
	given := map[string]bool{}
	for _, o := range over.origins {
		if o.Key != "name" && o.Key != "override" {
			given[o.Key] = true
		}
	}
	for key := range given {
		setOption(&m.job, &over.job, key)
		delete(m.seen, key)
		if at, ok := over.seen[key]; ok {
			m.seen[key] = at
		}
		m.from[key] = over.file
		if key == "after" {
			m.afterPos = over.afterPos
		}
	}
	origins := make([]Origin, 0, len(base.job.Origins)+len(over.origins))
	for _, o := range base.job.Origins {
		if !given[o.Key] {
			origins = append(origins, o)
		}
	}
	for _, o := range over.origins {
		if o.Key != "name" {
			origins = append(origins, o)
		}
	}
	m.job.Origins = origins
	m.origins = origins
	return m
}

// setOption copies the fields an option sets from src to dst.
func setOption(dst, src *Job, key string) {
	switch key {
	case "cmd":
		dst.Cmd = src.Cmd
	case "dir":
		dst.Dir = src.Dir
	case "out":
		dst.Out = src.Out
	case "err":
		dst.Err = src.Err
	case "in":
		dst.In = src.In
	case "env":
		dst.Env = src.Env
	case "user":
		dst.User = src.User
	case "order":
		dst.Order = src.Order
	case "nice":
		dst.Nice = src.Nice
	case "cpu":
		dst.CPUs = src.CPUs
	case "ulimit":
		dst.Ulimits = src.Ulimits
	case "bounce":
		dst.Bounce = src.Bounce
	case "depends":
		dst.Depends = src.Depends
	default:
		setFlagOrPolicy(dst, src, key)
	}
}

func setFlagOrPolicy(dst, src *Job, key string) {
	switch key {
	case "disable":
		dst.Disabled = true
	case "wait":
		dst.Wait = true
	case "once":
		dst.Once = true
	case "critical":
		dst.Critical = true
	case "restart":
		dst.Restart = src.Restart
	case "success":
		dst.Success = src.Success
	case "backoff":
		dst.Backoff = src.Backoff
	case "stable":
		dst.Stable = src.Stable
	case "give-up":
		dst.GiveUp = src.GiveUp
	case "stop signal":
		dst.StopSignal = src.StopSignal
	case "stop timeout":
		dst.StopTimeout = src.StopTimeout
	default:
		setReadiness(dst, src, key)
	}
}

func setReadiness(dst, src *Job, key string) {
	switch key {
	case "ready":
		dst.Ready = src.Ready
	case "ready timeout":
		dst.ReadyTimeout = src.ReadyTimeout
	case "after":
		dst.After = src.After
	case "check":
		dst.Check = src.Check
	case "on-check-fail":
		dst.OnCheckFail = src.OnCheckFail
	case "watchdog":
		dst.Watchdog = src.Watchdog
	}
}

// OverrideKeys are the options an override block may give, as Origins
// name them: every job option but name.
var OverrideKeys = slices.DeleteFunc(slices.Clone(originKeys), func(k string) bool { return k == "name" })

// originKeys are the Keys of Origins, one per option.
var originKeys = []string{"name", "cmd", "dir", "out", "err", "in", "env", "user", "order", "nice", "cpu", "ulimit",
	"bounce", "depends", "disable", "wait", "once", "critical", "restart", "success", "backoff", "stable", "give-up",
	"stop signal", "stop timeout", "ready", "ready timeout", "after", "check", "on-check-fail", "watchdog"}
