package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/puzzles"
)

// hostile is the hostile-inbox scenario: every kind of entry a careless
// or malicious user can put into the inbox, all at once.
type hostile struct {
	e *env
	s *spool
	p *hrmd
}

// runHostile drops the lot, waits until every entry has ended somewhere,
// then swaps the inbox for a symbolic link and back.
func runHostile(e *env) (report, error) {
	s, p, err := e.ready(func(c *config.Config) {
		// The slow writer waits for the daemon to have seen each chunk
		// (a debug line), well within the settle time.
		c.Log.Level = "debug"
		c.Watch.Settle = config.Duration(5 * time.Second)
	}, startOpts{})
	if err != nil {
		return report{}, err
	}
	h := &hostile{e: e, s: s, p: p}
	slow := make(chan error, 1)
	go func() { slow <- h.slowWriter() }()
	for _, step := range []func() error{h.links, h.specials, h.folder, h.ignoredNames, h.huge, h.parsing,
		h.names, h.unreadable, h.hardLink, h.empties, h.normal} {
		if err := step(); err != nil {
			return report{}, err
		}
	}
	if err := <-slow; err != nil {
		return report{}, err
	}
	if err := s.waitFinished(s.m.dropped(), 15*time.Minute); err != nil {
		return report{}, err
	}
	if err := h.swapInbox(); err != nil {
		return report{}, err
	}
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	v := s.check()
	extra := []string{outcomes(v.outcomes)}
	if os.Geteuid() != 0 {
		extra = append(extra, "no device node (not root)")
	}
	return report{what: fmt.Sprintf("%d entries", v.files), v: v, extra: extra}, nil
}

// outcomes lists how many ended answered and with each error code.
func outcomes(by map[string]int) string {
	var parts []string
	for code, n := range by {
		parts = append(parts, fmt.Sprintf("%s %d", code, n))
	}
	slices.Sort(parts)
	return "ended: " + strings.Join(parts, ", ")
}

// links: symbolic links to a task outside the inbox, to a folder, and to
// nothing. The daemon must fail the links themselves (not_regular_file)
// and never move or read what they point to.
func (h *hostile) links() error {
	outside := filepath.Join(h.e.dir, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		return err
	}
	target := filepath.Join(outside, "target.json")
	if err := h.s.place(target, h.e.tasks.task(0, "the link's target")); err != nil {
		return err
	}
	links := map[string]string{
		"link.json": target, "link-to-folder.json": outside, "dangling.json": filepath.Join(outside, "none.json"),
	}
	for name, to := range links {
		link := func(p string) error { return os.Symlink(to, p) }
		if err := h.s.dropEntry(name, wantFailed("not_regular_file"), link); err != nil {
			return err
		}
	}
	return nil
}

// specials: a named pipe nobody writes (opening it would hang a reader)
// and, as root, a character device.
func (h *hostile) specials() error {
	err := h.s.dropEntry(
		"fifo.json",
		wantFailed("not_regular_file"),
		func(p string) error { return unix.Mkfifo(p, 0o644) },
	)
	if err != nil || os.Geteuid() != 0 {
		return err
	}
	return h.s.dropEntry("device.json", wantFailed("not_regular_file"), func(p string) error {
		return unix.Mknod(p, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))) // /dev/null's numbers
	})
}

// folder: a folder named x.json, with a task inside, is left alone.
func (h *hostile) folder() error {
	dir := filepath.Join(h.s.inbox, "x.json")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if err := h.s.place(filepath.Join(dir, "inside.json"), h.e.tasks.task(1, "inside the folder x.json")); err != nil {
		return err
	}
	return h.s.m.placed(dir)
}

// ignoredNames: hidden files and partial-file names, never taken.
func (h *hostile) ignoredNames() error {
	for i, name := range []string{".hidden.json", "partial.json.tmp", "partial.json.part", "backup.json~"} {
		if err := h.s.place(filepath.Join(h.s.inbox, name), h.e.tasks.task(i, name)); err != nil {
			return err
		}
	}
	return nil
}

