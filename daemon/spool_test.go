package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
)

func openTestSpool(t *testing.T) *spool {
	t.Helper()
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Inbox, cfg.Outbox, cfg.Spool = filepath.Join(dir, "in"), filepath.Join(dir, "out"), filepath.Join(dir, "spool")
	s, err := openSpool(cfg, "a")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The same name dropped again while earlier files of that name are still
// anywhere in the spool gets a suffix; nothing is overwritten.
func TestSpoolClaimNeverOverwrites(t *testing.T) {
	s := openTestSpool(t)
	testenv.WriteFile(t, s.inbox, "t.json", "1")
	job, err := s.claim("t.json")
	if err != nil || job != "t.json" {
		t.Fatalf("first claim: %q %v", job, err)
	}
	testenv.WriteFile(t, s.inbox, "t.json", "2") // while the first is in work/
	if job, err = s.claim("t.json"); err != nil || job != "t.1.json" {
		t.Fatalf("second claim: %q %v", job, err)
	}
	if done, err := s.writeAnswer("t.json", []byte("answer 1"), nil); err != nil || done != "t.json" {
		t.Fatalf("answer: %q %v", done, err)
	}
	testenv.WriteFile(t, s.inbox, "t.json", "3") // the first is in done/ with its answer
	if job, err = s.claim("t.json"); err != nil || job != "t.2.json" {
		t.Fatalf("third claim: %q %v", job, err)
	}
	if _, err := s.writeFailure("t.1.json", ErrorFile{File: "t.json", Code: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.writeAnswer("t.2.json", []byte("answer 3"), nil); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string][]string{
		s.inbox: nil, s.work: nil,
		s.done:   {"t.2.json", "t.json"},
		s.failed: {"t.1.json", "t.1.json.error.json"},
		s.outbox: {"t.2.json", "t.json"},
	} {
		if got := testenv.Names(dir); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", dir, got, want)
		}
	}
	for name, want := range map[string]string{"t.json": "1", "t.1.json": "2", "t.2.json": "3"} {
		dir := s.done
		if name == "t.1.json" {
			dir = s.failed
		}
		if data, _ := os.ReadFile(filepath.Join(dir, name)); string(data) != want {
			t.Errorf("%s holds %q, want %q", name, data, want)
		}
	}
	if _, err := s.claim("gone.json"); !errors.Is(err, errGone) {
		t.Errorf("claim of a missing file: %v", err)
	}
}

func TestSpoolNames(t *testing.T) {
	for _, tt := range []struct {
		name string
		n    int
		want string
	}{{"a.json", 0, "a.json"}, {"a.json", 2, "a.2.json"}, {"notes.txt", 1, "notes.txt.1"}} {
		if got := jobName(tt.name, tt.n); got != tt.want {
			t.Errorf("jobName(%q, %d) = %q, want %q", tt.name, tt.n, got, tt.want)
		}
	}
	if AnswerName("a.2.json") != "a.2.json" || AnswerName("notes.txt") != "notes.txt.json" {
		t.Error("AnswerName")
	}
	for name, want := range map[string]bool{
		"task.json": false, ".task.json": true, "task.json.tmp": true, "task.json.part": true,
		"task.json~": true, "task": false,
	} {
		if ignored(name) != want {
			t.Errorf("ignored(%q) = %v", name, !want)
		}
	}
}

func TestOpenSpoolErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	testenv.WriteFile(t, dir, "file", "")
	cfg := DefaultConfig()
	cfg.Inbox, cfg.Outbox, cfg.Spool = filepath.Join(blocker, "in"), filepath.Join(dir, "out"), filepath.Join(dir, "spool")
	if _, err := openSpool(cfg, "a"); err == nil || !strings.Contains(err.Error(), "inbox: cannot create "+cfg.Inbox) {
		t.Errorf("inbox under a file: %v", err)
	}
}

