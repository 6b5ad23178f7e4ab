package confgrammar

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"pmtr/logsafe"
)

// FS gives Load the files of a config. live/files reads the real ones;
// a Files snapshot or a MapFS answers without a file system.
type FS interface {
	// ReadFile returns a file's content.
	ReadFile(name string) ([]byte, error)
	// Glob returns the files that pattern matches (path.Match syntax in
	// its last element), in name order.
	Glob(pattern string) ([]string, error)
}

// MaxIncludeDepth is how deep includes may nest: the main file is level
// 0, the files it includes level 1, and so on.
const MaxIncludeDepth = 8

// Load parses the config file main and every file it includes, read
// through fsys. On failure the error is an ErrorList with every problem
// of every file, or the error of reading main itself.
func Load(main string, fsys FS) (*Config, error) {
	src, err := fsys.ReadFile(main)
	if err != nil {
		return nil, err
	}
	a := newAssembler(fsys)
	a.main(main, src)
	return a.finish()
}

// assembler reads a config's files in include order, applies overrides and
// checks what spans the whole config.
type assembler struct {
	fsys     FS
	cfg      Config
	errs     ErrorList
	blocks   []*jobBuilder // the jobs in file order, overrides applied
	byName   map[string]int
	visiting []string            // the files being read, main first (include cycles)
	included map[string]incPlace // each file read, and the include line that brought it
}

// incPlace is the include line that brought a file in.
type incPlace struct {
	file string
	pos  Pos
}

func newAssembler(fsys FS) *assembler {
	return &assembler{fsys: fsys, byName: map[string]int{}, included: map[string]incPlace{}}
}

// main reads the main file.
func (a *assembler) main(name string, src []byte) {
	a.included[path.Clean(name)] = incPlace{}
	a.file(name, src, 0)
}

func (a *assembler) errAt(file string, pos Pos, format string, args ...any) {
	a.errs = append(a.errs, newError(file, pos, format, args...))
}

