package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/internal/atomicfile"
	"github.com/hrmd/hrmd/internal/errcode"
	"github.com/hrmd/hrmd/puzzles"
)

// ErrorFile is an error record, failed/<name>.error.json.
type ErrorFile struct {
	File string `json:"file"`
	// FileBytes is the name exactly when it is not UTF-8 (puzzles.NameBytes).
	FileBytes []byte    `json:"file_bytes,omitempty"`
	Code      string    `json:"code"`
	Message   string    `json:"message"`
	At        time.Time `json:"at"`
}

// Result is what became of a claimed job, on its way out of work/: its
// answer (and picture) for the outbox and its input for done/, or its
// error record and its input for failed/. Write records the steps done, so
// that a Write tried again after a failure does only what is left: an
// answer once written is never written again.
type Result struct {
	Job string // its name in work/
	// Ino is the input's inode when it was read; when set, an input in
	// work/ under Job with another inode is not this job's (work/ was
	// deleted and the name claimed again), and the result is dropped.
	Ino             uint64
	Answer, Picture []byte     // answered: the answer, and the picture or nil
	Record          *ErrorFile // failed: the error record

	name  string // the name its files take in the outbox and done/: Job, or the next free one
	wrote bool   // the answer is durable under name
	moved string // its input's name in done/ or failed/ once there
}

// Answered is the outbox name of the answer once written, "" before.
func (r *Result) Answered() string {
	if r == nil || !r.wrote {
		return ""
	}
	return AnswerName(r.name)
}

// Write does what is left of a result: the answer's steps (picture and
// answer created in the outbox under a name free for both and in done/,
// then the input moved to done/ under that name), or the failure's (the
// error record and the input created in failed/ under a name free for
// both). It returns the input's name in done/ or failed/ once it moved,
// with an error only when the move may not survive a power cut. Errors
// without a name: ErrInputGone (the input left work/: drop the result; an
// answer already written stays), one matching ErrLockLost, or why a step
// failed (a full disk, a read-only folder), for a later Write.
func (s *Spool) Write(r *Result) (string, error) {
	if r.moved != "" {
		return r.moved, nil
	}
	if _, err := s.CheckLock(); err != nil {
		return "", err
	}
	if err := s.inputThere(r); err != nil {
		if !exists(s.WorkPath(r.Job)) { // another file under the name has a mark of its own
			s.dropMark(r.Job)
		}
		return "", err
	}
	if r.Record != nil {
		return s.writeFailure(r)
	}
	if !r.wrote {
		s.resumeAnswer(r)
	}
	if !r.wrote {
		if err := s.writeAnswer(r); err != nil {
			return "", err
		}
	}
	moved, err := s.retire(r, s.Done())
	if moved != "" {
		r.moved = moved
		s.dropMark(r.Job)
	}
	return moved, err
}

// inputThere checks that the result's input is still in work/.
func (s *Spool) inputThere(r *Result) error {
	var st unix.Stat_t
	err := unix.Lstat(s.WorkPath(r.Job), &st)
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%s: %w", s.WorkPath(r.Job), ErrInputGone)
	case err != nil:
		return fmt.Errorf("look at %s: %w", s.WorkPath(r.Job), err)
	case r.Ino != 0 && st.Ino != r.Ino:
		return fmt.Errorf("%s is another file now: %w", s.WorkPath(r.Job), ErrInputGone)
	}
	return nil
}