func TestSpoolRemoveTemporaries(t *testing.T) {
	s := openTestSpool(t)
	for _, name := range []string{".t.json.0123456789ab.tmp", ".t.json.error.json.a1b2c3d4e5f6.tmp"} {
		dir := s.outbox
		if strings.Contains(name, "error") {
			dir = s.failed
		}
		testenv.WriteFile(t, dir, name, "half")
	}
	keep := []string{".hidden.tmp", "answer.json", ".x.json.nothex12char.tmp"}
	for _, name := range keep {
		testenv.WriteFile(t, s.outbox, name, "mine")
	}
	if n := s.removeTemporaries(); n != 2 {
		t.Errorf("removed %d, want 2", n)
	}
	if got := testenv.Names(s.outbox); !slices.Equal(got, []string{".hidden.tmp", ".x.json.nothex12char.tmp", "answer.json"}) {
		t.Errorf("outbox now %v", got)
	}
	if got := testenv.Names(s.failed); len(got) != 0 {
		t.Errorf("failed/ now %v", got)
	}
}

// Names answered by the same outbox file, and names in another daemon's
// work/, count as taken.
func TestSpoolClaimAvoidsSharedAnswerNames(t *testing.T) {
	s := openTestSpool(t)
	testenv.WriteFile(t, s.inbox, "foo", "1")
	testenv.WriteFile(t, s.inbox, "foo.json", "2")
	a, err1 := s.claim("foo")
	b, err2 := s.claim("foo.json")
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if AnswerName(a) == AnswerName(b) {
		t.Errorf("%s and %s would both be answered as %s", a, b, AnswerName(a))
	}
	other := filepath.Join(filepath.Dir(s.work), "b")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, other, "x.json", "daemon b's")
	testenv.WriteFile(t, s.inbox, "x.json", "ours")
	if job, err := s.claim("x.json"); err != nil || job != "x.1.json" {
		t.Errorf("claim beside another daemon's x.json: %q %v", job, err)
	}
}

// CheckFolder finds where a folder is or would be created, and says when
// that is no use.
func TestCheckFolder(t *testing.T) {
	dir := t.TempDir()
	testenv.WriteFile(t, dir, "file", "")
	for _, tt := range []struct {
		dir, at, err string
	}{
		{dir, dir, ""},
		{filepath.Join(dir, "a", "b"), dir, ""},
		{filepath.Join(dir, "file"), "", "is not a folder"},
		{filepath.Join(dir, "file", "x"), "", "not a directory"},
	} {
		at, err := CheckFolder(tt.dir)
		if at != tt.at || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("CheckFolder(%s) = %q, %v; want %q and an error saying %q", tt.dir, at, err, tt.at, tt.err)
		}
	}
}

func TestCheckInstance(t *testing.T) {
	for name, ok := range map[string]bool{"jetson-1": true, "orin_2": true, "": false, ".": false, "..": false, ".hidden": false, "a/b": false} {
		if err := CheckInstance(name); (err == nil) != ok {
			t.Errorf("CheckInstance(%q) = %v", name, err)
		}
	}
}

// An adopted file takes a name no other file has, the outbox's answers
// included: an orphan's x.json beside an earlier answer outbox/x.json
// becomes x.1.json, so that its answer cannot replace that one.
func TestSpoolAdoptAvoidsTakenNames(t *testing.T) {
	s := openTestSpool(t)
	old := filepath.Join(s.workRoot, "old-host")
	testenv.WriteFile(t, old, "x.json", "orphan")
	testenv.WriteFile(t, old, "y.json", "orphan")
	testenv.WriteFile(t, s.outbox, "x.json", "an earlier answer")
	orphans := s.orphans()
	if len(orphans) != 1 || orphans[0].dir != old {
		t.Fatalf("orphans %+v, want %s", orphans, old)
	}
	adopted, err := s.adopt(orphans[0])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(adopted)
	if !slices.Equal(adopted, []string{"x.1.json", "y.json"}) {
		t.Errorf("adopted as %v, want [x.1.json y.json]", adopted)
	}
}
