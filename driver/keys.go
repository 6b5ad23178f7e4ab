package driver

import (
	"bytes"
	"fmt"
	"path"
	"slices"

	"pmtr/confgrammar"
	"pmtr/core"
)

// resolveKeys makes the key file of every listen line absolute (relative
// to pmtr's working directory) and lists them once each.
func (d *Driver) resolveKeys(cfg *confgrammar.Config) []string {
	var out []string
	for i := range cfg.Listens {
		k := cfg.Listens[i].KeyFile
		if k == "" {
			continue
		}
		if !path.IsAbs(k) {
			k = path.Join(d.o.Cwd, k)
		}
		cfg.Listens[i].KeyFile = k
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// checkKeys returns the keys by path, or an error at each listen line whose
// key file cannot be used.
func (d *Driver) checkKeys(listens []confgrammar.Listen, files []KeyFile) (map[string][]byte, error) {
	keys := map[string][]byte{}
	bad := map[string]error{}
	for _, f := range files {
		if f.Err != nil {
			bad[f.Path] = f.Err
		} else {
			keys[f.Path] = f.Key
		}
	}
	var errs confgrammar.ErrorList
	for _, l := range listens {
		if err, ok := bad[l.KeyFile]; ok && l.KeyFile != "" {
			errs = append(errs, &confgrammar.Error{File: d.o.ConfigPath, Pos: l.Pos,
				Msg: fmt.Sprintf("key file %s: %v (the listeners keep their previous key)", l.KeyFile, err)})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return keys, nil
}

// keyChanges applies rotated keys of the config in force: a new key is
// used at once and the old one refused; an unusable key file rejects the
// change (false) and the listeners keep the key they have.
func (d *Driver) keyChanges(f FilesRead) bool {
	d.keepHeld(&f)
	keys, err := d.checkKeys(d.setup.Listens, f.Keys)
	if err != nil {
		d.rejected(err, "")
		return false
	}
	if d.keysChanged(keys) {
		d.setup.Keys = keys
		d.b.Apply(d.setup)
	}
	return true
}

// keysChanged logs each key file in force whose key differs in keys, in
// path order, and reports whether any did.
func (d *Driver) keysChanged(keys map[string][]byte) bool {
	paths := make([]string, 0, len(keys))
	for p := range keys {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	changed := false
	for _, p := range paths {
		if old, ok := d.setup.Keys[p]; ok && !bytes.Equal(old, keys[p]) {
			d.b.Log(core.Log{Level: core.Info, Text: fmt.Sprintf("key file %s changed; control datagrams need the new key from now on", p)})
			changed = true
		}
	}
	return changed
}