// writeAnswer creates the picture and the answer under the first name
// where neither is in the outbox and the input is not in done/; a name
// taken meanwhile (by anyone: a user, another daemon) is left as it is and
// the next one tried.
func (s *Spool) writeAnswer(r *Result) error {
	for n := 0; ; n++ {
		n = nextFree(n, func(n int) bool {
			name := jobName(r.Job, n)
			return exists(filepath.Join(s.Outbox, AnswerName(name))) || exists(filepath.Join(s.Done(), name)) ||
				r.Picture != nil && exists(filepath.Join(s.Outbox, PictureName(name)))
		})
		name := jobName(r.Job, n)
		m := mark{Job: r.Job, Name: name, Answer: sha256Hex(r.Answer), Picture: sha256Hex(r.Picture)}
		if err := s.putMark(m); err != nil {
			return fmt.Errorf("mark %s: %w", r.Job, err)
		}
		if r.Picture != nil {
			err := createNew(s.Outbox, PictureName(name), r.Picture)
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			if err != nil {
				return err
			}
		}
		err := createNew(s.Outbox, AnswerName(name), r.Answer)
		if err != nil && r.Picture != nil {
			os.Remove(filepath.Join(s.Outbox, PictureName(name))) // ours, made a moment ago: it goes with the answer's name
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		r.name, r.wrote = name, true
		return nil
	}
}

// createNew creates dir/name without replacing anything, making dir again
// when it is gone (deleted under the daemon), as at the start.
func createNew(dir, name string, data []byte) error {
	err := atomicfile.WriteNew(dir, name, data)
	if errors.Is(err, fs.ErrNotExist) && !exists(dir) {
		if merr := os.MkdirAll(dir, 0o755); merr != nil {
			return fmt.Errorf("%w (and cannot create %s again: %v)", err, dir, errcode.PathCause(merr))
		}
		err = atomicfile.WriteNew(dir, name, data)
	}
	return err
}

// retire moves work/<job> into dir under the result's name (the next free
// one if that is taken there meanwhile), making dir again when it is gone.
// A name is returned whenever the move happened, even if the sync failed.
func (s *Spool) retire(r *Result, dir string) (string, error) {
	remade := false
	for n := 0; ; n++ {
		n = nextFree(n, func(n int) bool { return exists(filepath.Join(dir, jobName(r.name, n))) })
		name := jobName(r.name, n)
		err := atomicfile.RenameNoReplace(s.WorkPath(r.Job), filepath.Join(dir, name))
		switch {
		case errors.Is(err, fs.ErrExist):
			continue
		case errors.Is(err, fs.ErrNotExist) && !exists(s.WorkPath(r.Job)):
			return "", fmt.Errorf("%s: %w", s.WorkPath(r.Job), ErrInputGone)
		case errors.Is(err, fs.ErrNotExist) && !remade:
			if merr := os.MkdirAll(dir, 0o755); merr != nil {
				return "", fmt.Errorf("move %s to %s: %w (and cannot create it again: %v)",
					r.Job, dir, err, errcode.PathCause(merr))
			}
			remade = true
			n--
			continue
		case err != nil:
			return "", fmt.Errorf("move %s to %s: %w", r.Job, dir, err)
		}
		if err := atomicfile.SyncDirs(dir, s.Work()); err != nil {
			return name, fmt.Errorf("moved %s to %s, but the move may not survive a power cut: %w", r.Job, dir, err)
		}
		return name, nil
	}
}

// writeFailure creates the error record and moves the input beside it, at
// the first name where neither is in failed/. A record whose input cannot
// follow is removed (it is ours, made a moment ago), so that each try
// starts afresh; an existing record is never taken for ours, whoever
// wrote it.
func (s *Spool) writeFailure(r *Result) (string, error) {
	base := r.Job
	if len(base) > MaxNameBytes {
		base = shortName(base)
	}
	move := func(dst string) error { return atomicfile.RenameNoReplace(s.WorkPath(r.Job), dst) }
	if name, ok, err := s.resumeFailure(r, move); ok {
		return name, err
	}
	name, err := s.placeFailure(base, *r.Record, move, func(name, sum string) error {
		return s.putMark(mark{Job: r.Job, Name: name, Answer: sum, Record: true})
	})
	if errors.Is(err, fs.ErrNotExist) && !exists(s.WorkPath(r.Job)) {
		s.dropMark(r.Job)
		return "", fmt.Errorf("%s: %w", s.WorkPath(r.Job), ErrInputGone)
	}
	if name != "" {
		r.moved = name
		s.dropMark(r.Job)
	}
	return name, err
}

// resumeFailure takes up an error record a killed run created: when the
// job's mark names a record in failed/ with the marked bytes, the input
// moves beside it (ok). Were that name taken for the input meanwhile, the
// record (the job's own, as the mark shows) is removed and made afresh.
func (s *Spool) resumeFailure(r *Result, move func(dst string) error) (name string, ok bool, err error) {
	m, found := s.readMark(r.Job)
	if !found || !m.Record || !holds(filepath.Join(s.Failed(), ErrorName(m.Name)), m.Answer) {
		return "", false, nil
	}
	err = move(filepath.Join(s.Failed(), m.Name))
	switch {
	case errors.Is(err, fs.ErrExist):
		os.Remove(filepath.Join(s.Failed(), ErrorName(m.Name)))
		s.dropMark(r.Job)
		return "", false, nil
	case err != nil:
		return "", true, fmt.Errorf("move %s to %s: %w", r.Job, s.Failed(), err)
	}
	r.moved = m.Name
	s.dropMark(r.Job)
	if err := atomicfile.SyncDirs(s.Failed(), s.Work()); err != nil {
		return m.Name, true,
			fmt.Errorf("moved %s to %s, but the move may not survive a power cut: %w", r.Job, s.Failed(), err)
	}
	return m.Name, true, nil
}

// placeFailure writes failed/<name>.error.json, then moves the input
// (move) to failed/<name>, at the first name from base where both are
// free. It returns the name whenever the input moved.
func (s *Spool) placeFailure(
	base string,
	e ErrorFile,
	move func(dst string) error,
	mark func(name, sum string) error,
) (string, error) {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return "", err
	}
	data = append(data, '\n')
	for n := 0; ; n++ {
		n = nextFree(n, func(n int) bool {
			name := jobName(base, n)
			return exists(filepath.Join(s.Failed(), name)) || exists(filepath.Join(s.Failed(), ErrorName(name)))
		})
		name := jobName(base, n)
		if mark != nil {
			if err := mark(name, sha256Hex(data)); err != nil {
				return "", fmt.Errorf("mark %s: %w", base, err)
			}
		}
		err := createNew(s.Failed(), ErrorName(name), data)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		err = move(filepath.Join(s.Failed(), name))
		if err != nil {
			os.Remove(filepath.Join(s.Failed(), ErrorName(name))) // ours, made a moment ago
		}
		switch {
		case errors.Is(err, fs.ErrExist): // taken meanwhile: both go to the next name
			continue
		case err != nil:
			return "", fmt.Errorf("move %s to %s: %w", base, s.Failed(), err)
		}
		if err := atomicfile.SyncDirs(s.Failed(), s.Work()); err != nil {
			return name, fmt.Errorf("moved %s to %s, but the move may not survive a power cut: %w", base, s.Failed(), err)
		}
		return name, nil
	}
}