// huge: 100 MB, refused by its size (watch.max_file_bytes) before it is read.
func (h *hostile) huge() error {
	data := append([]byte(`{"test": [{"input": [[1]]}]}`), bytes.Repeat([]byte(" "), 100<<20)...)
	return h.s.drop("huge.json", data, wantFailed("too_big"))
}

// parsing: files that test the parser's limits and corners.
func (h *hostile) parsing() error {
	bom := append([]byte("\xef\xbb\xbf"), h.e.tasks.task(2, "bom.json")...)
	for _, f := range []struct {
		name string
		data []byte
		w    want
	}{
		{"deep.json", deepJSON(100000), wantFailed("not_json")},
		{"1e309.json", []byte(`{"test": [{"input": [[1e309]]}]}`), wantFailed("")},
		{"duplicate-keys.json", []byte(`{"test": [{"input": [[1]]}], "test": [{"input": [[2]]}]}`),
			wantFailed(puzzles.CodeDuplicateKey)},
		{"bom.json", bom, wantFailedSaying(puzzles.CodeNotJSON, "byte order mark")},
		{"many-inputs.json", manyTests("many-inputs.json", h.e.size.manyTests, 0), wantFailed(puzzles.CodeTooManyTestInputs)},
	} {
		if err := h.s.drop(f.name, f.data, f.w); err != nil {
			return err
		}
	}
	return h.limits()
}

// limits: a file just over each of the other limits on one file (the
// daemon's config's), each refused with its own code.
func (h *hostile) limits() error {
	w, variants := h.s.cfg.Watch, 1+h.s.cfg.Inference.Augmentations
	rowTasks := w.MaxRows/(w.MaxTestInputs*variants) + 1 // of max_test_inputs each
	if rowTasks > w.MaxTasks {
		return fmt.Errorf("no file is over watch.max_rows %d within watch.max_tasks %d", w.MaxRows, w.MaxTasks)
	}
	for _, f := range []struct {
		name string
		data []byte
		code string
	}{
		{"too-many-tasks.json", bundle("tasks", w.MaxTasks+1, 0, 1, 1, 0), puzzles.CodeTooManyTasks},
		{"too-many-train-pairs.json", bundle("pairs", 1, w.MaxTrainPairs+1, 1, 1, 0), puzzles.CodeTooManyTrainPairs},
		{"too-many-rows.json", bundle("rows", rowTasks, 0, w.MaxTestInputs, 1, 0), puzzles.CodeTooManyRows},
	} {
		if err := h.s.drop(f.name, f.data, wantFailed(f.code)); err != nil {
			return err
		}
	}
	return nil
}

// names: a newline in the name, no .json ending, spaces and shell
// characters, non-ASCII, the longest name taken (236 bytes) and a longer
// one (250 bytes: name_too_long); and names that are not UTF-8 (Latin-1),
// one answered and one failed, each recorded exactly (task_bytes,
// file_bytes: the checker holds them to it).
func (h *hostile) names() error {
	long := strings.Repeat("l", 245) + ".json"
	for i, name := range []string{"new\nline.json", "no-ending", "sp ace & $(rm -rf x); 'q'.json", "ünïcödé-名前.json",
		strings.Repeat("k", 231) + ".json", "caf\xe9.json"} {
		if err := h.s.drop(name, h.e.tasks.task(i, name), wantDone()); err != nil {
			return err
		}
	}
	if err := h.s.drop("caf\xe9-bad.json", []byte(`{"test": [}`), wantFailed(puzzles.CodeNotJSON)); err != nil {
		return err
	}
	return h.s.drop(long, h.e.tasks.task(9, long), wantFailed("name_too_long"))
}

// unreadable: a mode 000 file. Root (CI) reads it anyway; another user
// gets unreadable. Either way it ends once.
func (h *hostile) unreadable() error {
	return h.s.dropEntry("mode-000.json", wantEither(), func(p string) error {
		if err := os.WriteFile(p, h.e.tasks.task(3, "mode-000.json"), 0o644); err != nil {
			return err
		}
		return os.Chmod(p, 0)
	})
}

