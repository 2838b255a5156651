package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/puzzles"
)

// verdict is what the checker found against the spool's invariants: every
// file dropped is answered or failed exactly once, none is lost, none is
// overwritten, none is left in the inbox or work/.
type verdict struct {
	files       int // entries dropped
	lost        int // dropped, and nowhere now
	twice       int // in more places than dropped, or an answer without its input
	overwritten int // a file someone put down changed or gone, an answer not its input's
	stuck       int // left in the inbox or work/ when the scenario wanted them out
	outcomes    map[string]int
	problems    []string
}

func (v *verdict) problem(format string, args ...any) {
	// A few hundred lines of the same fault say no more than twenty.
	if len(v.problems) < 20 {
		v.problems = append(v.problems, fmt.Sprintf(format, args...))
	} else if len(v.problems) == 20 {
		v.problems = append(v.problems, "... (more problems not listed)")
	}
}

// checker looks through a spool once, when the daemons are stopped (or
// idle): where each dropped entry is, and whether each answer is its own.
type checker struct {
	s     *spool
	m     *manifest
	found map[string]map[string]int // entryID -> place (done, failed, inbox, work) -> count
	v     verdict
}

// check holds the spool to the invariants: every dropped entry is in
// exactly one of done/ or failed/ (or left in the inbox where the scenario
// says so), every input in done/ has exactly one answer, which is its own,
// every input in failed/ its error file, nothing is left in the inbox or
// work/, and no file anyone put down was replaced.
func (s *spool) check() verdict {
	c := &checker{s: s, m: s.m, found: map[string]map[string]int{}, v: verdict{outcomes: map[string]int{}}}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	done := c.scanDone()
	c.scanFailed()
	c.scanOutbox(done)
	c.scanLeft()
	c.tally()
	c.checkPlaced()
	return c.v
}

func (c *checker) saw(id, place string) {
	if c.found[id] == nil {
		c.found[id] = map[string]int{}
	}
	c.found[id][place]++
}

