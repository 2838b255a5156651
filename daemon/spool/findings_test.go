package spool

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
)

// block puts a regular file where dir was, so that creating in it fails
// (ENOTDIR: a fault root cannot bypass, as it does permissions), and
// returns what puts the folder back.
func block(t *testing.T, dir string) (restore func()) {
	t.Helper()
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, filepath.Dir(dir), filepath.Base(dir), "not a folder")
	return func() {
		t.Helper()
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dir+".away", dir); err != nil {
			t.Fatal(err)
		}
	}
}

// L1: a user's file in failed/ that looks like this job's own record (same
// file, same code, no input beside it) is left as it is: the record and the
// input take the next name where both are free.
func TestFailureNeverTakesAnExistingRecord(t *testing.T) {
	s := openTest(t)
	job := claim(t, s, "q.json", "not json")
	// Meanwhile a user's bad input named q.json.error.json fails (another
	// daemon, or both left in work/ by a kill): its bytes say what ours will.
	users := `{"file": "q.json", "code": "not_json", "message": "the user's"}`
	testenv.WriteFile(t, s.Failed(), "q.json.error.json", users)
	testenv.WriteFile(t, s.Failed(), "q.json.error.json.error.json", `{"file": "q.json.error.json", "code": "x"}`)
	name, err := s.Write(&Result{Job: job, Record: &ErrorFile{File: "q.json", Code: "not_json", Message: "ours"}})
	if err != nil || name != "q.1.json" {
		t.Fatalf("failed as %q, %v; want q.1.json", name, err)
	}
	if got := read(t, filepath.Join(s.Failed(), "q.json.error.json")); got != users {
		t.Errorf("the user's file was replaced: %s", got)
	}
	if got := read(t, filepath.Join(s.Failed(), "q.1.json.error.json")); !strings.Contains(got, `"ours"`) {
		t.Errorf("our record: %s", got)
	}
	wantNames(t, map[string][]string{
		s.Failed(): {"q.1.json", "q.1.json.error.json", "q.json.error.json", "q.json.error.json.error.json"},
		s.Work():   nil,
	})
}

// L2: an answer and its picture never replace a file put in the outbox
// after the claim; the job's files all take the next free name.
func TestAnswerNeverReplacesAnOutboxFile(t *testing.T) {
	s := openTest(t)
	job := claim(t, s, "x.json", "task")
	testenv.WriteFile(t, s.Outbox, "x.json", "the user's x.json")
	testenv.WriteFile(t, s.Outbox, "x.1.png", "the user's x.1.png")
	done, err := s.Write(&Result{Job: job, Answer: []byte("answer"), Picture: []byte("picture")})
	if err != nil || done != "x.2.json" {
		t.Fatalf("done as %q, %v; want x.2.json (x.json's answer and x.1.json's picture are taken)", done, err)
	}
	for name, want := range map[string]string{
		"x.json":   "the user's x.json",
		"x.1.png":  "the user's x.1.png",
		"x.2.json": "answer",
		"x.2.png":  "picture",
	} {
		if got := read(t, filepath.Join(s.Outbox, name)); got != want {
			t.Errorf("outbox/%s holds %q, want %q", name, got, want)
		}
	}
	wantNames(t, map[string][]string{s.Outbox: {"x.1.png", "x.2.json", "x.2.png", "x.json"}, s.Done(): {"x.2.json"}})
}

