package config

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// An olderKey is a duration key of an hrmd before Duration: a whole number
// in the unit its name ends with. It is still read, so that a config
// written for that hrmd loads to the same values; the key that replaced it
// takes the value, and Deprecated says what to write instead.
type olderKey struct {
	section, key, older string // "watch", "settle", "settle_ms"
	unit                time.Duration
	value               **int // the older key's field: nil when the file does not have it
	to                  *Duration
}

// olderUse is an older key a file used: key is the key that replaced it,
// note what Deprecated says.
type olderUse struct{ key, older, note string }

func (c *Config) olderKeys() []olderKey {
	t, w, th, q := &c.TensorRT, &c.Watch, &c.Thermal, &c.Queue
	return []olderKey{
		{"tensorrt", "max_build", "max_build_s", time.Second, &t.MaxBuildS, &t.MaxBuild},
		{"watch", "settle", "settle_ms", time.Millisecond, &w.SettleMS, &w.Settle},
		{"watch", "rescan", "rescan_s", time.Second, &w.RescanS, &w.Rescan},
		{"thermal", "poll", "poll_s", time.Second, &th.PollS, &th.Poll},
		{"queue", "ack_wait", "ack_wait_s", time.Second, &q.AckWaitS, &q.AckWait},
		{"queue", "duplicate_window", "duplicate_window_s", time.Second, &q.DuplicateWindowS, &q.DuplicateWindow},
		{"queue", "answers_max_age", "answers_max_age_s", time.Second, &q.AnswersMaxAgeS, &q.AnswersMaxAge},
		{"queue", "ping_interval", "ping_interval_s", time.Second, &q.PingIntervalS, &q.PingInterval},
	}
}

// upgrade moves the value of each older key in the file (data) onto the key
// that replaced it. A file with both is refused: one of them would be
// ignored without a word.
func (c *Config) upgrade(data []byte) error {
	var doc yaml.Node
	for _, k := range c.olderKeys() {
		if *k.value == nil {
			continue
		}
		if doc.Kind == 0 {
			if err := yaml.Unmarshal(data, &doc); err != nil {
				return err
			}
		}
		key, older := k.section+"."+k.key, k.section+"."+k.older
		if hasKey(doc.Content[0], k.section, k.key) {
			return fmt.Errorf("%s and %s are both set; remove %s, the older key (%s replaces it)", older, key, older, key)
		}
		*k.to = Duration(time.Duration(**k.value) * k.unit)
		c.older = append(c.older, olderUse{key: key, older: older, note: fmt.Sprintf(
			"%s: %d is an older key, read as %s: %s; write that instead (hrmd still reads it)", older, **k.value, key, *k.to)})
		*k.value = nil
	}
	return nil
}

// hasKey reports whether the document's mapping has key in section.
func hasKey(doc *yaml.Node, section, key string) bool {
	for i := 0; doc.Kind == yaml.MappingNode && i+1 < len(doc.Content); i += 2 {
		if s := doc.Content[i+1]; doc.Content[i].Value == section && s.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(s.Content); j += 2 {
				if s.Content[j].Value == key {
					return true
				}
			}
		}
	}
	return false
}

// nameOlder adds to a message about a key whose value came from an older
// key which one that was: the key the file has.
func (c Config) nameOlder(err error) error {
	for _, u := range c.older {
		if strings.HasPrefix(err.Error(), u.key+" is ") {
			return fmt.Errorf("%w (from %s in the file; write %s with its unit instead)", err, u.older, u.key)
		}
	}
	return err
}

// Deprecated says, for each older key the file used, what to write instead:
// hrmd doctor and the service's log show it.
func (c Config) Deprecated() []string {
	var notes []string
	for _, u := range c.older {
		notes = append(notes, u.note)
	}
	return notes
}
