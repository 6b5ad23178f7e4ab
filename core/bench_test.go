package core_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pmtr/confgrammar"
	"pmtr/core"
)

func benchConfig(b *testing.B, n int, variant string) *confgrammar.Config {
	var s strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&s, "job {\nname job-%d\ncmd /bin/sleep %d\nenv I=%d\n", i, 1000+i, i)
		if i == n/2 {
			fmt.Fprintf(&s, "env V=%s\n", variant)
		}
		s.WriteString("}\n")
	}
	cfg, err := confgrammar.Parse("bench.conf", []byte(s.String()))
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

// answer plays a backend that starts every spawn at once with the next pid.
type answer struct{ pid int }

func (a *answer) pump(m *core.Machine, now core.Time) {
	for {
		rd := m.Ready()
		spawned := false
		for _, e := range rd.Effects {
			if s, ok := e.(core.Spawn); ok {
				a.pid++
				m.Step(now, core.Spawned{Job: s.Job, Attempt: s.Attempt, PID: a.pid})
				spawned = true
			}
		}
		if !spawned {
			return
		}
	}
}

// BenchmarkCoreExitRestart: one event is a long-lived job exiting and being
// restarted at once (Exited, then Spawned, each with its Ready), over 1000 jobs.
func BenchmarkCoreExitRestart(b *testing.B) {
	m, a := core.New(), &answer{pid: 99}
	m.Step(0, core.ConfigLoaded{Gen: 1, Config: benchConfig(b, 1000, "a")})
	a.pump(m, 0)
	now := core.Time(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		pid := a.pid - 999 // the oldest live pid: every job is restarted in turn
		now += core.Time(time.Millisecond)
		m.Step(now, core.Exited{PID: pid})
		a.pump(m, now)
	}
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCoreReloadOneChange: the config diff of 1000 jobs with one job
// changed (and changed back on the next iteration).
func BenchmarkCoreReloadOneChange(b *testing.B) {
	cfgs := []*confgrammar.Config{benchConfig(b, 1000, "a"), benchConfig(b, 1000, "b")}
	m, a := core.New(), &answer{pid: 99}
	m.Step(0, core.ConfigLoaded{Gen: 1, Config: cfgs[0]})
	a.pump(m, 0)
	now := core.Time(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		now += core.Time(time.Second)
		m.Step(now, core.ConfigLoaded{Gen: uint64(i + 2), Config: cfgs[(i+1)%2]})
		m.Ready()
	}
}
