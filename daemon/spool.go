package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/internal/atomicfile"
)

// spool is the folders a file travels through (docs/service.md, Where files go):
//
//	inbox/  -> work/<instance>/ -> done/ (with its answer in outbox/)
//	                            -> failed/ (with <name>.error.json)
//
// Every move is a rename, every write goes to a temporary file that is
// fsynced and renamed, and the input leaves work/ only after its answer (or
// its error file) is durable: a crash at any moment loses nothing, and what
// is in work/<instance>/ at start is taken up again.
type spool struct {
	inbox, outbox, work, done, failed string
	workRoot                          string    // spool/work, holding every daemon's work/<instance>
	in                                *inboxDir // the inbox files are claimed from
	lock                              *os.File  // work/<instance>/.lock, locked while this daemon runs
}

// errGone is a claim of a file that is no longer in the inbox (taken by
// another daemon, or removed by its owner).
var errGone = errors.New("no longer in the inbox")

// Folder is a folder hrmd writes, with the hrmd.yaml key that sets it.
type Folder struct{ Key, Dir string }

// Folders are the folders of cfg's spool that `hrmd run` creates and writes:
// the inbox, the outbox, and the spool's work/<instance>/ (work/ itself for
// instance ""), done/ and failed/.
func Folders(cfg Config, instance string) []Folder {
	return []Folder{
		{"inbox", cfg.Inbox}, {"outbox", cfg.Outbox}, {"spool", filepath.Join(cfg.Spool, "work", instance)},
		{"spool", filepath.Join(cfg.Spool, "done")}, {"spool", filepath.Join(cfg.Spool, "failed")},
	}
}

// openSpool creates the folders that are missing and checks that each can be
// written, so that a permission problem stops the start with a clear message
// instead of stranding files later.
func openSpool(cfg Config, instance string) (*spool, error) {
	s := &spool{
		inbox:    cfg.Inbox,
		outbox:   cfg.Outbox,
		work:     filepath.Join(cfg.Spool, "work", instance),
		workRoot: filepath.Join(cfg.Spool, "work"),
		done:     filepath.Join(cfg.Spool, "done"),
		failed:   filepath.Join(cfg.Spool, "failed"),
	}
	for _, f := range Folders(cfg, instance) {
		if err := os.MkdirAll(f.Dir, 0o755); err != nil {
			return nil, &answer.Error{Code: CodeSpool, Err: err, Message: fmt.Sprintf("%s: cannot create %s: %v; create it and let the hrmd user write to it, or set %s in hrmd.yaml",
				f.Key, f.Dir, unwrapPath(err), f.Key)}
		}
		if err := CheckWritable(f.Dir); err != nil {
			return nil, &answer.Error{Code: CodeSpool, Err: err, Message: fmt.Sprintf("%s: %s is not writable: %v; let the hrmd user write to it, or set %s in hrmd.yaml",
				f.Key, f.Dir, err, f.Key)}
		}
	}
	if err := CheckSameFilesystem(cfg, s.inbox, s.work); err != nil {
		return nil, err
	}
	var err error
	if s.lock, err = lockWork(s.work, instance); err != nil {
		return nil, err
	}
	if s.in, err = openInbox(s.inbox); err != nil {
		s.lock.Close()
		return nil, &answer.Error{Code: CodeSpool, Err: err, Message: fmt.Sprintf("inbox: %v", err)}
	}
	return s, nil
}

// close lets another daemon of this instance start.
func (s *spool) close() {
	s.in.close()
	s.lock.Close()
}

// CheckWritable checks that this user can create a file in dir.
func CheckWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".hrmd-probe-*")
	if err != nil {
		return unwrapPath(err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// CheckFolder checks a folder hrmd would write before it exists: at is dir
// itself, or the nearest parent that exists (where it would be created), ""
// when there is none; err says why at is no use (not a folder, not
// writable by this user).
func CheckFolder(dir string) (at string, err error) {
	for p := dir; ; p = filepath.Dir(p) {
		info, err := os.Stat(p)
		switch {
		case err == nil && !info.IsDir():
			return "", fmt.Errorf("%s is not a folder", p)
		case err == nil:
			return p, CheckWritable(p)
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("stat %s: %w", p, unwrapPath(err))
		case filepath.Dir(p) == p:
			return "", fmt.Errorf("no part of %s exists", dir)
		}
	}
}

// CheckInstance checks a daemon's instance name, the name of its folder
// in work/.
func CheckInstance(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("instance name %q cannot be a folder name; use letters, digits, - and _", name)
	}
	return nil
}

// CheckSameFilesystem checks that cfg's inbox and spool are on one
// filesystem: a claim is an atomic rename, which cannot cross them. inboxAt
// and workAt are where to look: the inbox and work/ themselves, or the
// folders they will be created in.
func CheckSameFilesystem(cfg Config, inboxAt, workAt string) error {
	inboxDev, err1 := device(inboxAt)
	workDev, err2 := device(workAt)
	if err := errors.Join(err1, err2); err != nil {
		return &answer.Error{Code: CodeSpool, Message: err.Error(), Err: err}
	}
	if inboxDev != workDev {
		return &answer.Error{Code: CodeSpool, Message: fmt.Sprintf("inbox %s and spool %s are on different filesystems; a file is claimed by an atomic rename, which cannot cross them: put inbox and spool on one filesystem", cfg.Inbox, cfg.Spool)}
	}
	return nil
}

func device(dir string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", dir, err)
	}
	return uint64(st.Dev), nil
}

