package joboutput

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"pmtr/live/logsink"
	"pmtr/live/logsink/logtest"
)

// ringTexts is what job's ring holds, without the times.
func ringTexts(logs *Rings, job string) []string {
	lines, _ := logs.Tail(job, ringLines)
	var got []string
	for _, l := range lines {
		_, text, _ := strings.Cut(l, " ")
		got = append(got, text)
	}
	return got
}

// waitPipes waits until the reader holds n pipes.
func waitPipes(t *testing.T, r *Reader, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		r.mu.Lock()
		got := len(r.pipes)
		r.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reader holds %d pipes, want %d", got, n)
		}
	}
}

// A job's output is read without a buffer while the job is quiet: a line
// written in parts across a pause is still one line, a long line is split
// at maxLine, and the pipe is let go when the writer closes.
func TestOutputAcrossPauses(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var buf logtest.Buffer
	log, logs := logsink.NewStderrLogger(&buf, 0), NewRings()
	r, err := NewReader(log, logs)
	if err != nil {
		t.Fatal(err)
	}
	r.Admit(r.Prepare(pr, "talk", 42, false))
	waitPipes(t, r, 1)
	pw.WriteString("one\ntwo") // one write: read at once, whole
	// Once "one" is in the ring the reader has read both and holds "two",
	// waiting for more.
	for deadline := time.Now().Add(30 * time.Second); len(ringTexts(logs, "talk")) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(`"one" is not in the ring within 30 s`)
		}
	}
	pw.WriteString(" three\n" + strings.Repeat("x", maxLine+10) + "\n" + strings.Repeat("y", maxLine-1) + "\nlast")
	pw.Close()
	waitPipes(t, r, 0)
	log.Flush()
	want := []string{"talk[42]: one", "talk[42]: two three", "talk[42]: " + strings.Repeat("x", maxLine),
		"talk[42]: xxxxxxxxxx", "talk[42]: " + strings.Repeat("y", maxLine-1), "talk[42]: last"}
	if got := ringTexts(logs, "talk"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("job log lines:\n got %q\nwant %q", got, want)
	}
	if !strings.Contains(buf.String(), "talk[42]: two three") {
		t.Fatalf("pmtr's log lacks the joined line:\n%s", buf.String())
	}
	r.Close() // the reader's own fields can be read after it
	if len(r.spare) > 8 {
		t.Fatalf("%d spare line buffers kept", len(r.spare))
	}
}

// One goroutine reads every job's pipes: 300 jobs that each write a line
// now and then add no goroutine, and every line comes out whole.
func TestOutputOfManyJobsOnOneGoroutine(t *testing.T) {
	log, logs := logsink.NewStderrLogger(&logtest.Buffer{}, 0), NewRings()
	r, err := NewReader(log, logs)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before := runtime.NumGoroutine()
	var writers []*os.File
	for i := range 300 {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Admit(r.Prepare(pr, fmt.Sprint("j", i), 1000+i, i%2 == 1))
		writers = append(writers, pw)
	}
	waitPipes(t, r, 300)
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("%d goroutines for 300 pipes (were %d)", n, before)
	}
	for round := range 3 {
		for i, w := range writers {
			fmt.Fprintf(w, "round %d of job %d", round, i)
			fmt.Fprintf(w, " ends here\n")
		}
	}
	for _, w := range writers {
		w.Close()
	}
	waitPipes(t, r, 0)
	for _, i := range []int{0, 151, 299} {
		got := ringTexts(logs, fmt.Sprint("j", i))
		want := []string{}
		for round := range 3 { // odd jobs write to their stderr pipe
			want = append(want, OutputLine(fmt.Sprint("j", i), 1000+i, fmt.Sprintf("round %d of job %d ends here", round, i), i%2 == 1))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("job j%d's lines:\n got %q\nwant %q", i, got, want)
		}
	}
}

// At close the reader takes what the pipes hold, and a pipe handed over
// after that is closed.
func TestOutputCloseTakesWhatIsLeft(t *testing.T) {
	log, logs := logsink.NewStderrLogger(&logtest.Buffer{}, 0), NewRings()
	r, err := NewReader(log, logs)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, _ := os.Pipe()
	defer pw.Close()
	r.Admit(r.Prepare(pr, "late", 7, false))
	pw.WriteString("said before the end\nand half a line")
	r.Close()
	if got := ringTexts(logs, "late"); strings.Join(got, "|") != "late[7]: said before the end|late[7]: and half a line" {
		t.Fatalf("lines taken at close: %q", got)
	}
	pr2, pw2, _ := os.Pipe()
	r.Admit(r.Prepare(pr2, "after", 8, false))
	if _, err := pw2.WriteString("x"); err == nil {
		t.Fatal("a pipe handed over after close is still open")
	}
}
