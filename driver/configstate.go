package driver

import (
	"encoding/hex"
	"fmt"
	"slices"

	"pmtr/core"
)

// ConfigState is what pmtr status says of the config file: the config in
// force and, while the file on disk is a refused save, the refusal. It
// follows the file: a save that brings back the content in force ends the
// refusal.
type ConfigState struct {
	Path    string
	Since   core.Time // when the config in force was loaded
	Hash    string    // hex SHA-256 of the config in force
	Refused *Refusal  // nil unless the file on disk was refused
}

// Refusal is why the file on disk is not the config in force.
type Refusal struct {
	At     core.Time
	Errors []string // FILE:LINE:COL: message, as pmtr -t prints them
}

// Line is pmtr status's first line while the file is refused ("" when
// it is the config in force), with times worded by at.
func (c ConfigState) Line(at func(core.Time) string) string {
	if c.Refused == nil {
		return ""
	}
	n := len(c.Refused.Errors)
	return fmt.Sprintf("config %s: refused at %s, %d %s (pmtr -t shows them); the previous config stays in force",
		c.Path, at(c.Refused.At), n, plural(n, "error"))
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// inForce records a config just loaded: it is what the file holds.
func (d *Driver) inForce(sum [32]byte) {
	d.sum = sum
	d.conf = ConfigState{Path: d.o.ConfigPath, Since: d.b.Now(), Hash: hex.EncodeToString(sum[:])}
}

// refuse records that the file on disk was refused.
func (d *Driver) refuse(msgs []string) {
	d.conf.Refused = &Refusal{At: d.b.Now(), Errors: slices.Clone(msgs)}
}

// restored: the file holds the config in force again, so a refusal is
// over; the core logs it and counts the last reload as good.
func (d *Driver) restored() {
	if d.conf.Refused == nil {
		return
	}
	d.conf.Refused = nil
	d.step(d.b.Now(), core.ConfigRestored{File: d.o.ConfigPath})
}

// configState is a copy of the state for a snapshot.
func (d *Driver) configState() ConfigState {
	c := d.conf
	if c.Path == "" {
		c.Path = d.o.ConfigPath
	}
	if c.Refused != nil {
		r := *c.Refused
		c.Refused = &r
	}
	return c
}
