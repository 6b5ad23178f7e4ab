package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A running job whose stdout and stderr go to files costs pmtr no file
// descriptor (nor its cgroup, which is opened only for the fork); a job
// whose output goes to pmtr's log costs one, its pipe.
func TestRunningJobsCostNoDescriptor(t *testing.T) {
	dir := t.TempDir()
	var conf strings.Builder
	for i := range 200 {
		fmt.Fprintf(&conf, "job {\nname f%d\ncmd /bin/sleep %d\nout %s\nerr %s\n}\n", i, 100500+i, filepath.Join(dir, "out"), os.DevNull)
	}
	for i := range 50 {
		fmt.Fprintf(&conf, "job {\nname p%d\ncmd /bin/sleep %d\n}\n", i, 100800+i)
	}
	path := filepath.Join(dir, "pmtr.conf")
	os.WriteFile(path, []byte(conf.String()), 0o644)
	d := startForeground(t, dir, path)
	deadline := time.Now().Add(10 * eventWait)
	for strings.Count(d.log.String(), "started job") < 250 {
		if time.Now().After(deadline) {
			t.Fatalf("not all 250 jobs started:\n%s", d.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// 50 pipes, and pmtr's own: std streams, lock, epoll sets, inotify,
	// eventfd, status socket, log. The last starts' descriptors are closed
	// just after their fork: wait for that.
	var fds []os.DirEntry
	for deadline := time.Now().Add(eventWait); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if fds, err = os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid)); err != nil {
			t.Fatal(err)
		}
		if len(fds) <= 50+30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pmtr holds %d descriptors with 200 jobs writing to files and 50 to its log: want at most 80", len(fds))
		}
	}
	t.Logf("pmtr holds %d descriptors", len(fds))
}
