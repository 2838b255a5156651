package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Write replaces the file whole and leaves no temporary behind; a folder
// that is not there is an error naming the file.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"first", "second, longer"} {
		if err := Write(dir, "a.json", []byte(content)); err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(filepath.Join(dir, "a.json")); string(data) != content {
			t.Errorf("a.json holds %q, want %q", data, content)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want only a.json", len(entries))
	}
	missing := filepath.Join(dir, "no-such-folder")
	if err := Write(missing, "b.json", nil); err == nil || !strings.Contains(err.Error(), filepath.Join(missing, "b.json")) {
		t.Errorf("write into a missing folder: %v", err)
	}
}

func TestIsTemporary(t *testing.T) {
	for name, want := range map[string]bool{
		".t.json.0123456789ab.tmp":            true,
		".t.json.error.json.a1b2c3d4e5f6.tmp": true,
		".hidden.tmp":                         false,
		".x.json.nothex12char.tmp":            false,
		"answer.json":                         false,
		"t.json.0123456789ab.tmp":             false,
	} {
		if got := IsTemporary(name); got != want {
			t.Errorf("IsTemporary(%q) = %v, want %v", name, got, want)
		}
	}
}