// L3: an outcome whose input an admin removed from work/ is dropped
// (ErrInputGone), whether its answer could not be written yet or was
// written and its input not moved; nothing is written again.
func TestInputGoneIsDropped(t *testing.T) {
	for _, tt := range []struct {
		name    string
		blocked func(s *Spool) string
		answers []string // left in the outbox
	}{
		{"answer not written", func(s *Spool) string { return s.Outbox }, nil},
		{"answer written, input not moved", func(s *Spool) string { return s.Done() }, []string{"x.json"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			job := claim(t, s, "x.json", "task")
			restore := block(t, tt.blocked(s))
			r := &Result{Job: job, Answer: []byte("answer")}
			if moved, err := s.Write(r); moved != "" || err == nil || errors.Is(err, ErrInputGone) {
				t.Fatalf("write with %s blocked: %q %v", tt.blocked(s), moved, err)
			}
			restore()
			if err := os.Remove(s.WorkPath(job)); err != nil {
				t.Fatal(err)
			}
			if moved, err := s.Write(r); moved != "" || !errors.Is(err, ErrInputGone) {
				t.Fatalf("write after the input left work/: %q %v; want ErrInputGone", moved, err)
			}
			wantNames(t, map[string][]string{s.Outbox: tt.answers, s.Done(): nil})
		})
	}
}

// L4: a retry after the move to done/ failed only moves the input: the
// answer, taken by a consumer meanwhile, is not written again. A done/ or
// failed/ folder moved away is made again.
func TestRetryNeverRewritesTheAnswer(t *testing.T) {
	s := openTest(t)
	job := claim(t, s, "x.json", "task")
	restore := block(t, s.Done())
	r := &Result{Job: job, Answer: []byte("answer")}
	if moved, err := s.Write(r); moved != "" || err == nil {
		t.Fatalf("write with done/ blocked: %q %v", moved, err)
	}
	if r.Answered() != "x.json" {
		t.Fatalf("answered as %q, want x.json", r.Answered())
	}
	if err := os.Remove(filepath.Join(s.Outbox, "x.json")); err != nil { // a consumer took it
		t.Fatal(err)
	}
	restore()
	if moved, err := s.Write(r); moved != "x.json" || err != nil {
		t.Fatalf("retry: %q %v", moved, err)
	}
	wantNames(t, map[string][]string{s.Outbox: nil, s.Done(): {"x.json"}, s.Work(): nil})

	for _, dir := range []string{s.Done(), s.Failed()} {
		if err := os.Rename(dir, dir+".moved"); err != nil {
			t.Fatal(err)
		}
	}
	answered, failed := claim(t, s, "y.json", "task"), claim(t, s, "z.json", "bad")
	if moved, err := s.Write(&Result{Job: answered, Answer: []byte("answer")}); moved != "y.json" || err != nil {
		t.Errorf("answer with done/ moved away: %q %v", moved, err)
	}
	moved, err := s.Write(&Result{Job: failed, Record: &ErrorFile{File: "z.json", Code: "x"}})
	if moved != "z.json" || err != nil {
		t.Errorf("failure with failed/ moved away: %q %v", moved, err)
	}
	wantNames(t, map[string][]string{s.Done(): {"y.json"}, s.Failed(): {"z.json", "z.json.error.json"}})
}