func (a *assembler) warnAt(file string, pos Pos, format string, args ...any) {
	a.cfg.Warnings = append(a.cfg.Warnings, Warning{File: file, Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// file parses one file at include depth depth and takes its declarations
// in order, reading the files it includes where it includes them.
func (a *assembler) file(name string, src []byte, depth int) {
	a.cfg.Files = append(a.cfg.Files, name)
	a.visiting = append(a.visiting, path.Clean(name))
	defer func() { a.visiting = a.visiting[:len(a.visiting)-1] }()
	p := parseFile(name, src)
	a.errs = append(a.errs, p.errs...)
	a.cfg.Warnings = append(a.cfg.Warnings, p.cfg.Warnings...)
	for _, d := range p.decls {
		switch d.kind {
		case declJob:
			a.addJob(p.blocks[d.i])
		case declInclude:
			a.include(name, p.includes[d.i], depth)
		case declReport:
			a.cfg.Reports = append(a.cfg.Reports, p.cfg.Reports[d.i])
		case declListen:
			a.cfg.Listens = append(a.cfg.Listens, p.cfg.Listens[d.i])
		case declMetrics:
			a.cfg.Metrics = append(a.cfg.Metrics, p.cfg.Metrics[d.i])
		}
	}
}

// addJob takes a job block: a new job, or an override of one defined
// earlier.
func (a *assembler) addJob(b *jobBuilder) {
	name := b.job.Name
	i, known := a.byName[name]
	switch {
	case name == "": // reported as a job without a name
		if !b.override {
			a.blocks = append(a.blocks, b)
		}
	case b.override && known:
		a.blocks[i] = merge(a.blocks[i], b)
	case b.override:
		a.errAt(b.file, b.overPos, "override of job %q, which is not defined before this block (define it first, in a file read earlier; or remove override to define it here)", name)
	case known:
		a.duplicate(a.blocks[i], b)
	default:
		a.byName[name] = len(a.blocks)
		a.blocks = append(a.blocks, b)
	}
}

func (a *assembler) duplicate(first, b *jobBuilder) {
	if first.file == b.file {
		a.errAt(b.file, b.namePos, "duplicate job name %q (first used by the job at line %d; names must be unique)", b.job.Name, first.job.Pos.Line)
		return
	}
	a.errAt(b.file, b.namePos, "duplicate job name %q (first used by the job at %s:%d:%d; names must be unique: to change that job here, add override to this block)",
		b.job.Name, first.file, first.job.Pos.Line, first.job.Pos.Col)
}

// finish checks the jobs as the config defines them and puts them in start
// order.
func (a *assembler) finish() (*Config, error) {
	for _, b := range a.blocks {
		a.checkPolicy(b)
		a.checkReadiness(b)
	}
	a.checkAfter()
	order := func(file string) int { return slices.Index(a.cfg.Files, file) }
	if len(a.errs) > 0 {
		slices.SortStableFunc(a.errs, func(x, y *Error) int {
			return cmp.Or(cmp.Compare(order(x.File), order(y.File)), comparePos(x.Pos, y.Pos))
		})
		return nil, a.errs
	}
	slices.SortStableFunc(a.cfg.Warnings, func(x, y Warning) int {
		return cmp.Or(cmp.Compare(order(x.File), order(y.File)), comparePos(x.Pos, y.Pos))
	})
	a.cfg.Jobs = make([]Job, len(a.blocks))
	for i, b := range a.blocks {
		a.cfg.Jobs[i] = b.job
	}
	sortJobs(a.cfg.Jobs)
	return &a.cfg, nil
}

// include reads the files an include line of file matches, in name order.
func (a *assembler) include(file string, inc include, depth int) {
	if depth >= MaxIncludeDepth {
		a.errAt(file, inc.pos, "include nested deeper than %d levels (a file included by the main file is level 1; include these files from a file nearer the main one)", MaxIncludeDepth)
		return
	}
	if strings.IndexByte(inc.pattern, 0) >= 0 {
		return // the lexer has said where the NUL byte is; no file system has such a name
	}
	glob := IncludeGlob(file, inc.pattern)
	rec := len(a.cfg.Includes)
	a.cfg.Includes = append(a.cfg.Includes, Include{File: file, Pos: inc.pos, Pattern: inc.pattern, Glob: glob})
	matches, err := a.fsys.Glob(glob)
	if err != nil {
		a.includeErr(file, inc, "%v", err)
		return
	}
	for _, m := range Includable(glob, matches) {
		if a.refuse(file, inc, m) {
			continue
		}
		src, err := a.fsys.ReadFile(m)
		if err != nil {
			a.includeErr(file, inc, "%s: %v", m, err)
			continue
		}
		a.cfg.Includes[rec].Matches = append(a.cfg.Includes[rec].Matches, m)
		a.included[path.Clean(m)] = incPlace{file, inc.pos}
		a.file(m, src, depth+1)
	}
}

// refuse reports a file that an include line may not read: one being read
// (a cycle) or one read already.
func (a *assembler) refuse(file string, inc include, m string) bool {
	clean := path.Clean(m)
	if at := slices.Index(a.visiting, clean); at >= 0 {
		chain := append(slices.Clone(a.visiting[at:]), clean)
		a.includeErr(file, inc, "include cycle: %s (a file may not include itself, directly or through other files)", cycleWords(chain))
		return true
	}
	if by, ok := a.included[clean]; ok {
		where := "as the main file"
		if by.file != "" {
			where = fmt.Sprintf("by %s:%d:%d", by.file, by.pos.Line, by.pos.Col)
		}
		a.includeErr(file, inc, "%s is included already (%s); each file is read once", m, where)
		return true
	}
	return false
}

// includeErr reports a problem of an include line. Its paths are not cut
// (a fix names them whole); only the pattern, as written, is bounded.
func (a *assembler) includeErr(file string, inc include, format string, args ...any) {
	msg := "include " + logsafe.ShortWords(inc.pattern, maxPath) + ": " + fmt.Sprintf(format, args...)
	a.errs = append(a.errs, &Error{File: file, Pos: inc.pos, Msg: msg})
}

// maxPath bounds a path in an error message (PATH_MAX).
const maxPath = 4096

func cycleWords(chain []string) string {
	if len(chain) == 2 && chain[0] == chain[1] {
		return chain[0] + " includes itself"
	}
	var b strings.Builder
	b.WriteString(chain[0])
	for i, f := range chain[1:] {
		if i == 0 {
			b.WriteString(" includes " + f)
		} else {
			b.WriteString(", which includes " + f)
		}
	}
	return b.String()
}

// IncludeGlob is the pattern of an include line of file, resolved: a
// relative pattern is relative to the directory of file.
func IncludeGlob(file, pattern string) string {
	if path.IsAbs(pattern) {
		return path.Clean(pattern)
	}
	return path.Join(path.Dir(file), pattern)
}

// checkPattern: a pattern path.Match accepts, with wildcards only in its
// last element (the drop-in directory itself is named).
func checkPattern(pattern string) error {
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("malformed pattern %q (write e.g. include /etc/pmtr.d/*.conf)", pattern)
	}
	if dir, _ := path.Split(pattern); strings.ContainsAny(dir, "*?[") {
		return fmt.Errorf("only the last part of the pattern may hold * ? or [ (name the directory, e.g. include /etc/pmtr.d/*.conf)")
	}
	return nil
}

// Includable drops the names an include pattern does not take, as shells
// and run-parts do not: hidden files (unless the pattern asks for a
// leading dot), editor backups ending in ~ and autosaves starting with #;
// and names with control characters, which would garble log lines.
func Includable(glob string, matches []string) []string {
	dotted := strings.HasPrefix(path.Base(glob), ".")
	out := matches[:0:0]
	for _, m := range matches {
		base := path.Base(m)
		if (strings.HasPrefix(base, ".") && !dotted) || strings.HasSuffix(base, "~") || strings.HasPrefix(base, "#") ||
			strings.ContainsFunc(base, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// noFiles is the FS of Parse: one file, nothing to include.
type noFiles struct{}

var errNoFiles = errors.New("this config is read as one file, without the files it would include (pmtr sim reads one file; so does the plan of a pmtr client older than include)")

func (noFiles) ReadFile(string) ([]byte, error) { return nil, errNoFiles }
func (noFiles) Glob(string) ([]string, error)   { return nil, errNoFiles }
