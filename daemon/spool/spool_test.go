package spool

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
)

func testLayout(t testing.TB, instance string) Layout {
	t.Helper()
	dir := t.TempDir()
	return Layout{Inbox: filepath.Join(dir, "in"), Outbox: filepath.Join(dir, "out"), Root: filepath.Join(dir, "spool"),
		Instance: instance}
}

func openTest(t testing.TB) *Spool {
	t.Helper()
	return openLayout(t, testLayout(t, "a"))
}

func openLayout(t testing.TB, l Layout) *Spool {
	t.Helper()
	s, err := Open(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// claim drops name with data in the inbox and claims it.
func claim(t testing.TB, s *Spool, name, data string) string {
	t.Helper()
	testenv.WriteFile(t, s.Inbox, name, data)
	c, err := s.Claim(name)
	if err != nil || c.Job == "" {
		t.Fatalf("claim %s: %+v %v", name, c, err)
	}
	return c.Job
}

func answerJob(t *testing.T, s *Spool, job, answer string) string {
	t.Helper()
	done, err := s.Write(&Result{Job: job, Answer: []byte(answer)})
	if err != nil || done == "" {
		t.Fatalf("answer %s: %q %v", job, done, err)
	}
	return done
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// wantNames checks each folder's names.
func wantNames(t *testing.T, want map[string][]string) {
	t.Helper()
	for dir, names := range want {
		if got := testenv.Names(dir); !slices.Equal(got, names) {
			t.Errorf("%s: %v, want %v", dir, got, names)
		}
	}
}

// The same name dropped again while earlier files of that name are still
// anywhere in the spool gets a suffix; nothing is overwritten.
func TestClaimNeverOverwrites(t *testing.T) {
	s := openTest(t)
	if job := claim(t, s, "t.json", "1"); job != "t.json" {
		t.Fatalf("first claim: %q", job)
	}
	if job := claim(t, s, "t.json", "2"); job != "t.1.json" { // while the first is in work/
		t.Fatalf("second claim: %q", job)
	}
	if done := answerJob(t, s, "t.json", "answer 1"); done != "t.json" {
		t.Fatalf("answer: %q", done)
	}
	if job := claim(t, s, "t.json", "3"); job != "t.2.json" { // the first is in done/ with its answer
		t.Fatalf("third claim: %q", job)
	}
	if _, err := s.Write(&Result{Job: "t.1.json", Record: &ErrorFile{File: "t.json", Code: "x"}}); err != nil {
		t.Fatal(err)
	}
	answerJob(t, s, "t.2.json", "answer 3")
	wantNames(t, map[string][]string{
		s.Inbox: nil, s.Work(): nil,
		s.Done():   {"t.2.json", "t.json"},
		s.Failed(): {"t.1.json", "t.1.json.error.json"},
		s.Outbox:   {"t.2.json", "t.json"},
	})
	for path, want := range map[string]string{
		filepath.Join(s.Done(), "t.json"):     "1",
		filepath.Join(s.Failed(), "t.1.json"): "2",
		filepath.Join(s.Done(), "t.2.json"):   "3",
	} {
		if got := read(t, path); got != want {
			t.Errorf("%s holds %q, want %q", path, got, want)
		}
	}
	if _, err := s.Claim("gone.json"); !errors.Is(err, ErrGone) {
		t.Errorf("claim of a missing file: %v", err)
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct {
		name string
		n    int
		want string
	}{{"a.json", 0, "a.json"}, {"a.json", 2, "a.2.json"}, {"notes.txt", 1, "notes.txt.1"}} {
		if got := jobName(tt.name, tt.n); got != tt.want {
			t.Errorf("jobName(%q, %d) = %q, want %q", tt.name, tt.n, got, tt.want)
		}
	}
	if AnswerName("a.2.json") != "a.2.json" || AnswerName("notes.txt") != "notes.txt.json" ||
		PictureName("a.json") != "a.png" {
		t.Error("AnswerName, PictureName")
	}
	for name, want := range map[string]bool{
		"task.json": false, ".task.json": true, "task.json.tmp": true, "task.json.part": true,
		"task.json~": true, "task": false,
	} {
		if Ignored(name) != want {
			t.Errorf("Ignored(%q) = %v", name, !want)
		}
	}
}

func TestLayout(t *testing.T) {
	l := Layout{Inbox: "/i", Outbox: "/o", Root: "/s", Instance: "a"}
	got := []string{l.WorkRoot(), l.Work(), l.Done(), l.Failed(), l.LockPath()}
	if want := []string{"/s/work", "/s/work/a", "/s/done", "/s/failed", "/s/work/.a.lock"}; !slices.Equal(got, want) {
		t.Errorf("paths %v, want %v", got, want)
	}
	if f := l.Folders(); len(f) != 5 || f[2] != (Folder{"spool", "/s/work/a"}) {
		t.Errorf("folders %v", f)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	testenv.WriteFile(t, dir, "file", "")
	l := Layout{Inbox: filepath.Join(blocker, "in"), Outbox: filepath.Join(dir, "out"), Root: filepath.Join(dir, "spool"),
		Instance: "a"}
	if _, err := Open(l); err == nil || !strings.Contains(err.Error(), "inbox: cannot create "+l.Inbox) {
		t.Errorf("inbox under a file: %v", err)
	}
}

func TestRemoveTemporaries(t *testing.T) {
	s := openTest(t)
	testenv.WriteFile(t, s.Outbox, ".t.json.0123456789ab.tmp", "half")
	testenv.WriteFile(t, s.Failed(), ".t.json.error.json.a1b2c3d4e5f6.tmp", "half")
	for _, name := range []string{".hidden.tmp", "answer.json", ".x.json.nothex12char.tmp"} {
		testenv.WriteFile(t, s.Outbox, name, "mine")
	}
	kept := claim(t, s, "kept.json", "task")
	if err := s.putMark(mark{Job: kept, Name: kept}); err != nil {
		t.Fatal(err)
	}
	gone := claim(t, s, "gone.json", "task")
	if err := s.putMark(mark{Job: gone, Name: gone}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.WorkPath(gone)); err != nil { // moved, then killed before the mark went
		t.Fatal(err)
	}
	if n := s.RemoveTemporaries(); n != 3 {
		t.Errorf("removed %d, want 3", n)
	}
	wantNames(t, map[string][]string{s.Outbox: {".hidden.tmp", ".x.json.nothex12char.tmp", "answer.json"}, s.Failed(): nil,
		s.Work(): {filepath.Base(s.markPath(kept)), kept}})
}

// Names answered by the same outbox file, and names in another daemon's
// work/, count as taken.
func TestClaimAvoidsSharedAnswerNames(t *testing.T) {
	s := openTest(t)
	a, b := claim(t, s, "foo", "1"), claim(t, s, "foo.json", "2")
	if AnswerName(a) == AnswerName(b) {
		t.Errorf("%s and %s would both be answered as %s", a, b, AnswerName(a))
	}
	testenv.WriteFile(t, filepath.Join(s.WorkRoot(), "b"), "x.json", "daemon b's")
	if job := claim(t, s, "x.json", "ours"); job != "x.1.json" {
		t.Errorf("claim beside another daemon's x.json: %q", job)
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
	for name, ok := range map[string]bool{
		"jetson-1": true, "orin_2": true,
		"": false, ".": false, "..": false, ".hidden": false, "a/b": false,
	} {
		if err := CheckInstance(name); (err == nil) != ok {
			t.Errorf("CheckInstance(%q) = %v", name, err)
		}
	}
}

// An adopted file takes a name no other file has, the outbox's answers
// included: an orphan's x.json beside an earlier answer outbox/x.json
// becomes x.1.json, so that its answer cannot replace that one.
func TestAdoptAvoidsTakenNames(t *testing.T) {
	s := openTest(t)
	old := filepath.Join(s.WorkRoot(), "old-host")
	testenv.WriteFile(t, old, "x.json", "orphan")
	testenv.WriteFile(t, old, "y.json", "orphan")
	testenv.WriteFile(t, s.Outbox, "x.json", "an earlier answer")
	orphans := s.Orphans()
	if len(orphans) != 1 || orphans[0].Dir != old {
		t.Fatalf("orphans %+v, want %s", orphans, old)
	}
	adopted, err := s.Adopt(orphans[0])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(adopted)
	if !slices.Equal(adopted, []string{"x.1.json", "y.json"}) {
		t.Errorf("adopted as %v, want [x.1.json y.json]", adopted)
	}
}

// A file adopted from a daemon killed between its answer and the move to
// done/ is retired beside that answer, not answered again: its mark
// follows it.
func TestAdoptedFileKeepsItsAnswer(t *testing.T) {
	l := testLayout(t, "old-host")
	old := openLayout(t, l)
	job := claim(t, old, "x.json", "task")
	if err := old.writeAnswer(&Result{Job: job, Answer: []byte("before the kill")}); err != nil {
		t.Fatal(err)
	}
	old.Close()

	l.Instance = "a"
	s := openLayout(t, l)
	orphans := s.Orphans()
	if len(orphans) != 1 {
		t.Fatalf("orphans %+v, want old-host's", orphans)
	}
	adopted, err := s.Adopt(orphans[0])
	if err != nil || len(adopted) != 1 {
		t.Fatalf("adopted %v: %v", adopted, err)
	}
	moved, err := s.Write(&Result{Job: adopted[0], Answer: []byte("after the adoption")})
	if moved != "x.json" || err != nil {
		t.Fatalf("adopted file retired as %q (%v), want x.json beside its answer", moved, err)
	}
	wantNames(t, map[string][]string{s.Outbox: {"x.json"}, s.Done(): {"x.json"}, s.Work(): nil, old.Work(): nil})
	if got := read(t, filepath.Join(s.Outbox, "x.json")); got != "before the kill" {
		t.Errorf("outbox/x.json holds %q", got)
	}
}
