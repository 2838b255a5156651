package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// doctorJSON runs `hrmd doctor --json` and reads what it prints.
func doctorJSON(t *testing.T, args ...string) (doctorReport, int) {
	t.Helper()
	r := runDoctor(t, append([]string{"--json"}, args...)...)
	var rep doctorReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("--json printed no JSON report (%v):\n%s\nstderr:\n%s", err, r.Stdout, r.Stderr)
	}
	return rep, r.Code
}

// --json has every check, skipped ones with the reason, in the order of the
// report; what is not skipped is the report's lines, word for word; the
// exit status is the report's.
func TestDoctorJSON(t *testing.T) {
	_, config := doctorSetup(t, nil)
	rep, code := doctorJSON(t, "--config", config)
	if code != 0 || !rep.CanRun || rep.Failures != 0 {
		t.Errorf("exit %d, can_run %v, failures %d; want 0, true, 0", code, rep.CanRun, rep.Failures)
	}
	statuses := map[string][]string{}
	for _, r := range rep.Results {
		if r.Check == "" || r.Message == "" {
			t.Errorf("a result without its check or message: %+v", r)
		}
		statuses[r.Check] = append(statuses[r.Check], r.Status)
	}
	// Every check is there; those that do not apply to this configuration
	// once, skipped.
	for _, check := range []string{"config", "user", "device", "library", "provider", "gpu library", "gpu devices",
		"folder", "inotify", "model", "engine cache", "input probe"} {
		if len(statuses[check]) == 0 || slices.Contains(statuses[check], checkSkip) {
			t.Errorf("check %q: %v, want it run", check, statuses[check])
		}
	}
	for _, check := range []string{"queue", "puzzle table", "deep"} {
		if !slices.Equal(statuses[check], []string{checkSkip}) {
			t.Errorf("check %q: %v, want it skipped", check, statuses[check])
		}
	}

	human := runDoctor(t, "--config", config)
	var lines []string
	for _, r := range rep.Results {
		if r.Status != checkSkip {
			lines = append(lines, fmt.Sprintf("%-4s  %-12s %s\n", r.Status, r.Check, r.Message))
		}
	}
	if !strings.HasPrefix(human.Stdout, lines[0]) {
		t.Errorf("the report starts %q, --json with %q", strings.SplitAfter(human.Stdout, "\n")[0], lines[0])
	}
	rest := human.Stdout
	for _, l := range lines {
		i := strings.Index(rest, l)
		if i < 0 {
			t.Fatalf("the report lacks --json's %q in its order:\n%s", l, human.Stdout)
		}
		rest = rest[i+len(l):]
	}
}

// A blocking problem: status fail with its fix, can_run false, exit 1.
func TestDoctorJSONFailure(t *testing.T) {
	dir, config := doctorSetup(t, nil)
	if err := os.Chmod(filepath.Join(dir, "model"), 0); err != nil {
		t.Fatal(err)
	}
	rep, code := doctorJSON(t, "--config", config)
	if code != 1 || rep.CanRun || rep.Failures != 1 {
		t.Errorf("exit %d, can_run %v, failures %d; want 1, false, 1", code, rep.CanRun, rep.Failures)
	}
	for _, r := range rep.Results {
		wrongFix := !strings.Contains(r.Fix, "point --model, or model: in "+config+", at a readable bundle folder")
		if r.Status == checkFail && (r.Check != "model" || wrongFix) {
			t.Errorf("fail: %+v", r)
		}
	}
}
