package repocheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// eventField is how the daemon names a log line's event: tests, scripts and
// the torture suite match the field, never the message.
var eventField = regexp.MustCompile(`zap\.String\("event", "([a-z_]+)"\)`)

// eventRow is a row of docs/service.md's table of events: its first column
// names them, in backquotes.
var eventRow = regexp.MustCompile("(?m)^\\| (`[a-z_]+`(?:, `[a-z_]+`)*) \\|")

// TestEventsDocumented: every event the service logs is in the table of
// docs/service.md, and the table names no event the service never logs.
func TestEventsDocumented(t *testing.T) {
	for _, p := range checkEvents(repoRoot(t)) {
		t.Error(p)
	}
}

func checkEvents(root string) []string {
	logged := map[string]string{}
	for _, dir := range []string{"daemon", "engine"} {
		filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			data, err := os.ReadFile(path)
			for _, m := range eventField.FindAllSubmatch(data, -1) {
				logged[string(m[1])], _ = filepath.Rel(root, path)
			}
			return err
		})
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "service.md"))
	if err != nil {
		return []string{err.Error()}
	}
	var documented []string
	for _, m := range eventRow.FindAllSubmatch(doc, -1) {
		for _, name := range strings.Split(string(m[1]), ", ") {
			documented = append(documented, strings.Trim(name, "`"))
		}
	}
	var problems []string
	for event, file := range logged {
		if !slices.Contains(documented, event) {
			problems = append(problems, "event "+event+" ("+file+") is not in docs/service.md's table of events")
		}
	}
	for _, event := range documented {
		if _, ok := logged[event]; !ok {
			problems = append(problems, "docs/service.md's table of events names "+event+", which nothing logs")
		}
	}
	slices.Sort(problems)
	return problems
}

// TestEventsCheckCatches: an event logged but not documented, and one
// documented but not logged, are both found.
func TestEventsCheckCatches(t *testing.T) {
	root := t.TempDir()
	for rel, data := range map[string]string{
		"daemon/a.go": `log.Info("ready", zap.String("event", "ready"))` + "\n" +
			`log.Info("x", zap.String("event", "new_one"))`,
		"engine/b_test.go": `log.Info("y", zap.String("event", "only_in_a_test"))`,
		"docs/service.md":  "| event | when |\n|---|---|\n| `ready`, `gone` | ... |\n",
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, rel), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"docs/service.md's table of events names gone, which nothing logs",
		"event new_one (daemon/a.go) is not in docs/service.md's table of events",
	}
	if got := checkEvents(root); !slices.Equal(got, want) {
		t.Errorf("checkEvents found\n%q\nwant\n%q", got, want)
	}
}
