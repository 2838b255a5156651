package doctest

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// varying is each value that may differ between a sample and a run, by the
// name a marker gives it, with what replaces it on both sides.
var varying = map[string]mask{
	// 134ms, 4.2 s, 1m2.5s, 31.8 ms; in JSON, "latency_ms": 168.7 and "took": 0.04.
	"durations": {regexp.MustCompile(`\b(\d+h)?(\d+m)?\d+(\.\d+)?\s?(ns|µs|us|ms|s|min)\b|` +
		`("\w*_ms"|"\w*_s"|"took"|"seconds"): \d+(\.\d+)?`), "<duration>"},
	// The machine, as the answer's runtime, doctor and bench name it.
	"device": {regexp.MustCompile(`"device": "[^"]*"|(?m)^((?:ok|info|warn)\s+)?device\s+\S.*$`),
		"${1}device <device>"},
	"numbers": {regexp.MustCompile(`\d+(\.\d+)?`), "<n>"},
	"paths":   {regexp.MustCompile(`/tmp/[^\s"')\]:,]+`), "<path>"},
	"hex":     {regexp.MustCompile(`\b[0-9a-f]{7,64}\b`), "<hex>"},
	// hrmd's version word: a git describe in a release, "dev" in a test build.
	"version": {regexp.MustCompile(`\bhrmd (dev|[0-9a-f]{7,}|v?\d[\w.~+-]*)`), "hrmd <version>"},
}

type mask struct {
	re   *regexp.Regexp
	mask string
}

// varier is the mask a marker names: one of varying, or /REGEXP/ for a value
// only one sample has (every match masked).
func varier(name string) (mask, error) {
	if v, ok := varying[name]; ok {
		return v, nil
	}
	if len(name) > 2 && strings.HasPrefix(name, "/") && strings.HasSuffix(name, "/") {
		re, err := regexp.Compile(name[1 : len(name)-1])
		if err != nil {
			return mask{}, fmt.Errorf("vary %s: %w", name, err)
		}
		return mask{re, "<" + name + ">"}, nil
	}
	return mask{}, fmt.Errorf("vary %q: want some of %s, or /REGEXP/", name, varyingNames())
}

func varyingNames() string {
	var names []string
	for n := range varying {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

var (
	spaces = regexp.MustCompile(`[ \t]+`)
	elided = regexp.MustCompile(`^\[\.\.\..*\.\.\.\]$`)
)

// normalize masks the varying values (in the order given) and makes every run
// of spaces one space, so that a column widened by a digit still matches.
func normalize(text string, vary []string) []string {
	for _, name := range vary {
		v, err := varier(name)
		if err != nil {
			panic(err) // ParseMarker refused it
		}
		text = v.re.ReplaceAllString(text, v.mask)
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(spaces.ReplaceAllString(l, " "))
	}
	return lines
}

// Match holds a sample from the docs to what a command printed. vary names
// the values masked on both sides (see the package doc); with part, the
// sample is a contiguous part of got, not all of it. A sample line of the form
// [... anything ...] stands for any number of lines. The error names the first
// sample line that does not match and what the command printed there.
func Match(sample, got string, vary []string, part bool) error {
	want, have := normalize(sample, vary), normalize(got, vary)
	if !part {
		if k, ok := matchAt(want, have, 0, 0, true); !ok {
			return mismatch(want, have, k)
		}
		return nil
	}
	best := 0
	for start := range have {
		k, ok := matchAt(want, have, 0, start, false)
		if ok {
			return nil
		}
		best = max(best, k)
	}
	return fmt.Errorf("the sample is not part of the output: its first %d lines match somewhere, "+
		"not line %d %q; the output:\n%s", best, best+1, at(want, best), strings.TrimRight(got, "\n"))
}

// matchAt matches want[i:] against have from have[j], all of the rest of have
// when whole. It returns how far into want the best try came before a line
// that did not match. An elision tries every place the sample may go on from.
func matchAt(want, have []string, i, j int, whole bool) (int, bool) {
	for ; i < len(want); i, j = i+1, j+1 {
		if elided.MatchString(want[i]) {
			if i+1 == len(want) {
				return len(want), true
			}
			best := i + 1
			for k := j; k < len(have); k++ {
				if have[k] != want[i+1] {
					continue
				}
				reached, ok := matchAt(want, have, i+1, k, whole)
				if ok {
					return reached, true
				}
				best = max(best, reached)
			}
			return best, false
		}
		if j >= len(have) || want[i] != have[j] {
			return i, false
		}
	}
	return i, !whole || j == len(have)
}

func mismatch(want, have []string, k int) error {
	if k == len(want) {
		return fmt.Errorf("the output goes on after the sample's last line: %q (%d lines more)", at(have, k), len(have)-k)
	}
	return fmt.Errorf("sample line %d %q does not match the output; the output (normalized):\n%s",
		k+1, want[k], strings.Join(have, "\n"))
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(the end)"
}
