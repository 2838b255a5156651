package doctest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
)

var (
	// A command line the docs show: hrmd or bin/hrmd, a command, its words
	// up to the end of the command (a pipe, a ;, a comment).
	hrmdCommand = regexp.MustCompile(`(?:^|[\s(])(?:bin/)?hrmd ([a-z]+)([^|;&#\n]*)`)
	flagWord    = regexp.MustCompile(`^(--?[a-z][a-z0-9-]*)`)
	helpFlag    = regexp.MustCompile(`(?m)^  (--?[a-z][a-z0-9-]*)`)
	helpCommand = regexp.MustCompile(`(?m)^  hrmd ([a-z]+)`)
	inlineCode  = regexp.MustCompile("`([^`]+)`")
)

// TestDocsFlagsExist: every hrmd command line the docs show, in prose or in
// a block (run or not), names a command hrmd has and only flags that command
// takes, as `hrmd help COMMAND` lists them; a flag renamed or removed cannot
// linger in a sentence that no test runs.
func TestDocsFlagsExist(t *testing.T) {
	flags := hrmdFlags(t)
	root := testenv.RepoRoot(t)
	for _, path := range pages(t) {
		rel, _ := filepath.Rel(root, path)
		page, err := ReadPage(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range commandLines(page) {
			for _, m := range hrmdCommand.FindAllStringSubmatch(line, -1) {
				for _, p := range checkFlags(flags, m[1], m[2]) {
					t.Errorf("%s: %q: %s", rel, strings.TrimSpace(m[0]), p)
				}
			}
		}
	}
}

// hrmdFlags is every command of hrmd with the flags its help lists.
func hrmdFlags(t *testing.T) map[string]map[string]bool {
	help := func(args ...string) string {
		out, err := exec.Command(hrmdBin, append([]string{"help"}, args...)...).Output()
		if err != nil {
			t.Fatalf("hrmd help %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	flags := map[string]map[string]bool{}
	for _, c := range helpCommand.FindAllStringSubmatch(help(), -1) {
		flags[c[1]] = map[string]bool{"-h": true, "--help": true}
		for _, f := range helpFlag.FindAllStringSubmatch(help(c[1]), -1) {
			flags[c[1]][f[1]] = true
		}
	}
	if len(flags) < 5 || len(flags["run"]) < 5 {
		t.Fatalf("cannot read hrmd's commands and flags from its help: %v", flags)
	}
	return flags
}

// commandLines is where a page shows commands: each line of its fenced
// blocks, and each code span of its text (which may run over a line end).
func commandLines(page Page) []string {
	var lines []string
	for _, b := range page.Blocks {
		lines = append(lines, strings.Split(b.Text, "\n")...)
	}
	prose := strings.ReplaceAll(page.Prose, "\n", " ")
	for _, c := range inlineCode.FindAllStringSubmatch(prose, -1) {
		lines = append(lines, c[1])
	}
	return lines
}

// checkFlags says what is wrong with `hrmd command rest`: a flag the command
// does not take. A word after hrmd that is no command is prose ("hrmd can
// run"), not checked.
func checkFlags(flags map[string]map[string]bool, command, rest string) []string {
	known, ok := flags[command]
	if !ok {
		return nil
	}
	var problems []string
	for _, word := range strings.Fields(rest) {
		f := flagWord.FindString(word)
		if f != "" && strings.HasPrefix(word, "-") && !known[f] {
			problems = append(problems, fmt.Sprintf("hrmd %s has no flag %s (hrmd help %s)", command, f, command))
		}
	}
	return problems
}

func TestCheckFlags(t *testing.T) {
	flags := map[string]map[string]bool{"bench": {"--model": true, "--batch": true, "-v": true}}
	for rest, want := range map[string]int{
		" --model DIR --batch 1,2,4":   0,
		" --model=DIR -v":              0,
		" --modle DIR":                 1,
		" --model DIR --runs 3 --json": 2,
		" --model DIR 1-9 -x":          1,
	} {
		if got := checkFlags(flags, "bench", rest); len(got) != want {
			t.Errorf("checkFlags(bench%s) = %v, want %d problems", rest, got, want)
		}
	}
	if got := checkFlags(flags, "can", " run --x"); got != nil {
		t.Errorf("a word that is no command was checked: %v", got)
	}
}
