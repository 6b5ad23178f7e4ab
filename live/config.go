package live

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"pmtr/confgrammar"
	"pmtr/core"
)

// ReadConfig reads and parses the config file, creating it empty (mode
// 0600) when it does not exist, as C pmtr does; note receives that news.
func ReadConfig(path string, note func(string)) (*confgrammar.Config, []byte, error) {
	src, err := readLimited(path)
	if errors.Is(err, fs.ErrNotExist) {
		if cerr := createEmpty(path); cerr != nil {
			return nil, nil, cerr
		}
		note(fmt.Sprintf("creating empty %s", path))
		src, err = nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("can't open %s: %w", path, err)
	}
	cfg, err := confgrammar.Parse(path, src)
	return cfg, src, err
}

func createEmpty(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("can't create %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil { // exactly 0600, whatever the umask
		return fmt.Errorf("can't create %s: %w", path, err)
	}
	return nil
}

// readLimited reads a whole file of at most confgrammar.MaxSize bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, confgrammar.MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > confgrammar.MaxSize {
		return nil, fmt.Errorf("file too large (over %d bytes)", confgrammar.MaxSize)
	}
	return b, nil
}

// resolveDepends rewrites every job's dependencies to the paths pmtr
// watches (relative to the job's dir, else to cwd), as the core expects.
func resolveDepends(cfg *confgrammar.Config, cwd string) {
	for i := range cfg.Jobs {
		cfg.Jobs[i].Depends = cfg.Jobs[i].DependPaths(cwd)
	}
}

// depStates reads every dependency of cfg once, in job order.
func depStates(cfg *confgrammar.Config) []core.DepState {
	var out []core.DepState
	seen := map[string]bool{}
	for _, j := range cfg.Jobs {
		for _, p := range j.Depends {
			if !seen[p] {
				seen[p] = true
				out = append(out, depState(p))
			}
		}
	}
	return out
}

// depState hashes a dependency's content; only equality matters.
func depState(path string) core.DepState {
	b, err := readLimited(path)
	if err != nil {
		return core.DepState{Path: path, Missing: true}
	}
	sum := sha256.Sum256(b)
	return core.DepState{Path: path, Hash: hex.EncodeToString(sum[:8])}
}