// failTooLong moves a file whose name is too long to answer from the inbox
// straight to failed/, under a short name, with its error record: it never
// enters work/, so that nothing has to know such names after a restart.
func (s *Spool) failTooLong(name string) (Claimed, error) {
	e := ErrorFile{File: name, FileBytes: puzzles.NameBytes(name), Code: CodeNameTooLong, At: time.Now().UTC(),
		Message: answer.Message(NameTooLong(name))}
	failed, err := s.placeFailure(shortName(name), e, func(dst string) error { return s.in.rename(name, dst) }, nil)
	switch {
	case failed == "" && errors.Is(err, fs.ErrNotExist):
		if _, serr := s.in.lstat(name); errors.Is(serr, unix.ENOENT) {
			return Claimed{}, ErrGone
		}
		return Claimed{}, err
	case failed == "":
		return Claimed{}, err
	}
	if serr := s.in.sync(); serr != nil && err == nil {
		err = serr
	}
	return Claimed{Failed: failed, Record: &e}, err
}

// NameTooLong is the error of a file whose name is too long to answer.
func NameTooLong(name string) error {
	return &answer.Error{Code: CodeNameTooLong, Message: fmt.Sprintf(
		"the name %q is %d bytes; hrmd takes names of at most %d bytes, leaving room for the endings it adds "+
			"(.1.json, .error.json) within the filesystem's 255: rename the file shorter and drop it again",
		name, len(name), MaxNameBytes)}
}
