package repocheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// sourceRef is how code sends a reader to a section of the docs, in a help
// text or a comment: docs/models.md, "The exporter: your checkpoint to a bundle".
var sourceRef = regexp.MustCompile(`(README\.md|docs/[a-z]+\.md), "([^"]+)"`)

// TestSourceReferencesResolve: every section the code names by its title is
// a heading of that page, so that a heading renamed in the docs does not leave
// a help text pointing at nothing.
func TestSourceReferencesResolve(t *testing.T) {
	root := repoRoot(t)
	out, err := exec.Command("git", "-C", root, "ls-files", "*.go", "*.py", "*.sh", "build.sh").Output()
	if err != nil {
		t.Skipf("git ls-files: %v (not a clone?)", err)
	}
	for _, p := range checkSourceRefs(root, strings.Fields(string(out))) {
		t.Error(p)
	}
}

func checkSourceRefs(root string, files []string) []string {
	var problems []string
	docs := map[string]*doc{}
	for _, f := range files {
		if strings.HasPrefix(f, "internal/repocheck/") {
			continue // its own tests name made-up pages
		}
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, m := range sourceRef.FindAllStringSubmatch(string(data), -1) {
			page, title := m[1], m[2]
			d, ok := docs[page]
			if !ok {
				if d, err = readDoc(root, page); err != nil {
					problems = append(problems, fmt.Sprintf("%s names %s, which cannot be read: %v", f, page, err))
					continue
				}
				docs[page] = d
			}
			if !d.anchors[slug(title)] {
				problems = append(problems, fmt.Sprintf("%s names %s, %q: that page has no such heading", f, page, title))
			}
		}
	}
	return problems
}
