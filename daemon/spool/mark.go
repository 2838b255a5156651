package spool

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// A mark is what a job is about to create, kept in work/<instance> beside
// its input (hidden: .written-<hash of the job's name>) from just before its
// answer, picture or error record is created until its input is retired.
// It holds the name and the sha256 of each file, so that a daemon killed
// between creating the answer and moving the input finds its own answer
// after the restart, byte for byte, and retires the input beside it
// instead of answering it a second time. A file at that name with other
// bytes is someone else's and is left alone. A mark is not fsynced: it
// outlives a killed process, and only a power cut in that moment costs a
// second answer.
type mark struct {
	Job     string `json:"job"`
	Input   uint64 `json:"input"`             // the input's inode: a later file under the job's name is not the one marked
	Name    string `json:"name"`              // the name the job's files take
	Answer  string `json:"answer,omitempty"`  // sha256 of the answer, or of the error record
	Picture string `json:"picture,omitempty"` // sha256 of the picture
	Record  bool   `json:"record,omitempty"`  // Answer is an error record's, in failed/
}

const markPrefix = ".written-"

func (s *Spool) markPath(job string) string { return markPathIn(s.Work(), job) }

// markPathIn is the mark of job in the work/ folder dir.
func markPathIn(dir, job string) string {
	sum := sha256.Sum256([]byte(job))
	return filepath.Join(dir, markPrefix+hex.EncodeToString(sum[:16]))
}

// carryMark moves the mark of job in an orphaned work/ folder (dir) to
// the name the file was adopted under here: a file whose answer the killed
// daemon had created is then retired beside that answer, not answered a
// second time. The rename kept the input's inode, which the mark holds.
func (s *Spool) carryMark(dir, job, name string) {
	var m mark
	data, err := os.ReadFile(markPathIn(dir, job))
	if err != nil || json.Unmarshal(data, &m) != nil || m.Job != job {
		return
	}
	m.Job = name
	if data, err = json.Marshal(m); err == nil && os.WriteFile(s.markPath(name), data, 0o644) == nil {
		os.Remove(markPathIn(dir, job))
	}
}

// staleMark reports whether name in work/<instance> is a mark whose input
// is not there (or not the file marked).
func (s *Spool) staleMark(name string) bool {
	if !strings.HasPrefix(name, markPrefix) {
		return false
	}
	var m mark
	data, err := os.ReadFile(filepath.Join(s.Work(), name))
	if err != nil || json.Unmarshal(data, &m) != nil || s.markPath(m.Job) != filepath.Join(s.Work(), name) {
		return err == nil
	}
	_, ok := s.readMark(m.Job)
	return !ok
}

func (s *Spool) putMark(m mark) error {
	var st unix.Stat_t
	if err := unix.Lstat(s.WorkPath(m.Job), &st); err != nil {
		return err
	}
	m.Input = st.Ino
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(s.markPath(m.Job), data, 0o644)
}

// readMark is the job's mark, if it has one.
func (s *Spool) readMark(job string) (mark, bool) {
	var m mark
	var st unix.Stat_t
	data, err := os.ReadFile(s.markPath(job))
	return m, err == nil && json.Unmarshal(data, &m) == nil && m.Job == job &&
		unix.Lstat(s.WorkPath(job), &st) == nil && st.Ino == m.Input
}

func (s *Spool) dropMark(job string) { os.Remove(s.markPath(job)) }

// holds reports whether path is a file of exactly the bytes whose sha256 is sum.
func holds(path, sum string) bool {
	data, err := os.ReadFile(path)
	return err == nil && sum != "" && sha256Hex(data) == sum
}

func sha256Hex(data []byte) string {
	if data == nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// resumeAnswer takes up an answer a killed run created: when the job's
// mark names an answer in the outbox with the marked bytes, the result
// takes it as written. A picture created without its answer is removed
// (the mark shows it is the job's own), and the answer made afresh.
func (s *Spool) resumeAnswer(r *Result) {
	m, ok := s.readMark(r.Job)
	if !ok || m.Record {
		return
	}
	if holds(filepath.Join(s.Outbox, AnswerName(m.Name)), m.Answer) {
		r.name, r.wrote = m.Name, true
		return
	}
	if m.Picture != "" && holds(filepath.Join(s.Outbox, PictureName(m.Name)), m.Picture) {
		os.Remove(filepath.Join(s.Outbox, PictureName(m.Name)))
	}
	s.dropMark(r.Job)
}
