package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hrmd/hrmd/internal/doctest"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/internal/testenv"
)

// hrmdBin is the real hrmd the demo runs, built once for these tests.
var hrmdBin string

func TestMain(m *testing.M) { os.Exit(hrmdtest.Main(m, &hrmdBin)) }

func demoOptions(t *testing.T, hrmd string) options {
	root := testenv.RepoRoot(t)
	return options{
		hrmd:     hrmd,
		model:    filepath.Join(root, "engine", "models", "demo"),
		examples: filepath.Join(root, "puzzles", "examples"),
		arcTask:  filepath.Join(testenv.ARCDir(t), "training", "007bbfb7.json"),
		dir:      t.TempDir(),
		timeout:  2 * time.Minute,
	}
}

// The demo, as ./build.sh demo runs it, against the real daemon: every example
// is answered exactly, the real ARC task is answered and called wrong, the
// broken file lands in failed/ with its code, and the daemon stops cleanly.
func TestDemo(t *testing.T) {
	t.Setenv("HRMD_ORT_LIB", testenv.ORTLibrary(t))
	o := demoOptions(t, hrmdBin)
	var out bytes.Buffer
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	t.Log("\n" + text)
	examples, _ := filepath.Glob(filepath.Join(o.examples, "*.json"))
	for _, e := range examples {
		name := filepath.Base(e)
		section := sectionOf(text, name)
		if !strings.Contains(section, "✓ EXACT") || strings.Contains(section, "WRONG") ||
			!strings.Contains(section, "flags: none") {
			t.Errorf("%s: want an exact answer, got:\n%s", name, section)
		}
		if !strings.Contains(section, "outbox/"+name) {
			t.Errorf("%s: the answer's place is not shown:\n%s", name, section)
		}
	}
	arc := sectionOf(text, "007bbfb7.json")
	for _, want := range []string{"outbox/007bbfb7.json", "✗ WRONG", "known answer 9x9",
		"solves 0 of the task's 5 demo pairs", "fails 5 of the task's 5 demonstrations",
		"flags: copy_of_input, low_confidence"} {
		if !strings.Contains(arc, want) {
			t.Errorf("007bbfb7: want %q in:\n%s", want, arc)
		}
	}
	if s := sectionOf(text, brokenName); !strings.Contains(s, "failed/broken.json.error.json") ||
		!strings.Contains(s, "ragged_grid") {
		t.Errorf("broken file: want failed/ with ragged_grid:\n%s", s)
	}
	for _, want := range []string{
		"spool/done/    007bbfb7.json  halo-1.json",
		"spool/failed/  broken.json  broken.json.error.json",
		"inbox/         (empty)",
		"hrmd stopped cleanly (exit 0)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("want %q in the demo's output", want)
		}
	}
	if strings.Contains(text, "\x1b[") {
		t.Error("colour codes in output meant for a file")
	}
	checkReadmeSample(t, text)
}

// checkReadmeSample holds README.md's sample of the demo, the block that says
// it is checked here, to what the demo printed.
func checkReadmeSample(t *testing.T, text string) {
	t.Helper()
	readme, err := doctest.ReadPage(filepath.Join(testenv.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, b := range readme.Blocks {
		if m := b.Marker; m.CheckedBy == "internal/demo" {
			found = true
			if err := doctest.Match(b.Text, text, m.Vary, m.Part); err != nil {
				t.Errorf("README.md:%d, what the demo prints: %v", b.Line, err)
			}
		}
	}
	if !found {
		t.Error("README.md has no sample of the demo marked `checked by internal/demo`")
	}
}

// sectionOf is the demo's report for one file: from its "── name" line to the next blank line.
func sectionOf(text, name string) string {
	i := strings.Index(text, "── "+name+" ")
	if i < 0 {
		return ""
	}
	s := text[i:]
	if j := strings.Index(s, "\n\n"); j >= 0 {
		s = s[:j]
	}
	return s
}

// A daemon that cannot start makes the demo fail with the daemon's own reason.
func TestDemoDaemonFails(t *testing.T) {
	t.Setenv("HRMD_ORT_LIB", testenv.ORTLibrary(t))
	o := demoOptions(t, hrmdBin)
	o.model = filepath.Join(t.TempDir(), "no-model")
	var out bytes.Buffer
	err := run(context.Background(), o, &out)
	if err == nil || !strings.Contains(err.Error(), "hrmd exited before it was ready") ||
		!strings.Contains(err.Error(), "no-model") {
		t.Fatalf("want the daemon's start-up error, got %v", err)
	}
}

func TestUseColour(t *testing.T) {
	for _, c := range []struct {
		mode     string
		terminal bool
		noColor  string
		want     bool
		err      bool
	}{
		{"auto", true, "", true, false},
		{"auto", true, "1", false, false},
		{"auto", false, "", false, false},
		{"always", false, "1", true, false},
		{"never", true, "", false, false},
		{"rainbow", true, "", false, true},
	} {
		got, err := useColour(c.mode, c.terminal, c.noColor)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("useColour(%q, %v, %q) = %v, %v", c.mode, c.terminal, c.noColor, got, err)
		}
	}
}

// Colour as a terminal gets it: the grids are drawn in ARC's palette.
func TestDemoColour(t *testing.T) {
	t.Setenv("HRMD_ORT_LIB", testenv.ORTLibrary(t))
	o := demoOptions(t, hrmdBin)
	o.colour = true
	var out bytes.Buffer
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	// A red cell (the palette's 255,65,54) is drawn in every example.
	if !strings.Contains(out.String(), "255;65;54m▀") {
		t.Error("no red half block in the coloured output")
	}
}
