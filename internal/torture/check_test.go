package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/config"
	spoolpkg "github.com/hrmd/hrmd/daemon/spool"
	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

// fakeSpool is a spool with no daemon: the test plays the daemon's part.
func fakeSpool(t *testing.T) *spool {
	t.Helper()
	dir := t.TempDir()
	l := spoolpkg.Layout{
		Inbox:  filepath.Join(dir, "inbox"),
		Outbox: filepath.Join(dir, "outbox"),
		Root:   filepath.Join(dir, "spool"),
	}
	s := &spool{inbox: l.Inbox, outbox: l.Outbox, done: l.Done(), failed: l.Failed(), work: l.WorkRoot(), m: newManifest()}
	for _, d := range []string{s.inbox, s.outbox, s.done, s.failed, filepath.Join(s.work, "a")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func task(label string) []byte {
	return []byte(`{"name": "` + label + `", "test": [{"input": [[1]]}, {"input": [[2]]}]}`)
}

// answer plays the daemon: inbox/name goes to done/as with its answer.
func answer(t *testing.T, s *spool, name, as string) {
	t.Helper()
	if err := os.Rename(filepath.Join(s.inbox, name), filepath.Join(s.done, as)); err != nil {
		t.Fatal(err)
	}
	a := puzzles.AnswerFile{Task: strings.TrimSuffix(as, ".json"), Answers: make([]puzzles.Answer, 2)}
	testenv.WriteJSON(t, filepath.Join(s.outbox, as), a)
}

// fail plays the daemon: inbox/name goes to failed/ with its error file.
func fail(t *testing.T, s *spool, name, code string) {
	t.Helper()
	if err := os.Rename(filepath.Join(s.inbox, name), filepath.Join(s.failed, name)); err != nil {
		t.Fatal(err)
	}
	testenv.WriteJSON(
		t,
		filepath.Join(s.failed, name+".error.json"),
		daemon.ErrorFile{File: name, Code: code, Message: "m"},
	)
}

// settled is a spool where the daemon did everything right: three tasks
// (one under a suffix, as when its name was taken), a bad file, the user's
// file in the outbox.
func settled(t *testing.T) *spool {
	s := fakeSpool(t)
	if err := s.place(filepath.Join(s.outbox, "c.json"), []byte("the user's")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.json", "b.json", "c.json"} {
		if err := s.drop(name, task(name), wantDone()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.drop("bad.json", []byte("{"), wantFailed("not_json")); err != nil {
		t.Fatal(err)
	}
	answer(t, s, "a.json", "a.json")
	answer(t, s, "b.json", "b.json")
	answer(t, s, "c.json", "c.1.json")
	fail(t, s, "bad.json", "not_json")
	return s
}

func TestCheckPasses(t *testing.T) {
	v := settled(t).check()
	if len(v.problems) > 0 || v.files != 4 || v.outcomes["answered"] != 3 || v.outcomes["not_json"] != 1 {
		t.Errorf("a clean spool: %+v", v)
	}
}

// Every fault the checker exists for is found, and counted where it belongs.
func TestCheckFinds(t *testing.T) {
	for _, tt := range []struct {
		name   string
		break_ func(t *testing.T, s *spool)
		count  func(v verdict) int
		want   string
	}{
		{"lost", func(t *testing.T, s *spool) {
			os.Remove(filepath.Join(s.done, "a.json"))
			os.Remove(filepath.Join(s.outbox, "a.json"))
		},
			func(v verdict) int { return v.lost }, "found 0 times"},
		{"answered twice", func(t *testing.T, s *spool) {
			copyFile(t, filepath.Join(s.done, "a.json"), filepath.Join(s.done, "a.1.json"))
			twice := puzzles.AnswerFile{Task: "a.1", Answers: make([]puzzles.Answer, 2)}
			testenv.WriteJSON(t, filepath.Join(s.outbox, "a.1.json"), twice)
		}, func(v verdict) int { return v.twice }, "found 2 times"},
		{"in done/ and failed/", func(t *testing.T, s *spool) {
			copyFile(t, filepath.Join(s.done, "b.json"), filepath.Join(s.failed, "b.json"))
			testenv.WriteJSON(t, filepath.Join(s.failed, "b.json.error.json"), daemon.ErrorFile{File: "b.json", Code: "x"})
		}, func(v verdict) int { return v.twice }, "failed, want answered"},
		{"an answer too many", func(t *testing.T, s *spool) {
			testenv.WriteJSON(t, filepath.Join(s.outbox, "z.json"), puzzles.AnswerFile{Task: "z"})
		},
			func(v verdict) int { return v.twice }, "answers nothing in done/"},
		{"the user's file replaced", func(t *testing.T, s *spool) {
			os.WriteFile(filepath.Join(s.outbox, "c.json"), []byte("hrmd's"), 0o644)
		}, func(v verdict) int { return v.overwritten }, "put there by the user"},
		{"the user's file replaced by the same bytes", func(t *testing.T, s *spool) {
			copyFile(t, filepath.Join(s.outbox, "c.json"), filepath.Join(s.outbox, ".c.json.tmp"))
			os.Rename(filepath.Join(s.outbox, ".c.json.tmp"), filepath.Join(s.outbox, "c.json"))
		}, func(v verdict) int { return v.overwritten }, "replaced by a file of the same bytes"},
		{"another file's answer", func(t *testing.T, s *spool) {
			other := puzzles.AnswerFile{Task: "b", Answers: make([]puzzles.Answer, 1)}
			testenv.WriteJSON(t, filepath.Join(s.outbox, "b.json"), other)
		}, func(v verdict) int { return v.overwritten }, "is not done/\"b.json\"'s answer"},
		{"stuck in work/", func(t *testing.T, s *spool) {
			os.Rename(filepath.Join(s.done, "a.json"), filepath.Join(s.work, "a", "a.json"))
			os.Remove(filepath.Join(s.outbox, "a.json"))
		}, func(v verdict) int { return v.stuck }, "still in work/"},
		{"the wrong code", func(t *testing.T, s *spool) {
			wrong := daemon.ErrorFile{File: "bad.json", Code: "too_big"}
			testenv.WriteJSON(t, filepath.Join(s.failed, "bad.json.error.json"), wrong)
		}, func(v verdict) int { return 1 }, "failed with too_big"},
		{"a temporary file left", func(t *testing.T, s *spool) {
			os.WriteFile(filepath.Join(s.outbox, ".hrmd-0123456789ab.tmp"), nil, 0o644)
		},
			func(v verdict) int { return 1 }, "temporary file left"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := settled(t)
			tt.break_(t, s)
			v := s.check()
			if tt.count(v) == 0 || !strings.Contains(strings.Join(v.problems, "\n"), tt.want) {
				t.Errorf("verdict %+v, want a problem with %q", v, tt.want)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The usage watch calls a leak a leak and noise noise.
func TestLeaks(t *testing.T) {
	flat := []usage{
		{100 << 20, 20, 30},
		{110 << 20, 22, 31},
		{105 << 20, 21, 30},
		{108 << 20, 20, 32},
		{104 << 20, 23, 30},
		{109 << 20, 21, 31},
	}
	if l := leaks(flat); len(l) != 0 {
		t.Errorf("noise taken for a leak: %v", l)
	}
	growing := []usage{
		{100 << 20, 20, 30},
		{100 << 20, 20, 30},
		{150 << 20, 50, 60},
		{170 << 20, 70, 80},
		{200 << 20, 90, 100},
		{220 << 20, 120, 130},
	}
	if l := leaks(growing); len(l) != 3 {
		t.Errorf("leaks(growing) = %v, want RSS, descriptors and goroutines", l)
	}
}

// A name that is not UTF-8 is recorded as docs/answers.md says: shown
// with U+FFFD, exact in task_bytes and file_bytes; anything else is not it.
func TestCheckNamesNotUTF8(t *testing.T) {
	s := fakeSpool(t)
	good, bad := "caf\xe9.json", "caf\xe9-bad.json"
	if err := s.drop(good, task("good"), wantDone()); err != nil {
		t.Fatal(err)
	}
	if err := s.drop(bad, []byte("{"), wantFailed("not_json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(s.inbox, good), filepath.Join(s.done, good)); err != nil {
		t.Fatal(err)
	}
	a := puzzles.AnswerFile{Task: "caf\uFFFD", TaskBytes: []byte("caf\xe9"), Answers: make([]puzzles.Answer, 2)}
	testenv.WriteJSON(t, filepath.Join(s.outbox, good), a)
	if err := os.Rename(filepath.Join(s.inbox, bad), filepath.Join(s.failed, bad)); err != nil {
		t.Fatal(err)
	}
	e := daemon.ErrorFile{File: "caf\uFFFD-bad.json", FileBytes: []byte(bad), Code: "not_json"}
	testenv.WriteJSON(t, filepath.Join(s.failed, bad+".error.json"), e)
	if v := s.check(); len(v.problems) > 0 {
		t.Errorf("names recorded exactly: %v", v.problems)
	}
	a.TaskBytes = nil
	testenv.WriteJSON(t, filepath.Join(s.outbox, good), a)
	e.FileBytes = nil
	testenv.WriteJSON(t, filepath.Join(s.failed, bad+".error.json"), e)
	if v := s.check(); len(v.problems) != 2 {
		t.Errorf("names not recorded exactly: %v, want 2 problems", v.problems)
	}
}

// A multi-task file's answer is one answer file per task, by its id; a
// failure's message must say what the scenario wants it to.
func TestCheckBundleAndMessage(t *testing.T) {
	s := fakeSpool(t)
	if err := s.drop("b.json", bundle("b", 3, 1, 2, 2, 0), wantDone()); err != nil {
		t.Fatal(err)
	}
	if err := s.drop("bom.json", []byte("\xef\xbb\xbf{}"), wantFailedSaying("not_json", "byte order mark")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(s.inbox, "b.json"), filepath.Join(s.done, "b.json")); err != nil {
		t.Fatal(err)
	}
	answers := map[string]puzzles.AnswerFile{}
	for _, id := range []string{"b-0000", "b-0001", "b-0002"} {
		answers[id] = puzzles.AnswerFile{Task: id, Answers: make([]puzzles.Answer, 2)}
	}
	testenv.WriteJSON(t, filepath.Join(s.outbox, "b.json"), answers)
	fail(t, s, "bom.json", "not_json")
	v := s.check()
	if len(v.problems) != 1 || !strings.Contains(v.problems[0], `want a message that says "byte order mark"`) {
		t.Errorf("problems %v, want only the message's", v.problems)
	}
	delete(answers, "b-0001")
	testenv.WriteJSON(t, filepath.Join(s.outbox, "b.json"), answers)
	if v := s.check(); len(v.problems) != 2 || v.overwritten != 1 {
		t.Errorf("a task's answer missing: %v, want it found", v.problems)
	}
}

// The large scenario's files at the default limits: the largest is
// 819 tasks of ten 15x15 test inputs within 4 MiB (docs/service.md), the tiny
// one fills 4 MiB with 1x1 inputs.
func TestLargeFiles(t *testing.T) {
	data, shape, err := largestFile(config.Default())
	if err != nil || len(data) > puzzles.DefaultMaxBytes ||
		!strings.HasPrefix(shape, "819 tasks x 10 test inputs of 15x15 grids (8190 rows") {
		t.Errorf("largestFile: %d bytes, %q, %v", len(data), shape, err)
	}
	f, err := puzzles.Parse(data, "large", puzzles.Limits{})
	if err != nil || len(f.Tasks) != 819 {
		t.Errorf("largestFile does not parse within the limits: %v", err)
	}
	tiny, n := fillTests("tiny-inputs.json", puzzles.DefaultMaxBytes)
	if len(tiny) > puzzles.DefaultMaxBytes || len(tiny) < puzzles.DefaultMaxBytes-16 || n < 260000 {
		t.Errorf("fillTests: %d bytes, %d inputs", len(tiny), n)
	}
	var perr *puzzles.Error
	if _, err := puzzles.Parse(tiny, "tiny", puzzles.Limits{}); !errors.As(err, &perr) ||
		perr.Code != puzzles.CodeTooManyTestInputs {
		t.Errorf("the tiny-inputs file: %v, want too_many_test_inputs", err)
	}
}