// unwrapPath drops the *PathError wrapper, whose path the message already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// AnswerName is the outbox file that answers job: <name>.json.
func AnswerName(job string) string { return strings.TrimSuffix(job, ".json") + ".json" }

// pictureName is the name of a job's picture in the outbox (answers.png).
func pictureName(job string) string { return strings.TrimSuffix(job, ".json") + ".png" }

// jobName is the n-th candidate name for a file dropped as name: the name
// itself, then <stem>.1.json, <stem>.2.json, ...
func jobName(name string, n int) string {
	if n == 0 {
		return name
	}
	if stem, ok := strings.CutSuffix(name, ".json"); ok {
		return stem + "." + strconv.Itoa(n) + ".json"
	}
	return name + "." + strconv.Itoa(n)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// taken reports whether a job name is in use anywhere a job's files go: the
// name itself, or the other spelling answered by the same outbox file ("t"
// and "t.json" both answer as t.json), in any daemon's work/, in done/,
// failed/ (as an input or an error file), or as an answer or a picture in
// outbox/.
func (s *spool) taken(job string) bool { return s.takenBesides(job, "") }

// takenBesides is taken, not counting the work/ folder besides (the
// orphaned folder a file is adopted from, which holds it).
func (s *spool) takenBesides(job, besides string) bool {
	answer := AnswerName(job)
	if exists(filepath.Join(s.outbox, answer)) || exists(filepath.Join(s.outbox, pictureName(job))) {
		return true
	}
	instances, _ := os.ReadDir(s.workRoot)
	for _, name := range []string{strings.TrimSuffix(answer, ".json"), answer} {
		if exists(filepath.Join(s.done, name)) || exists(filepath.Join(s.failed, name)) || exists(filepath.Join(s.failed, errorName(name))) {
			return true
		}
		for _, inst := range instances {
			if dir := filepath.Join(s.workRoot, inst.Name()); dir != besides && exists(filepath.Join(dir, name)) {
				return true
			}
		}
	}
	return false
}

// maxNameBytes is the longest inbox name hrmd takes as it is: the names it
// derives (failed/<name>.<n>.error.json) must fit the filesystem's 255
// bytes. A longer name is claimed under a short one (shortName) and fails
// with name_too_long.
const maxNameBytes = 255 - len(".error.json") - len(".9999999")

// tooLongEnding ends the work/ name of a file whose name was too long, so
// that it fails as such even when taken up again after a restart.
const tooLongEnding = ".name-too-long"

// shortName is the name a too-long name is claimed under: its start, and a
// hash of the whole, which keeps different long names apart.
func shortName(name string) string {
	cut := 200
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	sum := sha256.Sum256([]byte(name))
	return name[:cut] + "~" + hex.EncodeToString(sum[:4]) + tooLongEnding
}

// isTooLongJob recognises the work/ name of a file whose name was too long
// (shortName, perhaps with a suffix: .1, .2...).
func isTooLongJob(job string) bool {
	if i := strings.LastIndexByte(job, '.'); i >= 0 && strings.Trim(job[i+1:], "0123456789") == "" && i+1 < len(job) {
		job = job[:i]
	}
	return strings.HasSuffix(job, tooLongEnding)
}

// nameTooLong is the error of a file whose name is too long to answer.
func nameTooLong(name string) error {
	return &answer.Error{Code: codeNameTooLong, Message: fmt.Sprintf(
		"the name %q is %d bytes; hrmd takes names of at most %d bytes, leaving room for the endings it adds (.1.json, .error.json) within the filesystem's 255: rename the file shorter and drop it again",
		name, len(name), maxNameBytes)}
}

// claim moves inbox/name into work/ and returns its job name: the name
// itself, or with a suffix when an earlier file of that name is still in
// work/, done/, failed/ or outbox/, so that nothing is ever overwritten.
// When the move happened but could not be made durable, it returns the job
// name and the error: the file is in work/ either way.
func (s *spool) claim(name string) (string, error) {
	base := name
	if len(name) > maxNameBytes {
		base = shortName(name)
	}
	for n := 0; ; n++ {
		job := jobName(base, n)
		if s.taken(job) {
			continue
		}
		err := s.in.claim(name, filepath.Join(s.work, job))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", errGone
		case errors.Is(err, fs.ErrExist):
			continue
		case err != nil:
			return "", fmt.Errorf("claim %s: %w", name, err)
		}
		if err := errors.Join(atomicfile.SyncDirs(s.work), s.in.sync()); err != nil {
			return job, fmt.Errorf("claimed %s as %s, but the move may not survive a power cut: %w", name, job, err)
		}
		return job, nil
	}
}

