package confgrammar

import (
	"bytes"
	"errors"
	"path"
	"slices"
)

// parseInclude reads "include PATTERN" (top level): the files the pattern
// matches are read here, in name order.
func (p *parser) parseInclude() {
	kw := p.tok
	words, ok := p.lineWords(kw)
	switch {
	case !ok:
		return
	case len(words) == 0:
		p.errAt(kw.pos, "missing pattern after include (write e.g. include /etc/pmtr.d/*.conf)")
		return
	case len(words) > 1:
		p.errAt(words[1].pos, "include takes one pattern, found %q after it (write one include line per pattern)", ShortWord(words[1].text))
		return
	}
	if err := checkPattern(words[0].text); err != nil {
		p.errAt(words[0].pos, "%v", err)
		return
	}
	p.includes = append(p.includes, include{pos: kw.pos, pattern: words[0].text})
	p.declared(declInclude, len(p.includes))
}

// includePatterns finds the patterns of src's include lines as the parser
// sees them ("include" first on its line, a bare word after it on that
// line) without parsing: the lexer's rules make it a matter of lines. It
// may find more than the parser takes (a malformed line), never fewer.
func includePatterns(src []byte) []string {
	if !bytes.Contains(src, []byte("include")) {
		return nil
	}
	var out []string
	for line := range bytes.SplitSeq(src, []byte("\n")) {
		first, rest := nextWord(line)
		if string(first) != "include" {
			continue
		}
		if w, _ := nextWord(rest); len(w) > 0 && w[0] != '"' && w[0] != '#' {
			out = append(out, string(w))
		}
	}
	return out
}

// nextWord splits off the first word of a line (white space as the lexer
// knows it).
func nextWord(line []byte) (word, rest []byte) {
	i := 0
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	j := i
	for j < len(line) && !isSpace(line[j]) {
		j++
	}
	return line[i:j], line[j:]
}

// Files is a config's files as read at one moment: what Load needs,
// without a file system. Gather takes it (off pmtr's loop, from the real
// files); the driver loads the config from it. It is an FS itself.
type Files struct {
	Main  string
	Read  []File // every file read, main first, in the order read
	Globs []Glob // every pattern expanded, in the order expanded
}

// File is one file of a snapshot: its content, or why it could not be read.
type File struct {
	Path string
	Data []byte
	Err  error
}

// Glob is one include pattern of a snapshot and what it matched.
type Glob struct {
	Pattern string
	Matches []string
	Err     error
}

var errNotRead = errors.New("was not among the files read with the config")

// ReadFile answers from the snapshot.
func (f *Files) ReadFile(name string) ([]byte, error) {
	for i := range f.Read {
		if f.Read[i].Path == name {
			return f.Read[i].Data, f.Read[i].Err
		}
	}
	return nil, errNotRead
}

// Glob answers from the snapshot.
func (f *Files) Glob(pattern string) ([]string, error) {
	for i := range f.Globs {
		if f.Globs[i].Pattern == pattern {
			return f.Globs[i].Matches, f.Globs[i].Err
		}
	}
	return nil, errNotRead
}

// OneFile is the snapshot of a config of one file, src.
func OneFile(name string, src []byte) *Files {
	return &Files{Main: name, Read: []File{{Path: name, Data: src}}}
}

// MainErr is the error of reading the main file, nil when it was read.
func (f *Files) MainErr() error {
	if len(f.Read) == 0 {
		return errNotRead
	}
	return f.Read[0].Err
}

// Paths lists the files read, main first.
func (f *Files) Paths() []string {
	out := make([]string, len(f.Read))
	for i := range f.Read {
		out[i] = f.Read[i].Path
	}
	return out
}

// Gather reads the config file main and every file its include lines
// match, through fsys, into a snapshot: the files Load reads, in the same
// order. A file is read once.
func Gather(main string, fsys FS) *Files {
	f := &Files{Main: main}
	f.gather(main, fsys, 0, map[string]bool{})
	return f
}

func (f *Files) gather(name string, fsys FS, depth int, read map[string]bool) {
	if read[path.Clean(name)] {
		return
	}
	read[path.Clean(name)] = true
	data, err := fsys.ReadFile(name)
	f.Read = append(f.Read, File{Path: name, Data: data, Err: err})
	if err != nil || depth >= MaxIncludeDepth {
		return
	}
	for _, pattern := range includePatterns(data) {
		if checkPattern(pattern) != nil {
			continue
		}
		glob := IncludeGlob(name, pattern)
		matches, err := f.Glob(glob)
		if errors.Is(err, errNotRead) {
			matches, err = fsys.Glob(glob)
			f.Globs = append(f.Globs, Glob{Pattern: glob, Matches: matches, Err: err})
		}
		for _, m := range Includable(glob, matches) {
			f.gather(m, fsys, depth+1, read)
		}
	}
}

var errNoFile = errors.New("no such file or directory")

// MapFS is a file system in memory: path -> content. Its Glob matches the
// last element of a pattern against the files of the pattern's directory.
type MapFS map[string]string

// ReadFile returns a file's content.
func (m MapFS) ReadFile(name string) ([]byte, error) {
	s, ok := m[path.Clean(name)]
	if !ok {
		return nil, errNoFile
	}
	return []byte(s), nil
}

// Glob returns the files of the pattern's directory that match it, in
// name order.
func (m MapFS) Glob(pattern string) ([]string, error) {
	dir, base := path.Split(path.Clean(pattern))
	dir = path.Clean(dir)
	var out []string
	for name := range m {
		d, b := path.Split(name)
		if path.Clean(d) != dir {
			continue
		}
		if ok, err := path.Match(base, b); err != nil {
			return nil, err
		} else if ok {
			out = append(out, path.Join(dir, b))
		}
	}
	slices.Sort(out)
	return out, nil
}
