package driver

import (
	"fmt"

	"pmtr/core"
)

// Containment tells the driver how well the backend keeps the jobs'
// processes together: Degraded says what is wrong (live: the pid records
// that let the next pmtr find the jobs cannot be written), "" that it
// works again. pmtr status and why show it; the backend logs it.
type Containment struct {
	Degraded string
}

func (Containment) isInput() {}
func (c Containment) String() string {
	if c.Degraded == "" {
		return "containment works"
	}
	return fmt.Sprintf("containment degraded: %s", c.Degraded)
}

// ContainmentState is containment as pmtr status shows it: what is wrong
// since when, or "" when nothing is.
type ContainmentState struct {
	Degraded string
	Since    core.Time
}

// Line is pmtr status's line about containment ("" when it works), with
// times worded by at.
func (c ContainmentState) Line(at func(core.Time) string) string {
	if c.Degraded == "" {
		return ""
	}
	return fmt.Sprintf("containment degraded since %s: %s", at(c.Since), c.Degraded)
}

func (d *Driver) onContainment(c Containment) {
	if c.Degraded == d.contain.Degraded {
		return
	}
	d.contain = ContainmentState{Degraded: c.Degraded, Since: d.b.Now()}
}