// pending lists the jobs in work/ (an earlier run's, at start), oldest first.
func (s *spool) pending() ([]string, error) { return listJobs(s.work) }

// listJobs lists the files in a work/ folder, oldest first.
func listJobs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	type job struct {
		name string
		mod  time.Time
	}
	var jobs []job
	for _, e := range entries {
		if ignored(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		jobs = append(jobs, job{e.Name(), info.ModTime()})
	}
	slices.SortStableFunc(jobs, func(a, b job) int { return a.mod.Compare(b.mod) })
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.name
	}
	return names, nil
}

// workPath is where a claimed job's input is.
func (s *spool) workPath(job string) string { return filepath.Join(s.work, job) }

// writeAnswer makes the answer durable in the outbox, then moves the input to
// done/. It returns the input's name in done/. A picture (answers.png) is
// written first, so that it is there once the answer appears.
func (s *spool) writeAnswer(job string, answer, picture []byte) (string, error) {
	if picture != nil {
		if err := atomicfile.Write(s.outbox, pictureName(job), picture); err != nil {
			return "", err
		}
	}
	if err := atomicfile.Write(s.outbox, AnswerName(job), answer); err != nil {
		return "", err
	}
	return s.retire(job, s.done)
}

// ErrorFile is failed/<job>.error.json.
type ErrorFile struct {
	File string `json:"file"`
	// FileBytes is the name exactly when it is not UTF-8 (puzzles.NameBytes).
	FileBytes []byte    `json:"file_bytes,omitempty"`
	Code      string    `json:"code"`
	Message   string    `json:"message"`
	At        time.Time `json:"at"`
}

// errorName is the error file of a job's input in failed/.
func errorName(job string) string { return job + ".error.json" }

// writeFailure writes failed/<name>.error.json, then moves the input to
// failed/<name>, and returns name: the job's name, or with a suffix when
// either is there (a user's file of that name, or another daemon's). An
// error file is never written over, except this job's own from a try that
// a crash interrupted.
func (s *spool) writeFailure(job string, e ErrorFile) (string, error) {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return "", err
	}
	data = append(data, '\n')
	for n := 0; ; n++ {
		name := jobName(job, n)
		if exists(filepath.Join(s.failed, name)) {
			continue
		}
		err := atomicfile.WriteNew(s.failed, errorName(name), data)
		if errors.Is(err, fs.ErrExist) {
			if !s.ownErrorFile(name, e) {
				continue
			}
			err = atomicfile.Write(s.failed, errorName(name), data)
		}
		if err != nil {
			return "", err
		}
		err = atomicfile.RenameNoReplace(filepath.Join(s.work, job), filepath.Join(s.failed, name))
		if errors.Is(err, fs.ErrExist) { // taken meanwhile: its error file goes with the next name
			os.Remove(filepath.Join(s.failed, errorName(name)))
			continue
		}
		if err != nil {
			return "", fmt.Errorf("move %s to %s: %w", job, s.failed, err)
		}
		if err := atomicfile.SyncDirs(s.failed, s.work); err != nil {
			return name, fmt.Errorf("moved %s to %s, but the move may not survive a power cut: %w", job, s.failed, err)
		}
		return name, nil
	}
}

// ownErrorFile reports whether failed/<name>.error.json is what an
// interrupted try of this failure wrote: an error file for the same input
// with the same code, whose input is not beside it.
func (s *spool) ownErrorFile(name string, e ErrorFile) bool {
	var had ErrorFile
	data, err := os.ReadFile(filepath.Join(s.failed, errorName(name)))
	return err == nil && json.Unmarshal(data, &had) == nil && had.File == e.File && had.Code == e.Code &&
		!exists(filepath.Join(s.failed, name))
}

// retire moves work/job into dir without replacing anything there (another
// daemon sharing the spool may have used the name), then syncs both folders.
// A name is returned whenever the move happened, even if the sync failed.
func (s *spool) retire(job, dir string) (string, error) {
	for n := 0; ; n++ {
		name := jobName(job, n)
		err := atomicfile.RenameNoReplace(filepath.Join(s.work, job), filepath.Join(dir, name))
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("move %s to %s: %w", job, dir, err)
		}
		if err := atomicfile.SyncDirs(dir, s.work); err != nil {
			return name, fmt.Errorf("moved %s to %s, but the move may not survive a power cut: %w", job, dir, err)
		}
		return name, nil
	}
}

// removeTemporaries deletes the temporary files of writes that a crash
// interrupted (atomicfile's hidden temporaries) from the outbox and
// failed/, and returns how many it removed. Only hrmd writes such names.
func (s *spool) removeTemporaries() int {
	n := 0
	for _, dir := range []string{s.outbox, s.failed} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if atomicfile.IsTemporary(e.Name()) && os.Remove(filepath.Join(dir, e.Name())) == nil {
				n++
			}
		}
	}
	return n
}

// ignored reports the names a hot folder must never take: hidden files
// (including our own temporary files) and the partial files of writers that
// rename when done.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".tmp") ||
		strings.HasSuffix(name, ".part") || strings.HasSuffix(name, "~")
}
