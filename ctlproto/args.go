package ctlproto

import "strings"

// ConfigEnv names the environment variable that gives the config file
// when -c is not given (on the command line before or after the verb).
const ConfigEnv = "PMTR_CONFIG"

// VerbFirst finds the verb in a command line whose flags may come before
// it, as supervisorctl's do ("pmtr -c FILE status web"). It returns the
// verb and the other words in their order, which the verb's parser reads
// (it takes flags anywhere among its operands). ok is false when the first
// word that is neither a flag nor a flag's value names no verb: the
// daemon's own command line, where "pmtr -c status" runs a config file
// named status.
func VerbFirst(args []string) (v Verb, rest []string, ok bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return Verb{}, nil, false
		case len(a) > 1 && a[0] == '-':
			if takesValue(a) {
				i++ // its value, whatever it looks like
			}
			continue
		}
		v, ok = Lookup(a)
		if !ok {
			return Verb{}, nil, false
		}
		rest = append(append(rest, args[:i]...), args[i+1:]...)
		return v, rest, true
	}
	return Verb{}, nil, false
}

// takesValue: flag word a is followed by its value. That is -c (alone or
// ending a group of the daemon's letters, "-tc FILE"), the daemon's -p,
// and every verb's flag with a value ("-n 50"); "-cFILE" carries its own.
func takesValue(a string) bool {
	if a == ConfigFlag.Name {
		return true
	}
	for _, v := range verbs {
		if f, ok := v.Flag(a); ok {
			return f.Value != Switch
		}
	}
	if strings.HasPrefix(a, "--") {
		return false
	}
	return strings.IndexAny(a[1:], "cp") == len(a)-2 // the group's last letter
}