// names lists a folder's entries; hidden ones (the daemon's temporary
// files, the instance lock) only when hidden is set.
func (c *checker) names(dir string, hidden bool) []string {
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		c.v.problem("cannot list %s: %v", dir, err)
	}
	var out []string
	for _, e := range entries {
		if hidden || !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

func (c *checker) id(path string) string {
	id, err := entryID(path)
	if err != nil {
		c.v.problem("%v", err)
	}
	return id
}

// scanDone records the inputs in done/ and returns their names.
func (c *checker) scanDone() []string {
	var done []string
	for _, name := range c.names(c.s.done, false) {
		path := filepath.Join(c.s.done, name)
		if _, ok := c.m.user[path]; ok {
			continue
		}
		id := c.id(path)
		if c.m.entries[id] == nil {
			c.v.problem("done/%q is nothing that was dropped (a partial read?)", name)
			c.v.twice++
			continue
		}
		c.saw(id, "done")
		c.v.outcomes["answered"]++
		done = append(done, name)
	}
	return done
}

// scanFailed records the inputs in failed/, each with its error file.
func (c *checker) scanFailed() {
	names := c.names(c.s.failed, false)
	for _, name := range names {
		path := filepath.Join(c.s.failed, name)
		if _, ok := c.m.user[path]; ok {
			continue
		}
		id := c.id(path)
		x := c.m.entries[id]
		if x == nil {
			if input, ok := strings.CutSuffix(name, ".error.json"); !ok || !slices.Contains(names, input) {
				c.v.problem("failed/%q is neither a dropped file nor the error file of one", name)
			}
			continue
		}
		c.saw(id, "failed")
		var e daemon.ErrorFile
		data, err := os.ReadFile(path + ".error.json")
		if err == nil {
			err = json.Unmarshal(data, &e)
		}
		switch {
		case err != nil:
			c.v.problem("failed/%q has no error file: %v", name, err)
		case !slices.ContainsFunc(x.names, func(n string) bool { return recorded(n, e.File, e.FileBytes) }):
			c.v.problem(
				"failed/%q.error.json names %q (file_bytes %q), which is not what was dropped as %q",
				name,
				e.File,
				e.FileBytes,
				x.names,
			)
		case x.want.code != "" && e.Code != x.want.code:
			c.v.problem("%q failed with %s (%s), want %s", e.File, e.Code, e.Message, x.want.code)
		case !strings.Contains(e.Message, x.want.says):
			c.v.problem("%q failed with %s (%s), want a message that says %q", e.File, e.Code, e.Message, x.want.says)
		}
		c.v.outcomes[e.Code]++
	}
}

// recorded reports whether a name as an answer or error file records it
// (docs/answers.md): a UTF-8 name as it is; any other with each stray
// byte shown as U+FFFD, and exactly in base64 beside it.
func recorded(name, shown string, exact []byte) bool {
	if utf8.ValidString(name) {
		return shown == name && exact == nil
	}
	// Converting to runes is what encoding/json does to a stray byte.
	return shown == string([]rune(name)) && string(exact) == name
}

// scanOutbox checks that each input in done/ has its answer, and that
// every answer is one of theirs.
func (c *checker) scanOutbox(done []string) {
	answers := map[string]string{} // answer name -> its input in done/
	for _, d := range done {
		answers[daemon.AnswerName(d)] = d
	}
	for _, name := range c.names(c.s.outbox, true) {
		path := filepath.Join(c.s.outbox, name)
		if _, ok := c.m.user[path]; ok {
			continue
		}
		input, ok := answers[name]
		switch {
		case strings.HasPrefix(name, "."):
			c.v.problem("outbox/%q: a temporary file left behind", name)
		case !ok:
			c.v.problem("outbox/%q answers nothing in done/ (answered twice, or its input went elsewhere)", name)
			c.v.twice++
		default:
			c.checkAnswer(path, input)
			delete(answers, name)
		}
	}
	for name, input := range answers {
		c.v.problem("done/%q has no answer outbox/%q", input, name)
		c.v.lost++
	}
}

// checkAnswer checks that an answer is its input's: for each of its tasks
// an answer file named after it (a single task after the input's name),
// with one answer per test input.
func (c *checker) checkAnswer(path, input string) {
	data, err := os.ReadFile(path)
	if err != nil {
		c.v.problem("the answer %s: %v", path, err)
		c.v.overwritten++
		return
	}
	stem := strings.TrimSuffix(daemon.AnswerName(input), ".json")
	in, err := os.ReadFile(filepath.Join(c.s.done, input))
	var f *puzzles.File
	if err == nil {
		f, err = puzzles.Parse(in, stem, c.s.cfg.Limits())
	}
	if err != nil {
		c.v.problem("done/%q was answered but is no task: %v", input, err)
		return
	}
	if wrong := mismatch(data, f, stem); wrong != "" {
		c.v.problem("outbox/%q is not done/%q's answer: %s", filepath.Base(path), input, wrong)
		c.v.overwritten++
	}
}

// mismatch says how data is not the answer to f, dropped as stem.json ("" when it is).
func mismatch(data []byte, f *puzzles.File, stem string) string {
	if !f.Bundle {
		var a puzzles.AnswerFile
		if err := json.Unmarshal(data, &a); err != nil {
			return err.Error()
		}
		if !recorded(stem, a.Task, a.TaskBytes) || len(a.Answers) != len(f.Tasks[0].Test) {
			return fmt.Sprintf(
				"task %q (task_bytes %q) with %d answers, want %q with %d",
				a.Task,
				a.TaskBytes,
				len(a.Answers),
				stem,
				len(f.Tasks[0].Test),
			)
		}
		return ""
	}
	var bundle map[string]puzzles.AnswerFile
	if err := json.Unmarshal(data, &bundle); err != nil {
		return err.Error()
	}
	if len(bundle) != len(f.Tasks) {
		return fmt.Sprintf("%d tasks, want %d", len(bundle), len(f.Tasks))
	}
	for _, t := range f.Tasks {
		if a, ok := bundle[t.ID]; !ok || a.Task != t.ID || len(a.Answers) != len(t.Test) {
			return fmt.Sprintf("task %q: %q with %d answers, want %d", t.ID, a.Task, len(a.Answers), len(t.Test))
		}
	}
	return ""
}

// scanLeft records what is still in the inbox and in each work/ folder.
func (c *checker) scanLeft() {
	for _, name := range c.names(c.s.inbox, true) {
		path := filepath.Join(c.s.inbox, name)
		if _, ok := c.m.user[path]; ok {
			continue
		}
		id := c.id(path)
		if x := c.m.entries[id]; x != nil && x.want.where == "inbox" {
			c.saw(id, "inbox")
			continue
		}
		c.saw(id, "stuck")
		c.v.stuck++
		c.v.problem("inbox/%q is still in the inbox", name)
	}
	for _, inst := range c.names(c.s.work, false) {
		for _, name := range c.names(filepath.Join(c.s.work, inst), false) {
			c.saw(c.id(filepath.Join(c.s.work, inst, name)), "stuck")
			c.v.stuck++
			c.v.problem("work/%s/%q is still in work/", inst, name)
		}
	}
}

// tally compares where each entry is with how often it was dropped.
func (c *checker) tally() {
	for _, id := range c.m.order {
		x := c.m.entries[id]
		n, places := len(x.names), c.found[id]
		got := 0
		for _, k := range places {
			got += k
		}
		c.v.files += n
		if got < n {
			c.v.lost += n - got
			c.v.problem(
				"%q: dropped %d times, found %d times (done %d, failed %d, left %d)",
				x.names[0],
				n,
				got,
				places["done"],
				places["failed"],
				places["stuck"],
			)
		}
		if got > n {
			c.v.twice += got - n
			c.v.problem(
				"%q: dropped %d times, found %d times (done %d, failed %d)",
				x.names[0],
				n,
				got,
				places["done"],
				places["failed"],
			)
		}
		if wrong := c.misplaced(x.want, places); wrong != "" {
			c.v.problem("%q: %s", x.names[0], wrong)
		}
	}
}

// misplaced says what is wrong with where an entry ended, "" if nothing.
func (c *checker) misplaced(w want, places map[string]int) string {
	switch {
	case w.where == "done" && places["failed"] > 0:
		return "failed, want answered"
	case w.where == "failed" && places["done"] > 0:
		return "answered, want failed"
	case w.where == "inbox" && places["done"]+places["failed"] > 0:
		return "taken from the inbox, want left alone"
	}
	return ""
}

// checkPlaced checks that every file a user put down is still there, as it was.
func (c *checker) checkPlaced() {
	for path, id := range c.m.user {
		now, err := entryID(path)
		ino, ierr := inode(path)
		switch {
		case err != nil || now != id:
			c.v.overwritten++
			c.v.problem("%s, put there by the user, was replaced or removed (%v)", path, err)
		case ierr != nil || ino != c.m.userIno[path]:
			c.v.overwritten++
			c.v.problem(
				"%s, put there by the user, was replaced by a file of the same bytes (inode %d, was %d)",
				path,
				ino,
				c.m.userIno[path],
			)
		}
	}
}

// add counts another spool's verdict in: a scenario with several spools.
func (v *verdict) add(o verdict) {
	v.files += o.files
	v.lost += o.lost
	v.twice += o.twice
	v.overwritten += o.overwritten
	v.stuck += o.stuck
	if v.outcomes == nil {
		v.outcomes = map[string]int{}
	}
	for code, n := range o.outcomes {
		v.outcomes[code] += n
	}
	for _, p := range o.problems {
		v.problem("%s", p)
	}
}
