package repocheck

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// maxBuildShLines: build.sh is a front (the commands, their help and the
// dispatch); what a command does lives in its script in internal/build/.
const maxBuildShLines = 150

// shellFuncStart is a function's first line as the scripts write it, at
// column 0: name, (), then { or ( and maybe the body, on its one line.
var shellFuncStart = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\(\) *([{(])(.*)$`)

// buildScripts are the scripts held to a screen a function: build.sh and
// the scripts of its commands.
func buildScripts(root string) ([]string, error) {
	jobs, err := filepath.Glob(filepath.Join(root, "internal", "build", "*.sh"))
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("no scripts in %s", filepath.Join(root, "internal", "build"))
	}
	return append([]string{filepath.Join(root, "build.sh")}, jobs...), nil
}

// longShellFuncs lists the functions of the files longer than maxFuncLines,
// as file:line name (lines). A function runs from its `name() {` line to the
// first `}` (for `(`, `)`) alone at column 0 after it; one whose body closes
// on its first line is one line. A function that never closes is an error.
func longShellFuncs(root string, files []string) ([]string, error) {
	var long []string
	for _, path := range files {
		rel, _ := filepath.Rel(root, path)
		found, err := shellFuncLengths(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		for _, f := range found {
			if f.lines > maxFuncLines {
				long = append(long, fmt.Sprintf("%s:%d %s (%d lines)", rel, f.line, f.name, f.lines))
			}
		}
	}
	return long, nil
}

type shellFunc struct {
	name        string
	line, lines int
}

// shellFuncLengths reads the functions of one script, in order.
func shellFuncLengths(path string) ([]shellFunc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		funcs   []shellFunc
		open    *shellFunc
		closing string
		n       int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		text := sc.Text()
		if open != nil {
			if text == closing {
				open.lines = n - open.line + 1
				funcs = append(funcs, *open)
				open = nil
			}
			continue
		}
		m := shellFuncStart.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		closing = map[string]string{"{": "}", "(": ")"}[m[2]]
		body := strings.TrimSpace(m[3])
		if body != "" && !strings.HasPrefix(body, "#") && strings.HasSuffix(body, closing) {
			funcs = append(funcs, shellFunc{name: m[1], line: n, lines: 1})
			continue
		}
		open = &shellFunc{name: m[1], line: n}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if open != nil {
		return nil, fmt.Errorf("line %d: %s has no %q alone at column 0 after it", open.line, open.name, closing)
	}
	return funcs, nil
}

// checkFrontLength: the file at path has at most limit lines.
func checkFrontLength(path string, limit int) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	n := strings.Count(string(data), "\n")
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	if n > limit {
		return fmt.Errorf("%s has %d lines; keep it to %d (the commands, help and dispatch: "+
			"what a command does goes in its script in internal/build/)", filepath.Base(path), n, limit)
	}
	return nil
}

func TestBuildShIsAFront(t *testing.T) {
	if err := checkFrontLength(filepath.Join(repoRoot(t), "build.sh"), maxBuildShLines); err != nil {
		t.Error(err)
	}
}

func TestNoShellFunctionLongerThanAScreen(t *testing.T) {
	root := repoRoot(t)
	files, err := buildScripts(root)
	if err != nil {
		t.Fatal(err)
	}
	long, err := longShellFuncs(root, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range long {
		t.Errorf("%s: longer than %d lines; split it into named steps", f, maxFuncLines)
	}
}

// The checks see a long function, whichever its brackets, a one-line one as
// one line, a function that never closes, and a front one line too long.
func TestShellChecksCatch(t *testing.T) {
	root := t.TempDir()
	body := strings.Repeat("  echo x\n", maxFuncLines-1)
	scripts := map[string]string{
		"long.sh": "#!/bin/sh\nshort() { echo x; }\n\nlong() {\n" + body + "}\n" +
			"sub() (\n" + body + "  echo }\n)\n" + "fits() (\n" + body[len("  echo x\n"):] + ")\n",
		"open.sh":  "f() {\n  echo x\n  }\n",
		"front.sh": strings.Repeat("x\n", maxBuildShLines+1),
	}
	for name, data := range scripts {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	long, err := longShellFuncs(root, []string{filepath.Join(root, "long.sh")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"long.sh:4 long (81 lines)", fmt.Sprintf("long.sh:%d sub (82 lines)", 4+81)}
	if strings.Join(long, "; ") != strings.Join(want, "; ") {
		t.Errorf("longShellFuncs = %q, want %q", long, want)
	}
	if _, err := longShellFuncs(root, []string{filepath.Join(root, "open.sh")}); err == nil ||
		!strings.Contains(err.Error(), `open.sh: line 1: f has no "}"`) {
		t.Errorf("a function with no closing line at column 0: err = %v", err)
	}
	if err := checkFrontLength(filepath.Join(root, "front.sh"), maxBuildShLines); err == nil {
		t.Errorf("checkFrontLength passed a file of %d lines", maxBuildShLines+1)
	}
	if err := checkFrontLength(filepath.Join(root, "long.sh"), 1000); err != nil {
		t.Errorf("checkFrontLength: %v", err)
	}
}
