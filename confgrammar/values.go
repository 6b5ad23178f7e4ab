package confgrammar

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxCPU is one past the highest CPU number accepted (glibc's CPU_SETSIZE).
const MaxCPU = 1024

func checkEnv(s string) error {
	i := strings.IndexByte(s, '=')
	switch {
	case i < 0:
		return fmt.Errorf("environment string %q must be VAR=VALUE", s)
	case i == 0:
		return fmt.Errorf("environment string %q has no variable name (write VAR=VALUE)", s)
	}
	return nil
}

func checkUser(s string) (string, error) {
	if len(s) > 99 {
		return "", fmt.Errorf("user name too long (%d characters; at most 99)", len(s))
	}
	return s, nil
}

// parseInt accepts an optionally signed decimal integer and nothing else.
func parseInt(s, what string, lo, hi int) (int, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("non-numeric %s value %q (write a whole number)", what, s)
	}
	if err != nil || n < int64(lo) || n > int64(hi) {
		return 0, fmt.Errorf("%s %s out of range %d to %d", what, s, lo, hi)
	}
	return int(n), nil
}

// parseCPUs reads "0x<hex mask>" or a list such as "0,2-4". A range may be
// a single CPU ("5-5"); CPU numbers must be below MaxCPU (no wrap-around).
func parseCPUs(s string) ([]int, error) {
	if strings.HasPrefix(s, "0x") {
		return parseCPUMask(s[2:])
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, err := parseCPURange(part)
		if err != nil {
			return nil, fmt.Errorf("syntax error in cpu list %q: %v (write e.g. 0,2-4 or 0x5)", s, err)
		}
		for c := lo; c <= hi; c++ {
			out = append(out, c)
		}
	}
	return mergeCPUs(nil, out), nil
}

func parseCPURange(part string) (int, int, error) {
	a, b, isRange := strings.Cut(part, "-")
	lo, err := cpuNumber(a)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	hi, err := cpuNumber(b)
	if err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("range %q ends before it starts", part)
	}
	return lo, hi, nil
}

func cpuNumber(s string) (int, error) {
	if s == "" {
		return 0, errors.New("empty element")
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a CPU number", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n >= MaxCPU {
		return 0, fmt.Errorf("CPU %s is beyond the limit of %d", s, MaxCPU-1)
	}
	return n, nil
}

func parseCPUMask(hex string) ([]int, error) {
	if hex == "" {
		return nil, errors.New("empty cpu mask \"0x\" (write e.g. 0x3)")
	}
	var out []int
	for i := 0; i < len(hex); i++ {
		d, err := strconv.ParseUint(hex[len(hex)-1-i:len(hex)-i], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("invalid hex digit %q in cpu mask 0x%s", hex[len(hex)-1-i], hex)
		}
		for bit := 0; bit < 4; bit++ {
			if d&(1<<bit) == 0 {
				continue
			}
			c := i*4 + bit
			if c >= MaxCPU {
				return nil, fmt.Errorf("cpu mask 0x%s names CPU %d, beyond the limit of %d", hex, c, MaxCPU-1)
			}
			out = append(out, c)
		}
	}
	return mergeCPUs(nil, out), nil
}

// mergeCPUs returns the sorted union of two CPU sets (repeated cpu lines OR together).
func mergeCPUs(a, b []int) []int {
	if len(a) == 0 && len(b) == 0 {
		return a
	}
	out := make([]int, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

func intervalUnit(c byte) (time.Duration, bool) {
	switch c {
	case 's':
		return time.Second, true
	case 'm':
		return time.Minute, true
	case 'h':
		return time.Hour, true
	case 'd':
		return 24 * time.Hour, true
	}
	return 0, false
}

// parseInterval reads "<n><unit>", unit one of s m h d, n >= 1.
func parseInterval(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty interval")
	}
	unit, ok := intervalUnit(s[len(s)-1])
	num := s[:len(s)-1]
	if !ok {
		if _, err := strconv.ParseUint(s, 10, 64); err == nil {
			return 0, fmt.Errorf("bounce interval %q has no unit (add s, m, h or d, e.g. %ss)", s, s)
		}
		return 0, fmt.Errorf("invalid time unit in bounce interval %q (use s, m, h or d)", s)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid bounce interval %q (write a whole number and a unit, e.g. 5m)", s)
	}
	if n == 0 {
		return 0, fmt.Errorf("bounce interval %q must be at least 1s (remove the line to never bounce)", s)
	}
	if n > uint64(100*365*24*time.Hour/unit) {
		return 0, fmt.Errorf("bounce interval %q is too long (at most 100 years)", s)
	}
	return time.Duration(n) * unit, nil
}

// Suggest returns ` (did you mean "x"?)` for a near miss among
// candidates, or "".
func Suggest(word string, candidates []string) string { return suggest(word, candidates) }

// suggest returns ` (did you mean "x"?)` for a near miss, or "".
func suggest(word string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD >= len(word) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for k := range prev {
		prev[k] = k
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for k := 1; k <= len(b); k++ {
			cost := 1
			if a[i-1] == b[k-1] {
				cost = 0
			}
			cur[k] = min(prev[k]+1, cur[k-1]+1, prev[k-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
