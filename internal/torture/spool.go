package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hrmd/hrmd/daemon/config"
)

// spool is a temporary inbox, outbox and spool with hrmd.yaml, and the
// manifest of everything the scenario put there.
type spool struct {
	e      *env
	cfg    config.Config // its paths as the daemon sees them
	config string
	// view is where the driver sees the daemon's paths: "" when both see
	// the same, /proc/<pid>/root for a daemon in a mount namespace.
	view                        string
	inbox, outbox, done, failed string // as the driver sees them
	work                        string // spool/work, each instance's folder in it
	m                           *manifest
	mu                          sync.Mutex
	seq                         int // temporary names of drops
}

// newSpool is a spool in the scenario's folder.
func (e *env) newSpool(edit func(*config.Config)) (*spool, error) {
	return e.newSpoolAt(e.dir, "", edit)
}

// newSpoolIn is a spool of its own in the scenario's folder sub/, with its
// hrmd.yaml: for daemons that share no spool (a fleet's gateway and workers).
func (e *env) newSpoolIn(sub string, edit func(*config.Config)) (*spool, error) {
	dir := filepath.Join(e.dir, sub)
	return e.newSpoolConfig(dir, "", filepath.Join(dir, "hrmd.yaml"), edit)
}

// newSpoolAt is a spool in dir as the daemon sees it, view+dir as the
// driver does: HTTP on a free port, JSON logs at info level, the tiny model
// on the CPU, short settle and rescan times; edit changes it further.
func (e *env) newSpoolAt(dir, view string, edit func(*config.Config)) (*spool, error) {
	return e.newSpoolConfig(dir, view, filepath.Join(e.dir, "hrmd.yaml"), edit)
}

// newSpoolConfig is newSpoolAt with its hrmd.yaml at configPath.
func (e *env) newSpoolConfig(dir, view, configPath string, edit func(*config.Config)) (*spool, error) {
	cfg := config.Default()
	cfg.Inbox, cfg.Outbox = filepath.Join(dir, "inbox"), filepath.Join(dir, "outbox")
	cfg.Spool, cfg.Model = filepath.Join(dir, "spool"), e.o.model
	cfg.ONNXRuntime.Providers = []string{"cpu"}
	cfg.TensorRT.EngineCache = filepath.Join(e.dir, "trt")
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Log = config.Log{Level: "info", Format: "json"}
	cfg.Watch.Settle, cfg.Watch.Rescan = config.Duration(100*time.Millisecond), config.Duration(time.Second)
	// The spool is under test, not the model: one cycle on the test inputs
	// alone answers a file in milliseconds, so bursts are large.
	cfg.Inference.DemoCheck, cfg.Inference.MaxCycles = false, 1
	// This machine's temperature is not under test.
	cfg.Thermal.PauseC = 0
	if edit != nil {
		edit(&cfg)
	}
	l := cfg.Layout("")
	s := &spool{e: e, cfg: cfg, config: configPath, view: view,
		inbox: view + l.Inbox, outbox: view + l.Outbox, done: view + l.Done(),
		failed: view + l.Failed(), work: view + l.WorkRoot(), m: newManifest()}
	for _, d := range []string{s.inbox, s.outbox, s.done, s.failed, s.work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return s, s.writeConfig(cfg)
}

func (s *spool) writeConfig(cfg config.Config) error {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	s.cfg = cfg
	// Written whole and renamed, as a careful admin does: a reload that
	// reads a half-written file takes it for an empty one, all defaults.
	tmp := s.config + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.config)
}

// want is what must become of a dropped entry.
type want struct {
	where string // "done", "failed", "either", or "inbox" (left alone)
	code  string // for failed: the error code ("" any)
	says  string // for failed: what the error file's message must hold ("" anything)
}

func wantDone() want              { return want{where: "done"} }
func wantFailed(code string) want { return want{where: "failed", code: code} }
func wantEither() want            { return want{where: "either"} }

// wantFailedSaying is for a code that covers several faults (not_json):
// the message must name this one.
func wantFailedSaying(code, says string) want { return want{where: "failed", code: code, says: says} }

// tempName is a hidden name in the inbox (the daemon ignores it) for an
// entry being made.
func (s *spool) tempName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return filepath.Join(s.inbox, fmt.Sprintf(".torture-%d", s.seq))
}

