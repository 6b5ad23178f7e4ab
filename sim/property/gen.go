package property

import (
	"fmt"
	"time"

	"pgregory.net/rapid"

	"pmtr/confgrammar"
	"pmtr/sim"
)

var jobNames = []string{"a", "b", "c", "d"}

var depPaths = []string{"/deps/one", "/deps/two"}

// genJob draws one job definition; a small space so that reloads often keep,
// change or remove the same names.
func genJob(t *rapid.T, name string) confgrammar.Job {
	j := confgrammar.Job{Name: name}
	j.Cmd = []string{"/bin/" + name, rapid.SampledFrom([]string{"x", "y"}).Draw(t, name+".arg")}
	j.Order = rapid.IntRange(-1, 1).Draw(t, name+".order")
	j.Once = rapid.IntRange(0, 5).Draw(t, name+".once") == 0
	j.Wait = rapid.IntRange(0, 5).Draw(t, name+".wait") == 0
	j.Disabled = rapid.IntRange(0, 5).Draw(t, name+".disable") == 0
	if rapid.Bool().Draw(t, name+".bounces") {
		j.Bounce = time.Duration(rapid.IntRange(1, 40).Draw(t, name+".bounce")) * time.Second
	}
	for _, p := range depPaths {
		if rapid.IntRange(0, 3).Draw(t, name+".dep"+p) == 0 {
			j.Depends = append(j.Depends, p)
		}
	}
	// At most one of the fields that only the process sees, half the time:
	// reloads still often keep a job as it was.
	if i := rapid.IntRange(0, 2*len(processFields)-1).Draw(t, name+".process"); i < len(processFields) {
		processFields[i](&j)
	}
	genPolicy(t, name, &j)
	return j
}

// processFields each set one field that goes into the process, as a
// config could write it.
var processFields = []func(*confgrammar.Job){
	func(j *confgrammar.Job) { j.Dir = "/srv" },
	func(j *confgrammar.Job) { j.Out = "/var/log/job.out" },
	func(j *confgrammar.Job) { j.Err = "/var/log/job.err" },
	func(j *confgrammar.Job) { j.In = "/dev/zero" },
	func(j *confgrammar.Job) { j.Env = []string{"A=1"} },
	func(j *confgrammar.Job) { j.User = "nobody" },
	func(j *confgrammar.Job) { j.Nice = 5 },
	func(j *confgrammar.Job) { j.CPUs = []int{0, 1} },
	func(j *confgrammar.Job) { j.Ulimits = []confgrammar.Ulimit{{Flag: "-n", Value: 1024}} },
}

// genConfig draws 1 to 4 jobs, sorted as the parser sorts them.
func genConfig(t *rapid.T) *confgrammar.Config {
	c := &confgrammar.Config{}
	for _, n := range jobNames {
		if rapid.IntRange(0, 3).Draw(t, "has."+n) > 0 {
			c.Jobs = append(c.Jobs, genJob(t, n))
		}
	}
	if len(c.Jobs) == 0 {
		c.Jobs = append(c.Jobs, genJob(t, "a"))
	}
	if rapid.IntRange(0, 3).Draw(t, "reports") == 0 {
		c.Reports = []confgrammar.Report{{Host: "127.0.0.1", Port: 9999}}
	}
	// Round-trip through the real parser: the core only ever sees parsed configs.
	parsed, err := confgrammar.Parse("gen.conf", []byte(confgrammar.Format(c)))
	if err != nil {
		panic(fmt.Sprintf("generated config does not parse: %v\n%s", err, confgrammar.Format(c)))
	}
	return parsed
}

func genScript(t *rapid.T, name string) *sim.Script {
	n := rapid.IntRange(1, 3).Draw(t, name+".runs")
	s := &sim.Script{}
	for i := 0; i < n; i++ {
		label := fmt.Sprintf("%s.run%d", name, i)
		s.Runs = append(s.Runs, sim.Run{
			For:        time.Duration(rapid.IntRange(0, 30).Draw(t, label+".for")) * time.Second,
			Exit:       rapid.SampledFrom([]int{0, 1, 33}).Draw(t, label+".exit"),
			IgnoreTerm: rapid.IntRange(0, 3).Draw(t, label+".ignoreterm") == 0,
			StopDelay:  time.Duration(rapid.IntRange(0, 15).Draw(t, label+".stopdelay")) * time.Second,
		})
	}
	return s
}
