package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestHelp runs every command's help the three ways a user asks for it:
// the same text on stdout, exit 0, every flag of the set the command
// parses in it with its help text.
func TestHelp(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			want := ""
			for _, args := range [][]string{{"help", c.name}, {c.name, "-h"}, {c.name, "--help"}} {
				r := runHrmd(t, args...)
				if r.Code != 0 || r.Stderr != "" {
					t.Fatalf("hrmd %s: exit %d, stderr %q", strings.Join(args, " "), r.Code, r.Stderr)
				}
				if want == "" {
					want = r.Stdout
				} else if r.Stdout != want {
					t.Errorf("hrmd %s printed\n%s\nnot what hrmd help %s printed\n%s", strings.Join(args, " "),
						r.Stdout, c.name, want)
				}
			}
			if !strings.HasPrefix(want, c.synopsis()) {
				t.Errorf("hrmd help %s does not start with its synopsis %q:\n%s", c.name, c.synopsis(), want)
			}
			c.flags().VisitAll(func(f *flag.Flag) {
				_, text := flag.UnquoteUsage(f)
				line := "\n  " + flagWithValue(f) + "\n"
				if !strings.Contains(want, line) || !strings.Contains(oneLine(want), oneLine(text)) {
					t.Errorf("hrmd help %s lacks %s with its text %q:\n%s", c.name, strings.TrimSpace(line), text, want)
				}
			})
		})
	}
}

// TestHelpNamesFlags holds help to what it promises: run's lists
// --adopt-orphans, which the daemon's own warning tells users to pass;
// version's is help, not the version; every flag's placeholder is named.
func TestHelpNamesFlags(t *testing.T) {
	if r := runHrmd(t, "run", "--help"); !strings.Contains(r.Stdout, "\n  --adopt-orphans\n") {
		t.Errorf("hrmd run --help lacks --adopt-orphans:\n%s", r.Stdout)
	}
	if r := runHrmd(t, "version", "--help"); r.Code != 0 || strings.Contains(r.Stdout, "onnxruntime 1.") {
		t.Errorf("hrmd version --help: exit %d, printed the version:\n%s", r.Code, r.Stdout)
	}
	for _, c := range commands() {
		c.flags().VisitAll(func(f *flag.Flag) {
			name, _ := flag.UnquoteUsage(f)
			if slices.Contains([]string{"string", "int", "uint", "float", "duration", "value"}, name) {
				t.Errorf("%s --%s: its value is shown as %q; put the word that names it in `back quotes` in its help text",
					c.name, f.Name, name)
			}
		})
	}
}

// TestHelpList is `hrmd help`: every command's synopsis, on stdout; and
// the command-line mistakes around help.
func TestHelpList(t *testing.T) {
	r := runHrmd(t, "help")
	if r.Code != 0 || r.Stderr != "" {
		t.Fatalf("hrmd help: exit %d, stderr %q", r.Code, r.Stderr)
	}
	for _, c := range commands() {
		for line := range strings.Lines(c.synopsis()) {
			if !strings.Contains(r.Stdout, "  "+line) {
				t.Errorf("hrmd help lacks %s's synopsis line %q:\n%s", c.name, line, r.Stdout)
			}
		}
	}
	if again := runHrmd(t, "help", "help"); again.Code != 0 || again.Stdout != r.Stdout {
		t.Errorf("hrmd help help: exit %d, want the list of hrmd help:\n%s", again.Code, again.Stdout)
	}
	for _, args := range [][]string{{"help", "foo"}, {"help", "run", "solve"}, {"foo"}, {}} {
		r := runHrmd(t, args...)
		if r.Code != 2 || r.Stdout != "" {
			t.Errorf("hrmd %s: exit %d (want 2), stdout %q", strings.Join(args, " "), r.Code, r.Stdout)
		}
	}
}

// TestHelpInDocs holds docs/commands.md to the help: each command's
// section opens with its synopsis exactly as `hrmd help CMD` prints it.
func TestHelpInDocs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs", "commands.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands() {
		section := regexp.MustCompile("(?s)\n## `hrmd " + c.name + "`\n\n```\n(.*?)```\n").FindSubmatch(data)
		if section == nil {
			t.Errorf("docs/commands.md has no section ## `hrmd %s` that opens with a ``` block", c.name)
			continue
		}
		if got := string(section[1]); got != c.synopsis() {
			t.Errorf("docs/commands.md shows hrmd %s as\n%s\nhrmd help %s prints\n%s", c.name, got, c.name, c.synopsis())
		}
	}
}