// hardLink: one file under two names in the inbox at once: both answered.
func (h *hostile) hardLink() error {
	tmp := h.s.tempName()
	data := h.e.tasks.task(4, "hard link")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	id, err := entryID(tmp)
	if err != nil {
		return err
	}
	for _, name := range []string{"hard-link-1.json", "hard-link-2.json"} {
		if err := os.Link(tmp, filepath.Join(h.s.inbox, name)); err != nil {
			return err
		}
		if err := h.s.m.expect(id, name, wantDone()); err != nil {
			return err
		}
	}
	return os.Remove(tmp)
}

// empties: thousands of empty files at once.
func (h *hostile) empties() error {
	for i := range h.e.size.empties {
		if err := h.s.drop(fmt.Sprintf("empty-%05d.json", i), nil, wantFailed("not_json")); err != nil {
			return err
		}
	}
	return nil
}

// normal: a few good tasks among the rest.
func (h *hostile) normal() error { return h.s.burst("hostile", 5) }

// slowWriter writes a task in place, without the rename, in five chunks,
// each once the daemon has seen the one before (well within the settle
// time): it must be answered once, whole.
func (h *hostile) slowWriter() error {
	data := h.e.tasks.task(5, "slow.json")
	if err := h.s.m.expect(contentID(data), "slow.json", wantDone()); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(h.s.inbox, "slow.json"))
	if err != nil {
		return err
	}
	defer f.Close()
	chunk := len(data)/5 + 1
	for i := 0; i < len(data); i += chunk {
		end := min(i+chunk, len(data))
		if _, err := f.Write(data[i:end]); err != nil {
			return err
		}
		err := h.p.WaitFor(fmt.Sprintf("the daemon to see slow.json at %d bytes", end), time.Minute, func() bool {
			return slices.ContainsFunc(
				append(h.p.Events("inbox_file_seen"), h.p.Events("inbox_file_changed")...),
				func(l hrmdtest.Line) bool {
					return l.Fields["name"] == "slow.json" && l.Fields["size"] == float64(end)
				},
			)
		})
		if err != nil {
			return err
		}
	}
	return f.Close()
}

// swapInbox renames the inbox away and puts a symbolic link to a private
// folder in its place: nothing there may be touched, /readyz says why;
// then the real folder comes back and files are taken again.
func (h *hostile) swapInbox() error {
	private := filepath.Join(h.e.dir, "private")
	if err := os.Mkdir(private, 0o755); err != nil {
		return err
	}
	if err := h.s.place(filepath.Join(private, "b.json"), h.e.tasks.task(6, "private b.json")); err != nil {
		return err
	}
	if err := h.s.place(filepath.Join(private, "secret.txt"), []byte("not for hrmd\n")); err != nil {
		return err
	}
	away := h.s.inbox + ".away"
	if err := os.Rename(h.s.inbox, away); err != nil {
		return err
	}
	if err := os.Symlink(private, h.s.inbox); err != nil {
		return err
	}
	if err := h.inboxSays(1, 503, "symbolic link"); err != nil {
		return err
	}
	if err := os.Remove(h.s.inbox); err != nil {
		return err
	}
	if err := os.Rename(away, h.s.inbox); err != nil {
		return err
	}
	if err := h.inboxSays(0, 200, "ready"); err != nil {
		return err
	}
	if err := h.s.drop("after-swap.json", h.e.tasks.task(7, "after-swap.json"), wantDone()); err != nil {
		return err
	}
	return h.s.waitFinished(h.s.m.dropped(), 2*time.Minute)
}

// inboxSays waits until hrmd_inbox_unusable and /readyz say what they must.
func (h *hostile) inboxSays(unusable float64, code int, readyz string) error {
	wanted := func(v float64) bool { return v == unusable }
	if _, err := h.p.WaitMetric("hrmd_inbox_unusable", time.Minute, wanted); err != nil {
		return err
	}
	return h.p.WaitReadyz(code, readyz, time.Minute)
}
