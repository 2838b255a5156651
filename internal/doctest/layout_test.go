package doctest

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
)

// layoutRow is one row of docs/layout.md's table: the paths in its first
// column, and its whole text.
type layoutRow struct {
	paths []string
	text  string
}

var (
	tableRow = regexp.MustCompile(`^\| (.+?) \| (.+) \|$`)
	codeSpan = regexp.MustCompile("`([^`]+)`")
)

func readLayout(t *testing.T, file string) []layoutRow {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rows []layoutRow
	for _, line := range strings.Split(string(data), "\n") {
		m := tableRow.FindStringSubmatch(line)
		if m == nil || m[1] == "path" || strings.HasPrefix(m[1], "---") {
			continue
		}
		row := layoutRow{text: line}
		for _, c := range codeSpan.FindAllStringSubmatch(m[1], -1) {
			row.paths = append(row.paths, strings.TrimSuffix(c[1], "/"))
		}
		rows = append(rows, row)
	}
	return rows
}

// trackedFolders is every folder that holds a file git tracks, to depth
// levels below the root.
func trackedFolders(t *testing.T, root string, depth int) []string {
	out, err := exec.Command("git", "-C", root, "ls-files").Output()
	if err != nil {
		t.Skipf("git ls-files: %v (not a clone?)", err)
	}
	seen := map[string]bool{}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		for d := path.Dir(f); d != "."; d = path.Dir(d) {
			if strings.Count(d, "/") < depth {
				seen[d] = true
			}
		}
	}
	var dirs []string
	for d := range seen {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	return dirs
}

// TestLayoutMatchesTree holds docs/layout.md to the tree: every path its table
// names exists, and every folder (three levels deep) is named there, by a row
// of its own or, in backquotes, in the row of the nearest folder above it that
// has one (engine/testdata's row names its bundles).
func TestLayoutMatchesTree(t *testing.T) {
	root := testenv.RepoRoot(t)
	rows := readLayout(t, filepath.Join(root, "docs", "layout.md"))
	if len(rows) < 10 {
		t.Fatalf("docs/layout.md: %d rows in its table; the test cannot read it", len(rows))
	}
	byPath := map[string]layoutRow{}
	for _, r := range rows {
		for _, p := range r.paths {
			byPath[p] = r
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("docs/layout.md names %s, which is not in the tree", p)
			}
		}
	}
	for _, dir := range trackedFolders(t, root, 3) {
		if _, ok := byPath[dir]; ok || hasRowBelow(byPath, dir) {
			continue
		}
		parent := path.Dir(dir)
		for ; parent != "."; parent = path.Dir(parent) {
			if _, ok := byPath[parent]; ok {
				break
			}
		}
		row, ok := byPath[parent]
		if !ok {
			t.Errorf("docs/layout.md has no row for %s/ (nor for a folder above it)", dir)
			continue
		}
		if !namedIn(row.text, strings.TrimPrefix(dir, parent+"/")) {
			t.Errorf("docs/layout.md: %s/ is in neither a row of its own nor %s/'s row", dir, parent)
		}
	}
}

// hasRowBelow reports whether a folder inside dir has a row: dir itself is
// then only a step on the way (daemon/cmd, engine/models).
func hasRowBelow(byPath map[string]layoutRow, dir string) bool {
	for p := range byPath {
		if strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}

// namedIn reports whether text names rel (a path below a row's folder) in
// backquotes: `rel`, `rel/` or a longer path that goes through it.
func namedIn(text, rel string) bool {
	for _, c := range codeSpan.FindAllStringSubmatch(text, -1) {
		if strings.Contains("/"+c[1]+"/", "/"+rel+"/") {
			return true
		}
	}
	return false
}
