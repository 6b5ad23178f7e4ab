package ctlproto

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The subcommands that are not control verbs: they have their own lines
// in the man page and the completion.
var otherSubcommands = []string{"sim", "ctl", "rptserver", "help"}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBashCompletionAgrees: dist/pmtr.bash offers each verb, and for each
// exactly its flags (with -c), job names where it takes jobs, and files
// after a flag whose value is a file.
func TestBashCompletionAgrees(t *testing.T) {
	script := readFile(t, "../dist/pmtr.bash")
	subs := regexp.MustCompile(`local subs="([^"]*)"`).FindStringSubmatch(script)
	if subs == nil {
		t.Fatal(`dist/pmtr.bash: no local subs="..." line`)
	}
	offered := strings.Fields(subs[1])
	for _, s := range offered {
		if _, ok := Lookup(s); !ok && !slices.Contains(otherSubcommands, s) {
			t.Errorf("dist/pmtr.bash offers %q, which is no verb of ctlproto (nor %v)", s, otherSubcommands)
		}
	}
	arms := caseArms(script)
	fileFlags := regexp.MustCompile(`\$prev == (\S+)`).FindAllStringSubmatch(script, -1)
	for _, v := range Verbs() {
		if !slices.Contains(offered, v.Name) {
			t.Errorf("dist/pmtr.bash: %s is not in subs", v.Name)
		}
		arm, ok := arms[v.Name]
		if !ok {
			t.Errorf("dist/pmtr.bash: no case arm for %s", v.Name)
			continue
		}
		want := []string{ConfigFlag.Name}
		for _, f := range v.Flags {
			want = append(want, f.Name)
			if f.Value == File && !slices.ContainsFunc(fileFlags, func(m []string) bool { return m[1] == f.Name }) {
				t.Errorf("dist/pmtr.bash: %s %s takes a file, but $prev == %s does not complete files", v.Name, f.Name, f.Name)
			}
		}
		if v.Operand.Kind == Job && v.Operand.Meta != "" {
			want = append(want, "$(_pmtr_jobs)")
		}
		if got := wordsOf(arm); !slices.Equal(sorted(got), sorted(want)) {
			t.Errorf("dist/pmtr.bash completes %s with %v; ctlproto says %v", v.Name, got, want)
		}
		if files := strings.Contains(arm, "compgen -f"); files != (v.Operand.Kind == File) {
			t.Errorf("dist/pmtr.bash: %s completes file names: %v; its operand is a file: %v", v.Name, files, v.Operand.Kind == File)
		}
	}
}

// caseArms maps each verb of the completion's case arms ("stop | start)
// ...") to its arm's text.
func caseArms(script string) map[string]string {
	arms := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*([a-z][a-z |]*)\)(.*);;\s*$`).FindAllStringSubmatch(script, -1) {
		for _, verb := range strings.Split(m[1], "|") {
			arms[strings.TrimSpace(verb)] = m[2]
		}
	}
	return arms
}

// wordsOf: the words of an arm's compgen -W "...".
func wordsOf(arm string) []string {
	m := regexp.MustCompile(`compgen -W "([^"]*)"`).FindStringSubmatch(arm)
	if m == nil {
		return nil
	}
	return strings.Fields(m[1])
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestManPageAgrees: the SYNOPSIS of docs/pmtr.8 has each verb's usage
// (placeholders in lower case, as man pages write them), and no verb that
// ctlproto lacks.
func TestManPageAgrees(t *testing.T) {
	lines := synopsis(t, readFile(t, "../docs/pmtr.8"))
	checkUsages(t, "docs/pmtr.8 SYNOPSIS", lines, strings.ToLower)
}

// TestReadmeAgrees: README.md's "Command line" block has each verb's
// usage, and no verb that ctlproto lacks.
func TestReadmeAgrees(t *testing.T) {
	text := readFile(t, "../README.md")
	m := regexp.MustCompile("(?s)## Command line\n\n```\n(.*?)```").FindStringSubmatch(text)
	if m == nil {
		t.Fatal("README.md: no ``` block under ## Command line")
	}
	var lines []string
	for _, l := range strings.Split(m[1], "\n") {
		l, _, _ = strings.Cut(l, "#") // the comments
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	checkUsages(t, "README.md Command line", lines, func(s string) string { return s })
}

// checkUsages: every verb's usage (as norm writes it) is one of lines,
// once "pmtr a|b|c REST" stands for three lines; and every line that names
// a subcommand names a verb or one of the others.
func checkUsages(t *testing.T, where string, lines []string, norm func(string) string) {
	var have []string
	for _, l := range lines {
		have = append(have, expand(l)...)
	}
	for _, v := range Verbs() {
		if !slices.Contains(have, norm(v.Usage())) {
			t.Errorf("%s lacks %q (or has it otherwise)", where, norm(v.Usage()))
		}
	}
	for _, l := range have {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "pmtr" || strings.HasPrefix(f[1], "[") || strings.HasPrefix(f[1], "-") {
			continue
		}
		if _, ok := Lookup(f[1]); !ok && !slices.Contains(otherSubcommands, f[1]) {
			t.Errorf("%s has %q: not a verb of ctlproto (nor %v)", where, l, otherSubcommands)
		}
	}
}

// expand: "pmtr stop|start REST" or "pmtr stop | start REST" is one line
// for each verb.
func expand(line string) []string {
	f := strings.Fields(strings.ReplaceAll(line, "|", " | "))
	if len(f) < 4 || f[0] != "pmtr" || f[2] != "|" {
		return []string{strings.Join(f, " ")}
	}
	alts := []string{f[1]}
	i := 2
	for ; i+1 < len(f) && f[i] == "|"; i += 2 {
		alts = append(alts, f[i+1])
	}
	var out []string
	for _, a := range alts {
		out = append(out, strings.Join(append([]string{"pmtr", a}, f[i:]...), " "))
	}
	return out
}

// synopsis renders the man page's SYNOPSIS as plain text, one line per
// .br, for the few macros it uses (.B .I and the alternating .BR .RB .IR
// .RI).
func synopsis(t *testing.T, page string) []string {
	_, rest, ok := strings.Cut(page, ".SH SYNOPSIS\n")
	if !ok {
		t.Fatal("docs/pmtr.8: no .SH SYNOPSIS")
	}
	rest, _, _ = strings.Cut(rest, "\n.SH ")
	var lines []string
	var cur []string
	for _, l := range strings.Split(rest, "\n") {
		if l == ".br" {
			lines = append(lines, strings.Join(cur, " "))
			cur = nil
			continue
		}
		cur = append(cur, roffText(l))
	}
	return append(lines, strings.Join(cur, " "))
}

// roffText is one line of roff as text.
func roffText(l string) string {
	l = strings.ReplaceAll(l, `\-`, "-")
	macro, args, _ := strings.Cut(l, " ")
	switch macro {
	case ".B", ".I":
		return strings.Join(roffArgs(args), " ")
	case ".BR", ".RB", ".IR", ".RI", ".BI", ".IB":
		return strings.Join(roffArgs(args), "")
	}
	return l
}

// roffArgs splits a macro's arguments: by spaces, "quoted" ones whole.
func roffArgs(s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			arg, rest, _ := strings.Cut(s[1:], `"`)
			out, s = append(out, arg), rest
			continue
		}
		arg, rest, _ := strings.Cut(s, " ")
		out, s = append(out, arg), rest
	}
	return out
}
