package daemon_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

// The daemon refuses a file over one of its limits with the limit's own
// code, naming the count, the limit and the hrmd.yaml key; a repeated key
// and a byte order mark are refused saying so.
func TestRunFileLimits(t *testing.T) {
	s := newSpool(t, func(c *config.Config) {
		c.Inference.MaxCycles = 2
		c.Inference.DemoCheck = false
		c.Inference.Augmentations = 1
		c.Watch.MaxRows = 5 // two rows a test input: three test inputs are too many
	})
	bad := map[string]struct{ data, code, message string }{
		"eleven.json": {
			testInputs(11),
			puzzles.CodeTooManyTestInputs,
			`"test" has 11 test inputs; the limit is 10 a task (ARC tasks have at most 4; split the task) ` +
				`(watch.max_test_inputs in hrmd.yaml)`,
		},
		"rows.json": {
			testInputs(3),
			puzzles.CodeTooManyRows,
			"the file needs 6 rows through the model (3 test inputs × 2,",
		},
		"twice.json": {
			`{"test":[{"input":[[1]]}],"train":[],"test":[{"input":[[2]]}]}`,
			puzzles.CodeDuplicateKey,
			`the task has the key "test" twice`,
		},
		"bom.json": {"\uFEFF" + testInputs(1), puzzles.CodeNotJSON, "starts with a UTF-8 byte order mark (BOM"},
	}
	for name, b := range bad {
		s.drop(name, []byte(b.data))
	}
	p := s.startInProcess()
	for name, b := range bad {
		waitExists(t, filepath.Join(s.failed, name))
		var e daemon.ErrorFile
		testenv.ReadJSON(t, filepath.Join(s.failed, name+".error.json"), &e)
		if e.File != name || e.Code != b.code || !strings.Contains(e.Message, b.message) {
			t.Errorf("%s: %s: %s: %s\nwant %s: ...%s...", name, e.File, e.Code, e.Message, b.code, b.message)
		}
	}
	p.stop()
}

// testInputs is a task of n 1x2 test inputs.
func testInputs(n int) string {
	return `{"test":[` + strings.TrimSuffix(strings.Repeat(`{"input":[[1,2]]},`, n), ",") + `]}`
}

func waitExists(t *testing.T, path string) {
	t.Helper()
	testenv.WaitFor(t, 60*time.Second, path, func() bool { return exists(path) })
}

// A normal task dropped once the daemon is working on a file of hundreds
// of rows is answered first: the files take turns in the batches, and the
// worker lets claimed files join the turns while the large one keeps every
// batch full.
func TestRunLargeFileDoesNotHoldOthers(t *testing.T) {
	s := newSpool(t, func(c *config.Config) {
		c.Inference.MaxCycles = 2
		c.Inference.DemoCheck = false
	})
	tasks := make([]string, 60)
	for k := range tasks {
		tasks[k] = fmt.Sprintf(`"t%d":{"test":[%s{"input":[[%d]]}]}`, k, strings.Repeat(`{"input":[[1,2],[3,4]]},`, 9), k%10)
	}
	large := "{" + strings.Join(tasks, ",") + "}"
	p := s.startInProcess()
	p.WaitEvent("ready", 1, 60*time.Second)
	s.drop("large.json", []byte(large))
	testenv.WaitFor(
		t,
		60*time.Second,
		"large.json claimed",
		func() bool { return !exists(filepath.Join(s.inbox, "large.json")) },
	)
	for _, data := range testenv.ARCTasks(t, 1) {
		s.drop("normal.json", data)
	}
	first := p.WaitEvent("answered", 1, 300*time.Second)
	if first.Fields["name"] != "normal.json" {
		t.Errorf("%v was answered first; normal.json waited for all 600 rows of large.json", first.Fields["name"])
	}
	p.WaitEvent("answered", 2, 300*time.Second)
	p.stop()
}

// A file whose name is not UTF-8 keeps its exact name, in base64 beside
// the JSON one, which shows each stray byte as U+FFFD: in its answer
// (task_bytes) and in its error file (file_bytes).
func TestRunNamesNotUTF8(t *testing.T) {
	s := newSpool(t, func(c *config.Config) { c.Inference.MaxCycles = 2 })
	good, bad := "caf\xe9.json", "caf\xe9-bad.json"
	s.drop(good, []byte(testInputs(2)))
	s.drop(bad, []byte(testInputs(11)))
	p := s.startInProcess()
	waitExists(t, filepath.Join(s.done, good))
	var a puzzles.AnswerFile
	testenv.ReadJSON(t, filepath.Join(s.outbox, good), &a)
	if a.Task != "caf\uFFFD" || string(a.TaskBytes) != "caf\xe9" || len(a.Answers) != 2 {
		t.Errorf("answer to %q: task %q, task_bytes %q, %d answers", good, a.Task, a.TaskBytes, len(a.Answers))
	}
	waitExists(t, filepath.Join(s.failed, bad))
	var e daemon.ErrorFile
	testenv.ReadJSON(t, filepath.Join(s.failed, bad+".error.json"), &e)
	if e.File != "caf\uFFFD-bad.json" || string(e.FileBytes) != bad || e.Code != puzzles.CodeTooManyTestInputs {
		t.Errorf("error file of %q: file %q, file_bytes %q, code %s", bad, e.File, e.FileBytes, e.Code)
	}
	// On disk, the bytes are base64.
	data, err := os.ReadFile(filepath.Join(s.failed, bad+".error.json"))
	if err != nil || !strings.Contains(string(data), `"file_bytes": "Y2Fm6S1iYWQuanNvbg=="`) {
		t.Errorf("error file %s (%v), want file_bytes in base64", data, err)
	}
	p.stop()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
