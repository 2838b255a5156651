package config

import (
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a length of time in hrmd.yaml, written with its unit as Go
// writes durations: 250ms, 10s, 5m, 1h30m. A bare number is refused: it
// would be a guess whether 60 meant seconds or milliseconds.
type Duration time.Duration

// durationFix is how a duration is written, for every message about one.
const durationFix = "write a number with its unit: 250ms, 10s, 5m, 1h"

// notADuration is a value UnmarshalYAML refused; load names its key, which
// a value does not know.
type notADuration struct {
	value        string
	line, column int
}

func (e *notADuration) Error() string {
	return fmt.Sprintf("%q (line %d) is not a duration; %s", e.value, e.line, durationFix)
}

// UnmarshalYAML takes a duration with its unit.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return &notADuration{value: n.Value, line: n.Line, column: n.Column}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes what UnmarshalYAML reads.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String is the duration in its largest whole unit (1h, 30m, 250ms), as a
// person writes it, or as time.Duration writes it where there is none.
func (d Duration) String() string {
	v := time.Duration(d)
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if v != 0 && v%u.unit == 0 {
			return strconv.FormatInt(int64(v/u.unit), 10) + u.name
		}
	}
	return v.String()
}

// durationRule is the range of a duration key (max 0: no bound) and, in
// hint, its usual value.
type durationRule struct {
	key      string
	value    Duration
	min, max time.Duration
	hint     string
}

// checkDurations refuses the first value out of its rule's range, naming
// its key, the range and the usual value.
func checkDurations(rules []durationRule) error {
	for _, r := range rules {
		v := time.Duration(r.value)
		switch {
		case v >= r.min && (r.max == 0 || v <= r.max):
		case r.max == 0:
			return fmt.Errorf("%s is %s; use at least %s (%s)", r.key, r.value, Duration(r.min), r.hint)
		default:
			return fmt.Errorf("%s is %s; use %s to %s (%s)", r.key, r.value, Duration(r.min), Duration(r.max), r.hint)
		}
	}
	return nil
}

// keyAt is the dotted key ("watch.settle") whose value the YAML in data has
// at line and column; "" where none has.
func keyAt(data []byte, line, column int) string {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return ""
	}
	return findKey(doc.Content[0], line, column, "")
}

func findKey(n *yaml.Node, line, column int, prefix string) string {
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Line == line && v.Column == column {
			return prefix + k.Value
		}
		if key := findKey(v, line, column, prefix+k.Value+"."); key != "" {
			return key
		}
	}
	return ""
}
