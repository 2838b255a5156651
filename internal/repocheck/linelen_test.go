package repocheck

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// maxLineChars is as wide as a line is read side by side with another file
// without wrapping. A tab counts as one character, as gofmt writes them.
const maxLineChars = 120

// longLines lists the lines of the Go files below root, tests included, that
// are wider than maxLineChars, as file:line (characters).
func longLines(root string) ([]string, error) {
	var long []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		found, err := longLinesOf(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, f := range found {
			long = append(long, rel+":"+f)
		}
		return nil
	})
	return long, err
}

func longLinesOf(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var long []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if w := utf8.RuneCount(sc.Bytes()); w > maxLineChars {
			long = append(long, fmt.Sprintf("%d (%d characters)", n, w))
		}
	}
	return long, sc.Err()
}

func TestNoGoLineWiderThanMax(t *testing.T) {
	long, err := longLines(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range long {
		t.Errorf("%s: wider than %d characters; break it (one argument a line, or a string in parts)", l, maxLineChars)
	}
}

func TestLongLinesFindsAWideLine(t *testing.T) {
	root := t.TempDir()
	body := "package x\n\n// " + strings.Repeat("w", maxLineChars-3) + "\n// " + strings.Repeat("w", maxLineChars-2) + "\n"
	if err := os.WriteFile(filepath.Join(root, "x.go"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	long, err := longLines(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("x.go:4 (%d characters)", maxLineChars+1); len(long) != 1 || long[0] != want {
		t.Errorf("longLines = %q, want [%q]", long, want)
	}
}