// A daemon killed between creating its answer (or record) and moving the
// input finds its own file at the restart by the mark, byte for byte, and
// moves the input beside it: nothing is answered twice. Another's file of
// the same name is not taken for its own.
func TestKilledWriteIsTakenUp(t *testing.T) {
	s := openTest(t)
	job := claim(t, s, "x.json", "task")
	if err := s.writeAnswer(&Result{Job: job, Answer: []byte("before the kill")}); err != nil {
		t.Fatal(err)
	}
	if moved, err := s.Write(&Result{Job: job, Answer: []byte("after the restart")}); moved != "x.json" || err != nil {
		t.Fatalf("answer after the restart: %q %v", moved, err)
	}
	wantNames(t, map[string][]string{s.Outbox: {"x.json"}, s.Done(): {"x.json"}, s.Work(): nil})
	if got := read(t, filepath.Join(s.Outbox, "x.json")); got != "before the kill" {
		t.Errorf("outbox/x.json holds %q", got)
	}

	// A mark whose answer is not the bytes marked: someone else's file.
	job = claim(t, s, "y.json", "task")
	if err := s.writeAnswer(&Result{Job: job, Answer: []byte("ours")}); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, s.Outbox, "y.json", "someone else's") // replaced by someone, not by hrmd
	if moved, err := s.Write(&Result{Job: job, Answer: []byte("again")}); moved != "y.1.json" || err != nil {
		t.Fatalf("answer beside someone else's: %q %v", moved, err)
	}

	job = claim(t, s, "q.json", "bad")
	e := &ErrorFile{File: "q.json", Code: "x"}
	if _, err := s.placeFailure(job, *e, func(string) error { return errors.New("killed") }, func(name, sum string) error {
		return s.putMark(mark{Job: job, Name: name, Answer: sum, Record: true})
	}); err == nil {
		t.Fatal("the move did not fail")
	}
	// The kill left the record: what placeFailure removed, a kill would not.
	testenv.WriteFile(t, s.Failed(), "q.json.error.json", `{"file":"q.json"}`)
	m, _ := s.readMark(job)
	m.Answer = sha256Hex([]byte(`{"file":"q.json"}`))
	if err := s.putMark(m); err != nil {
		t.Fatal(err)
	}
	if moved, err := s.Write(&Result{Job: job, Record: e}); moved != "q.json" || err != nil {
		t.Fatalf("failure after the restart: %q %v", moved, err)
	}
	wantNames(t, map[string][]string{s.Failed(): {"q.json", "q.json.error.json"}, s.Work(): nil})
}

// L5: with spool/work deleted under a running daemon, a second daemon of
// the same instance cannot start beside it: the first takes its lock again
// at its next claim. One that started first (before that claim) holds the
// lock, and the first then claims and writes nothing.
func TestLockTakenAgainAfterWorkDeleted(t *testing.T) {
	l := testLayout(t, "a")
	first := openLayout(t, l)
	if err := os.RemoveAll(l.WorkRoot()); err != nil {
		t.Fatal(err)
	}
	claim(t, first, "x.json", "task")
	if second, err := Open(l); err == nil || !strings.Contains(err.Error(), `runs as instance "a"`) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("a second daemon a started beside the first: %v", err)
	}

	if err := os.RemoveAll(l.WorkRoot()); err != nil {
		t.Fatal(err)
	}
	second := openLayout(t, l)
	testenv.WriteFile(t, l.Inbox, "y.json", "task")
	if _, err := first.Claim("y.json"); !errors.Is(err, ErrLockLost) {
		t.Errorf("claim by the daemon that lost its lock: %v", err)
	}
	if _, err := first.Pending(); !errors.Is(err, ErrLockLost) {
		t.Errorf("pending of the daemon that lost its lock: %v", err)
	}
	if _, err := first.Write(&Result{Job: "x.json", Answer: []byte("a")}); !errors.Is(err, ErrLockLost) {
		t.Errorf("write by the daemon that lost its lock: %v", err)
	}
	if c, err := second.Claim("y.json"); err != nil || c.Job != "y.json" {
		t.Errorf("claim by the daemon holding the lock: %+v %v", c, err)
	}
}

// L6: work/<instance> deleted under the daemon is made again at the next
// claim; the file is not taken for gone.
func TestClaimMakesWorkAgain(t *testing.T) {
	s := openTest(t)
	if err := os.RemoveAll(s.Work()); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, s.Inbox, "x.json", "task")
	c, err := s.Claim("x.json")
	if err != nil || c.Job != "x.json" {
		t.Fatalf("claim with work/a deleted: %+v %v", c, err)
	}
	wantNames(t, map[string][]string{s.Inbox: nil, s.Work(): {"x.json"}})
}

// L7 (the spool's part): a claim that fails for another reason than the
// file being gone says so, and leaves the file in the inbox.
func TestClaimErrorIsNotGone(t *testing.T) {
	s := openTest(t)
	testenv.WriteFile(t, s.Inbox, "x.json", "task")
	restore := block(t, s.Work())
	if c, err := s.Claim("x.json"); err == nil || errors.Is(err, ErrGone) || c.Job != "" {
		t.Errorf("claim into a work/ that is a file: %+v %v", c, err)
	}
	restore()
	wantNames(t, map[string][]string{s.Inbox: {"x.json"}})
}