// drop puts a file into the inbox the way a careful writer does (a hidden
// name, then a rename) and records what must become of it.
func (s *spool) drop(name string, data []byte, w want) error {
	tmp := s.tempName()
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %q into the inbox: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(s.inbox, name)); err != nil {
		return fmt.Errorf("drop %q: %w", name, err)
	}
	return s.m.expect(contentID(data), name, w)
}

// dropEntry makes an entry under a hidden name with mk, records it by
// what it is (entryID), and renames it to name.
func (s *spool) dropEntry(name string, w want, mk func(path string) error) error {
	tmp := s.tempName()
	if err := mk(tmp); err != nil {
		return fmt.Errorf("make %q in the inbox: %w", name, err)
	}
	id, err := entryID(tmp)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.inbox, name)); err != nil {
		return fmt.Errorf("drop %q: %w", name, err)
	}
	return s.m.expect(id, name, w)
}

// place is a file the user put somewhere (the outbox, failed/, done/, or
// the inbox under a name the daemon ignores): it must stay as it is.
func (s *spool) place(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	return s.m.placed(path)
}

// entryID is what an entry is, whatever its name: a regular file by its
// content, a link by its target, a pipe, device or folder by its inode.
func entryID(path string) (string, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return "", err
	}
	st, _ := info.Sys().(*syscall.Stat_t)
	switch m := info.Mode(); {
	case m.IsRegular():
		return fileID(path, st)
	case m&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		return "link:" + target, err
	case m&fs.ModeDevice != 0:
		return fmt.Sprintf("device:%d:%d", st.Rdev, st.Ino), nil
	}
	return fmt.Sprintf("%s:%d", info.Mode().Type(), st.Ino), nil
}

// fileID is a file's content hash, or its inode when the driver may not
// read it (a mode 000 file, when not root).
func fileID(path string, st *syscall.Stat_t) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Sprintf("unreadable:%d", st.Ino), nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "file:" + hex.EncodeToString(h.Sum(nil)), nil
}

// contentID is the entryID of a regular file holding data.
func contentID(data []byte) string {
	sum := sha256.Sum256(data)
	return "file:" + hex.EncodeToString(sum[:])
}

// manifest is everything a scenario put into the spool, by what it is.
type manifest struct {
	mu      sync.Mutex
	entries map[string]*expected // by entryID
	order   []string             // ids in the order first dropped
	user    map[string]string    // placed files: path (as the driver sees it) -> entryID
	// userIno is each placed file's inode: a file replaced by one with
	// the same bytes (an answer written again over a copy) is replaced all
	// the same.
	userIno map[string]uint64
}

type expected struct {
	names []string // as dropped, once per drop
	want  want
}

func newManifest() *manifest {
	return &manifest{entries: map[string]*expected{}, user: map[string]string{}, userIno: map[string]uint64{}}
}

func (m *manifest) expect(id, name string, w want) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	x := m.entries[id]
	if x == nil {
		x = &expected{want: w}
		m.entries[id] = x
		m.order = append(m.order, id)
	} else if x.want != w {
		return fmt.Errorf("%q: the same content was dropped as %q with another expectation", name, x.names[0])
	}
	x.names = append(x.names, name)
	return nil
}

func (m *manifest) placed(path string) error {
	id, err := entryID(path)
	if err != nil {
		return err
	}
	ino, err := inode(path)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.user[path] = id
	m.userIno[path] = ino
	return nil
}

// inode is the inode number of path itself (a link not followed).
func inode(path string) (uint64, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return 0, err
	}
	st, _ := info.Sys().(*syscall.Stat_t)
	return st.Ino, nil
}

// userPath reports whether path is a file the user put there.
func (m *manifest) userPath(path string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.user[path]
	return id, ok
}

// dropped is how many entries were dropped.
func (m *manifest) dropped() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, x := range m.entries {
		n += len(x.names)
	}
	return n
}

// waiting counts the files in the inbox and in every work/ folder (not
// hidden ones, not the user's own): polled, so it reads names only.
func (s *spool) waiting() int {
	n := 0
	dirs := []string{s.inbox}
	instances, _ := os.ReadDir(s.work)
	for _, inst := range instances {
		dirs = append(dirs, filepath.Join(s.work, inst.Name()))
	}
	for _, dir := range dirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if _, mine := s.m.userPath(filepath.Join(dir, e.Name())); !mine && !strings.HasPrefix(e.Name(), ".") {
				n++
			}
		}
	}
	return n
}
