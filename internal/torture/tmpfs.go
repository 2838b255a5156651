package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tmpfsSize is the filesystem the spool fills: room for the tasks and
// their answers many times over, small enough to fill in a moment.
const tmpfsSize = 8 << 20

// mountNS is a private mount namespace holding a small tmpfs, kept alive
// by a process that sleeps in it; the driver sees its files through that
// process's /proc/<pid>/root, and nothing is mounted on this machine's
// own view: the tmpfs goes when the process does.
type mountNS struct {
	holder *exec.Cmd
	view   string // /proc/<pid>/root
}

func mountTmpfs(dir string, size int) (*mountNS, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command("sh", "-c", `mount -t tmpfs -o size="$1" hrmd-torture "$2" && echo mounted && exec sleep 86400`,
		"sh", strconv.Itoa(size), dir)
	// Go makes / private in the new namespace, as unshare(1) does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("a mount namespace for the tmpfs: %w", err)
	}
	ns := &mountNS{holder: cmd, view: fmt.Sprintf("/proc/%d/root", cmd.Process.Pid)}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "mounted" {
		ns.close()
		return nil, fmt.Errorf("mount a tmpfs on %s in a private mount namespace failed (%q, %v)", dir, line, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(ns.view+dir, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		ns.close()
		return nil, fmt.Errorf("%s%s is not the tmpfs (statfs %v, type %#x)", ns.view, dir, err, st.Type)
	}
	return ns, nil
}

func (ns *mountNS) close() {
	ns.holder.Process.Kill()
	ns.holder.Wait()
}

// nsenter runs a command in the namespace.
func (ns *mountNS) nsenter() []string {
	return []string{"nsenter", "-t", strconv.Itoa(ns.holder.Process.Pid), "-m", "--"}
}

// fill writes a ballast file until the filesystem is full (ENOSPC).
func fill(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4 << 10, 512} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					return err
				}
				break
			}
		}
	}
	return nil
}

// tmpfsRun is the full-disk scenario under way.
type tmpfsRun struct {
	e          *env
	s          *spool
	p          *hrmd
	mnt        string // the tmpfs as the driver sees it
	recoveries []string
	stuckMax   float64 // hrmd_stuck_files at its highest
	stuckAfter int     // files in the inbox or work/ once space had returned and the rest were answered
}

// readyOnTmpfs mounts a tmpfs of size bytes at dir (e.dir/fs) in a mount
// namespace of its own, makes a spool on it, and starts a daemon inside
// that namespace, ready. The namespace is the caller's to close.
func (e *env) readyOnTmpfs(size int) (dir string, ns *mountNS, s *spool, p *hrmd, err error) {
	dir = filepath.Join(e.dir, "fs")
	if ns, err = mountTmpfs(dir, size); err != nil {
		return "", nil, nil, nil, err
	}
	if s, err = e.newSpoolAt(dir, ns.view, nil); err == nil {
		p, err = e.startReady(s, startOpts{wrap: ns.nsenter()})
	}
	if err != nil {
		ns.close()
		return "", nil, nil, nil, err
	}
	return dir, ns, s, p, nil
}

// runTmpfs: inbox, outbox and spool on a small tmpfs in a mount namespace
// of their own. The filesystem fills (a ballast file) with tasks arriving;
// they must wait in the inbox or work/ with /readyz and hrmd_stuck_files
// saying so; the ballast goes and, with no restart, every file is answered
// (how long that took is reported). Then again, cycles times.
func runTmpfs(e *env) (report, error) {
	dir, ns, s, p, err := e.readyOnTmpfs(tmpfsSize)
	if err != nil {
		return report{}, err
	}
	defer ns.close()
	t := &tmpfsRun{e: e, s: s, p: p, mnt: ns.view + dir}
	for c := range e.size.cycles {
		if err := t.cycle(c); err != nil {
			return report{}, err
		}
	}
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	v := s.check() // before the namespace, and the tmpfs, go
	return report{
		what: fmt.Sprintf("%d files, %d MiB tmpfs filled and emptied %d times", v.files, tmpfsSize>>20, e.size.cycles),
		v:    v,
		extra: []string{fmt.Sprintf("up to %g files stuck while full", t.stuckMax),
			fmt.Sprintf("stuck in work/ after space returned %d", t.stuckAfter+v.stuck),
			"recovery without a restart " + strings.Join(t.recoveries, ", ")},
	}, nil
}

// cycle stages tasks (and one bad file) under hidden names, fills the
// filesystem, lets the tasks in, checks that they wait, then frees the
// space and times how long until every one is answered.
func (t *tmpfsRun) cycle(c int) error {
	staged := map[string][]byte{fmt.Sprintf("full%d-bad.json", c): []byte(`{"test": [`)}
	for i := range t.e.size.tmpfsFiles {
		name := fmt.Sprintf("full%d-%03d.json", c, i)
		staged[name] = t.e.tasks.task(i, name)
	}
	for name, data := range staged {
		if err := os.WriteFile(filepath.Join(t.s.inbox, ".stage-"+name), data, 0o644); err != nil {
			return err
		}
	}
	ballast := filepath.Join(t.mnt, "ballast")
	if err := fill(ballast); err != nil {
		return err
	}
	for name, data := range staged {
		w := wantDone()
		if strings.HasSuffix(name, "-bad.json") {
			w = wantFailed("not_json")
		}
		if err := os.Rename(filepath.Join(t.s.inbox, ".stage-"+name), filepath.Join(t.s.inbox, name)); err != nil {
			return err
		}
		if err := t.s.m.expect(contentID(data), name, w); err != nil {
			return err
		}
	}
	return t.full(ballast)
}

// full checks the daemon while nothing can be written, then empties the
// filesystem and waits for every file.
func (t *tmpfsRun) full(ballast string) error {
	stuck, err := t.p.WaitMetric("hrmd_stuck_files", 2*time.Minute, func(v float64) bool { return v > 0 })
	if err != nil {
		return err
	}
	t.stuckMax = max(t.stuckMax, stuck)
	if err := t.p.WaitReadyz(503, "cannot be written", time.Minute); err != nil {
		return err
	}
	total := t.s.m.dropped()
	if got := t.s.finished() + t.s.waiting(); got != total {
		t.e.problem("with the disk full, %d files are in the inbox, work/, done/ and failed/; %d were dropped", got, total)
	}
	if err := os.Remove(ballast); err != nil {
		return err
	}
	freed := time.Now()
	if err := t.s.waitFinished(total, 5*time.Minute); err != nil {
		return err
	}
	t.recoveries = append(t.recoveries, fmt.Sprintf("%.1f s", time.Since(freed).Seconds()))
	if _, err := t.p.WaitMetric("hrmd_stuck_files", time.Minute, func(v float64) bool { return v == 0 }); err != nil {
		return err
	}
	if err := t.p.WaitReadyz(200, "ready", time.Minute); err != nil {
		return err
	}
	t.stuckAfter += t.s.waiting()
	return nil
}
