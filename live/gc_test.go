package live

import (
	"runtime/debug"
	"sync"
	"testing"
)

// The daemon's start collects at startGCPercent, its steady run at
// gcPercent from the first burst's end on (once); a GOGC of the user's
// is left alone.
func TestStartAndSteadyGCTargets(t *testing.T) {
	before := debug.SetGCPercent(77)
	defer debug.SetGCPercent(before)
	t.Setenv("GOGC", "")
	StartGC()
	if got := debug.SetGCPercent(startGCPercent); got != startGCPercent {
		t.Fatalf("at the start the GC target is %d, want %d", got, startGCPercent)
	}
	once := &sync.Once{}
	steadyGC(once)
	if got := debug.SetGCPercent(123); got != gcPercent {
		t.Fatalf("after the first burst the GC target is %d, want %d", got, gcPercent)
	}
	steadyGC(once) // a later burst changes nothing
	if got := debug.SetGCPercent(77); got != 123 {
		t.Fatalf("a second burst's end set the GC target to %d", got)
	}
	t.Setenv("GOGC", "100")
	StartGC()
	steadyGC(&sync.Once{})
	if got := debug.SetGCPercent(77); got != 77 {
		t.Fatalf("with GOGC set the GC target was moved to %d", got)
	}
}
