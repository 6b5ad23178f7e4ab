package probe

import (
	"errors"
	"io/fs"
	"os"
)

// file is ok when path exists (a symbolic link: when what it names
// exists). The stat cannot be interrupted: on a network file system that
// does not answer it holds its turn, and the job's next attempt is refused
// until it returns.
func file(path string) (bool, string) {
	if path == "" {
		return false, "probe: no path to look for"
	}
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, path + " exists"
	case errors.Is(err, fs.ErrNotExist):
		return false, path + " does not exist"
	}
	return false, path + ": " + errnoText(err)
}
