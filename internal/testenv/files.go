package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// WriteFile writes data to root/rel, creating the folders on the way: a
// fixture tree built in a test.
func WriteFile(t testing.TB, root, rel, data string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// WriteJSON writes v as JSON to path.
func WriteJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Names lists a folder's entries by name (nil when it does not exist).
func Names(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// CopyDir copies the files of src into a new temporary folder, for a test
// that changes them.
func CopyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// ReadJSON decodes the JSON file at path into v.
func ReadJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// WaitFor polls cond until it holds; a state that never comes fails the
// test after timeout, which is generous: it bounds a hung test, it does not
// time the code.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: still waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ARCTasks is n task files to drop, keyed by name: the committed training
// tasks in name order as <id>.json, then taken round again as <id>-2.json,
// <id>-3.json and so on as often as n needs.
func ARCTasks(t testing.TB, n int) map[string][]byte {
	t.Helper()
	dir := filepath.Join(ARCDir(t), "training")
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no ARC tasks in %s (%v)", dir, err)
	}
	slices.Sort(paths)
	out := map[string][]byte{}
	for i := range n {
		p := paths[i%len(paths)]
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(p)
		if round := i / len(paths); round > 0 {
			name = fmt.Sprintf("%s-%d.json", strings.TrimSuffix(name, ".json"), round+1)
		}
		out[name] = data
	}
	return out
}

// ReplaceInFile replaces the first old in the file at path by new; a file
// without old fails the test.
func ReplaceInFile(t testing.TB, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// MappedRSS is how much of the file at path this process has resident
// through its memory mappings, from /proc/self/smaps.
func MappedRSS(t testing.TB, path string) (kib int) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	abs, _ := filepath.Abs(path)
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && len(fields[1]) == 4:
			// A mapping's first line; an anonymous one has no path.
			in = len(fields) >= 6 && fields[len(fields)-1] == abs
		case in && len(fields) == 3 && fields[0] == "Rss:":
			n, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatalf("smaps: %q", line)
			}
			kib += n
		}
	}
	return kib
}
