package atomicfile

import (
	"errors"
	"io/fs"
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
	if err := Write(missing, "b.json", nil); err == nil ||
		!strings.Contains(err.Error(), filepath.Join(missing, "b.json")) {
		t.Errorf("write into a missing folder: %v", err)
	}
}

func TestIsTemporary(t *testing.T) {
	for name, want := range map[string]bool{
		".hrmd-0123456789ab.tmp":              true,
		".hrmd-probe-123.tmp":                 false,
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

// WriteNew never replaces: the file there stays as it was, no temporary is
// left, and the error says the name exists. The temporary's name does not
// grow with the file's, so a name at the filesystem's limit can be written.
func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("n", 250) + ".json"
	for _, name := range []string{"a.json", long} {
		if err := WriteNew(dir, name, []byte("first")); err != nil {
			t.Fatalf("%.20s...: %v", name, err)
		}
		err := WriteNew(dir, name, []byte("second"))
		if !errors.Is(err, fs.ErrExist) {
			t.Errorf("WriteNew over %.20s...: %v, want an error matching fs.ErrExist", name, err)
		}
		if data, _ := os.ReadFile(filepath.Join(dir, name)); string(data) != "first" {
			t.Errorf("%.20s... holds %q after a refused WriteNew, want %q", name, data, "first")
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("the folder holds %d entries, want the 2 files only", len(entries))
	}
}
