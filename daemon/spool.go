package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/internal/atomicfile"
)

// Spool is the folders a file travels through (DESIGN.md §3):
//
//	inbox/  -> work/<instance>/ -> done/ (with its answer in outbox/)
//	                            -> failed/ (with <name>.error.json)
//
// Every move is a rename, every write goes to a temporary file that is
// fsynced and renamed, and the input leaves work/ only after its answer (or
// its error file) is durable: a crash at any moment loses nothing, and what
// is in work/<instance>/ at start is taken up again.
type Spool struct {
	Inbox, Outbox, Work, Done, Failed string
	workRoot                          string // spool/work, holding every daemon's work/<instance>
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

// OpenSpool creates the folders that are missing and checks that each can be
// written, so that a permission problem stops the start with a clear message
// instead of stranding files later.
func OpenSpool(cfg Config, instance string) (*Spool, error) {
	s := &Spool{
		Inbox:    cfg.Inbox,
		Outbox:   cfg.Outbox,
		Work:     filepath.Join(cfg.Spool, "work", instance),
		workRoot: filepath.Join(cfg.Spool, "work"),
		Done:     filepath.Join(cfg.Spool, "done"),
		Failed:   filepath.Join(cfg.Spool, "failed"),
	}
	for _, f := range Folders(cfg, instance) {
		if err := os.MkdirAll(f.Dir, 0o755); err != nil {
			return nil, &answer.Error{Code: CodeSpool, Err: err, Message: fmt.Sprintf("%s: cannot create %s: %v; create it and let the hrmd user write to it, or set %s in hrmd.yaml",
				f.Key, f.Dir, unwrapPath(err), f.Key)}
		}
		if err := CheckWritable(f.Dir); err != nil {
			return nil, &answer.Error{Code: CodeSpool, Err: err, Message: fmt.Sprintf("%s: %s is not writable: %v; let the hrmd user write to it, or set %s in hrmd.yaml",
				f.Key, f.Dir, unwrapPath(err), f.Key)}
		}
	}
	if err := CheckSameFilesystem(cfg, s.Inbox, s.Work); err != nil {
		return nil, err
	}
	return s, nil
}

// CheckWritable checks that this user can create (and remove) a file in dir.
func CheckWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".hrmd-probe-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
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

// PictureName is the name of a job's picture in the outbox (answers.png).
func PictureName(job string) string { return strings.TrimSuffix(job, ".json") + ".png" }

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
// failed/, or as an answer in outbox/.
func (s *Spool) taken(job string) bool {
	answer := AnswerName(job)
	if exists(filepath.Join(s.Outbox, answer)) {
		return true
	}
	instances, _ := os.ReadDir(s.workRoot)
	for _, name := range []string{strings.TrimSuffix(answer, ".json"), answer} {
		if exists(filepath.Join(s.Done, name)) || exists(filepath.Join(s.Failed, name)) {
			return true
		}
		for _, inst := range instances {
			if exists(filepath.Join(s.workRoot, inst.Name(), name)) {
				return true
			}
		}
	}
	return false
}

// Claim moves inbox/name into work/ and returns its job name: the name
// itself, or with a suffix when an earlier file of that name is still in
// work/, done/, failed/ or outbox/, so that nothing is ever overwritten.
// When the move happened but could not be made durable, it returns the job
// name and the error: the file is in work/ either way.
func (s *Spool) Claim(name string) (string, error) {
	for n := 0; ; n++ {
		job := jobName(name, n)
		if s.taken(job) {
			continue
		}
		err := renameNoReplace(filepath.Join(s.Inbox, name), filepath.Join(s.Work, job))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", errGone
		case errors.Is(err, fs.ErrExist):
			continue
		case err != nil:
			return "", fmt.Errorf("claim %s: %w", name, err)
		}
		if err := atomicfile.SyncDirs(s.Work, s.Inbox); err != nil {
			return job, fmt.Errorf("claimed %s as %s, but the move may not survive a power cut: %w", name, job, err)
		}
		return job, nil
	}
}

// Pending lists the jobs an earlier run left in work/, oldest first.
func (s *Spool) Pending() ([]string, error) {
	entries, err := os.ReadDir(s.Work)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.Work, err)
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

// WorkPath is where a claimed job's input is.
func (s *Spool) WorkPath(job string) string { return filepath.Join(s.Work, job) }

// Answer makes the answer durable in the outbox, then moves the input to
// done/. It returns the input's name in done/. A picture (answers.png) is
// written first, so that it is there once the answer appears.
func (s *Spool) Answer(job string, answer, picture []byte) (string, error) {
	if picture != nil {
		if err := atomicfile.Write(s.Outbox, PictureName(job), picture); err != nil {
			return "", err
		}
	}
	if err := atomicfile.Write(s.Outbox, AnswerName(job), answer); err != nil {
		return "", err
	}
	return s.retire(job, s.Done)
}

// ErrorFile is failed/<job>.error.json.
type ErrorFile struct {
	File    string    `json:"file"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// Fail writes failed/<job>.error.json, then moves the input to failed/. It
// returns the input's name in failed/.
func (s *Spool) Fail(job string, e ErrorFile) (string, error) {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(s.Failed, job+".error.json", append(data, '\n')); err != nil {
		return "", err
	}
	return s.retire(job, s.Failed)
}

// retire moves work/job into dir without replacing anything there (another
// daemon sharing the spool may have used the name), then syncs both folders.
// A name is returned whenever the move happened, even if the sync failed.
func (s *Spool) retire(job, dir string) (string, error) {
	for n := 0; ; n++ {
		name := jobName(job, n)
		err := renameNoReplace(filepath.Join(s.Work, job), filepath.Join(dir, name))
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("move %s to %s: %w", job, dir, err)
		}
		if err := atomicfile.SyncDirs(dir, s.Work); err != nil {
			return name, fmt.Errorf("moved %s to %s, but the move may not survive a power cut: %w", job, dir, err)
		}
		return name, nil
	}
}

// renameNoReplace renames old to new, failing with fs.ErrExist when new
// exists. Filesystems without RENAME_NOREPLACE get a hard link and an unlink,
// which also never replaces.
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS) {
		if err = os.Link(old, new); err != nil {
			return err
		}
		if err = os.Remove(old); err != nil {
			os.Remove(new) // undo: the file must be in one place only
			return err
		}
		return nil
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
	}
	return nil
}

// RemoveTemporaries deletes the temporary files of writes that a crash
// interrupted (atomicfile's hidden temporaries) from the outbox and
// failed/, and returns how many it removed. Only hrmd writes such names.
func (s *Spool) RemoveTemporaries() int {
	n := 0
	for _, dir := range []string{s.Outbox, s.Failed} {
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