// L9: a free name costs a few dozen looks however many names are taken:
// nextFree gallops and halves, and returns a free one whatever the taken
// names' pattern.
func TestNextFreeLooksLittle(t *testing.T) {
	for _, tt := range []struct {
		name  string
		taken func(n int) bool
	}{
		{"none", func(int) bool { return false }},
		{"the first 100,000", func(n int) bool { return n < 100_000 }},
		{"all but 70,001", func(n int) bool { return n < 200_000 && n != 70_001 }},
		{"every other", func(n int) bool { return n%2 == 0 }},
		{"holes early", func(n int) bool { return n != 3 && n < 50_000 }},
	} {
		looks := 0
		n := nextFree(0, func(n int) bool { looks++; return tt.taken(n) })
		if tt.taken(n) {
			t.Errorf("%s: %d is taken", tt.name, n)
		}
		if looks > 40 {
			t.Errorf("%s: %d looks, want at most 40", tt.name, looks)
		}
	}
	if n := nextFree(7, func(n int) bool { return n < 9 }); n != 9 {
		t.Errorf("from 7 with 0-8 taken: %d, want 9", n)
	}
}

// L9 in the spool: with many earlier files of the name in done/, a claim
// looks at a few dozen names, not all of them.
func TestClaimAfterManyEarlierNames(t *testing.T) {
	s := openTest(t)
	earlier(t, s, "task.json", 3000)
	job := claim(t, s, "task.json", "task")
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(job, "task."), ".json"))
	if err != nil || n < 3000 {
		t.Errorf("claimed as %s, want task.N.json with N >= 3000", job)
	}
}

// earlier puts n earlier inputs of name in done/: name, then name.1 ... name.n-1.
func earlier(t testing.TB, s *Spool, name string, n int) {
	t.Helper()
	for i := range n {
		f, err := os.Create(filepath.Join(s.Done(), jobName(name, i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// L10: a short name that ends in .name-too-long is a name like any other;
// a name too long to answer goes from the inbox to failed/ at once, with
// its record, and never enters work/.
func TestNameTooLong(t *testing.T) {
	s := openTest(t)
	if job := claim(t, s, "abc.name-too-long", "task"); job != "abc.name-too-long" {
		t.Errorf("claimed as %q", job)
	}
	long := strings.Repeat("x", MaxNameBytes) + ".json"
	testenv.WriteFile(t, s.Inbox, long, "task")
	c, err := s.Claim(long)
	if err != nil || c.Job != "" || c.Failed == "" ||
		c.Record == nil || c.Record.Code != CodeNameTooLong || c.Record.File != long {
		t.Fatalf("claim of a %d-byte name: %+v %v", len(long), c, err)
	}
	wantNames(t, map[string][]string{
		s.Inbox:    nil,
		s.Work():   {"abc.name-too-long"},
		s.Failed(): {c.Failed, ErrorName(c.Failed)},
	})
	if !slices.Contains(testenv.Names(s.Failed()), c.Failed) || len(ErrorName(c.Failed)) > 255 {
		t.Errorf("failed as %q", c.Failed)
	}
}

// BenchmarkClaim is a claim of a name dropped 100,000 times before, its
// earlier files all in done/ (the L9: 6.7 s a claim before).
func BenchmarkClaim(b *testing.B) {
	s := openTest(b)
	earlier(b, s, "task.json", 100_000)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		testenv.WriteFile(b, s.Inbox, "task.json", strconv.Itoa(i))
		b.StartTimer()
		if c, err := s.Claim("task.json"); err != nil || c.Job == "" {
			b.Fatal(c, err)
		}
	}
}
