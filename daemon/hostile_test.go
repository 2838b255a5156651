package daemon_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/internal/testenv"
)

// arcTask is one real ARC task file.
func arcTask(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.ARCDir(t), "training", "007bbfb7.json"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// dropAs writes a file under a short hidden name and renames it into the
// inbox: the careful writer of drop, for names too long for drop's
// temporary name.
func (s *spoolUnderTest) dropAs(name string, data []byte) {
	s.t.Helper()
	tmp := filepath.Join(s.inbox, ".w")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.inbox, name)); err != nil {
		s.t.Fatal(err)
	}
}

// A user's file named like an error file is never written over: q.json's
// error file takes another name when failed/q.json.error.json is the input
// of an earlier failure.
func TestRunNeverOverwritesAFileInFailed(t *testing.T) {
	s := newSpool(t, nil)
	p := s.startInProcess()
	p.WaitEvent("ready", 1, 60*time.Second)
	users := []byte("the user's own file, not a task")
	s.drop("q.json.error.json", users)
	testenv.WaitFor(t, 30*time.Second, "the user's file failed", func() bool { return len(testenv.Names(s.failed)) == 2 })
	s.drop("q.json", []byte(`{"train"`))
	testenv.WaitFor(t, 30*time.Second, "q.json failed", func() bool { return len(testenv.Names(s.failed)) == 4 })
	if data, _ := os.ReadFile(filepath.Join(s.failed, "q.json.error.json")); string(data) != string(users) {
		t.Errorf("failed/q.json.error.json holds %q, want the user's file", data)
	}
	var e daemon.ErrorFile
	testenv.ReadJSON(t, filepath.Join(s.failed, "q.1.json.error.json"), &e)
	if e.File != "q.json" || e.Code == "" {
		t.Errorf("q.json's error file says %+v", e)
	}
	if got := testenv.Names(s.failed); !slices.Equal(
		got,
		[]string{"q.1.json", "q.1.json.error.json", "q.json.error.json", "q.json.error.json.error.json"},
	) {
		t.Errorf("failed/ holds %v", got)
	}
}

// Answers that cannot be written (the outbox replaced by a file, as good as
// a full or read-only one) are kept, not recomputed: the files wait in
// work/ or the inbox, /readyz and a metric say so, and once the outbox is
// back every file is answered without a restart.
func TestRunStuckAnswersAreWrittenLater(t *testing.T) {
	s := newSpool(t, nil)
	p := s.startInProcess()
	p.WaitEvent("ready", 1, 60*time.Second)
	away := s.outbox + ".away"
	if err := os.Rename(s.outbox, away); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, s.dir, "outbox", "not a folder")
	task := arcTask(t)
	for i := range 5 {
		s.drop(fmt.Sprintf("t%d.json", i), task)
	}
	// Files claimed before the first write failed are stuck too.
	testenv.WaitFor(t, 30*time.Second, "hrmd_stuck_files above 0", func() bool {
		n := p.Sample("hrmd_stuck_files")
		return n != "" && n != "0"
	})
	if code, body := p.Get("/readyz"); code != http.StatusServiceUnavailable ||
		!strings.Contains(body, "cannot be written") {
		t.Errorf("/readyz = %d %q while answers cannot be written", code, body)
	}
	// Nothing lost meanwhile: each file is in the inbox or work/.
	if n := len(hrmdtest.Inputs(s.inbox)) + len(hrmdtest.Inputs(s.work)); n != 5 {
		t.Errorf("%d files in the inbox and work/, want 5", n)
	}
	if err := os.Remove(s.outbox); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(away, s.outbox); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 60*time.Second, "every file answered", func() bool { return len(hrmdtest.Inputs(s.done)) == 5 })
	waitMetrics(t, p.Daemon, map[string]string{"hrmd_stuck_files": "0", `hrmd_puzzles_total{outcome="answered"}`: "5"})
	if code, _ := p.Get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d once the outbox is back", code)
	}
	if got := testenv.Names(s.outbox); len(got) != 5 {
		t.Errorf("outbox %v, want 5 answers", got)
	}
	retried := 0
	for _, line := range p.Events("answered") {
		if tries, _ := line.Fields["write_tries"].(float64); tries >= 2 {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("no answered line says its answer took several tries to write: %v", p.Events("answered"))
	}
}

// A name with no room for hrmd's endings fails with name_too_long (its
// error file names it in full) instead of waiting in work/ for ever; the
// longest name taken is answered.
func TestRunNameTooLong(t *testing.T) {
	s := newSpool(t, nil)
	p := s.startInProcess()
	p.WaitEvent("ready", 1, 60*time.Second)
	long := strings.Repeat("l", 245) + ".json"
	longest := strings.Repeat("k", 231) + ".json" // 236 bytes
	s.dropAs(long, arcTask(t))
	s.dropAs(longest, arcTask(t))
	testenv.WaitFor(t, 60*time.Second, "both files finished", func() bool {
		return len(hrmdtest.Inputs(s.failed))+len(hrmdtest.Inputs(s.done)) == 2
	})
	if got := hrmdtest.Inputs(s.done); !slices.Equal(got, []string{longest}) {
		t.Errorf("done/ %v, want the 236-byte name", got)
	}
	failed := hrmdtest.Inputs(s.failed)
	if len(failed) != 1 {
		t.Fatalf("failed/ %v", testenv.Names(s.failed))
	}
	var e daemon.ErrorFile
	testenv.ReadJSON(t, filepath.Join(s.failed, failed[0]+".error.json"), &e)
	if e.Code != "name_too_long" || e.File != long || !strings.Contains(e.Message, "rename the file shorter") {
		t.Errorf("error file %+v", e)
	}
}

// A read that fails for want of file descriptors is not bad input: the file
// waits in work/ and is answered once descriptors are free again.
func TestRunReadsAgainAfterPassingErrors(t *testing.T) {
	s := newSpool(t, nil)
	p := s.start()
	p.WaitEvent("ready", 1, 60*time.Second)
	// The watcher has its inotify descriptor once it has scanned at start.
	waitMetrics(t, p, map[string]string{`hrmd_inbox_scans_total{reason="start"}`: "1"})
	pid := p.Pid()
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	// No descriptor left to open (a new one must be below the limit, and
	// 0-2 are taken): the claim (a rename) works, the read cannot.
	tight := unix.Rlimit{Cur: 3, Max: old.Max}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &tight, nil); err != nil {
		t.Fatal(err)
	}
	s.drop("t.json", arcTask(t))
	p.WaitEvent("read_retry", 1, 30*time.Second)
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 60*time.Second, "the file answered", func() bool { return len(hrmdtest.Inputs(s.done)) == 1 })
	if got := hrmdtest.Inputs(s.failed); len(got) != 0 {
		t.Errorf("failed/ %v: a passing error failed the file for good", got)
	}
}

// Two daemons given one instance name cannot run together; a work/ folder
// no daemon holds is reported at start, and taken up with --adopt-orphans.
func TestRunWorkLockAndOrphans(t *testing.T) {
	s := newSpool(t, nil)
	orphaned := filepath.Join(filepath.Dir(s.work), "old-host")
	testenv.WriteFile(t, orphaned, "left.json", string(arcTask(t)))
	p := s.start()
	p.WaitEvent("ready", 1, 60*time.Second)
	w := p.Events("orphans")
	if len(w) != 1 || w[0].Fields["folder"] != orphaned || w[0].Fields["files"] != 1.0 {
		t.Errorf("orphan report %v", w)
	}
	if got := p.Sample("hrmd_orphaned_files"); got != "1" {
		t.Errorf("hrmd_orphaned_files %s, want 1", got)
	}
	second := runHrmd(t, "run", "--config", s.config, "--instance", "test")
	if second.Code == 0 ||
		!strings.Contains(second.Stderr, fmt.Sprintf("another hrmd (pid %d) runs as instance \"test\"", p.Pid())) {
		t.Errorf("a second daemon named test: exit %d, %s", second.Code, second.Stderr)
	}
	p.Signal(syscall.SIGTERM)
	p.WaitExit(30 * time.Second)

	s.args = []string{"--adopt-orphans"}
	p = s.start()
	testenv.WaitFor(
		t,
		60*time.Second,
		"the orphaned file answered",
		func() bool { return len(hrmdtest.Inputs(s.done)) == 1 },
	)
	if got := testenv.Names(orphaned); len(got) != 0 {
		t.Errorf("%s still holds %v", orphaned, got)
	}
	p.Signal(syscall.SIGTERM)
	p.WaitExit(30 * time.Second)
}

// The inbox deleted and made again is watched again (without rescans: only
// inotify finds the file). The inbox replaced by a symbolic link is not
// followed: nothing in the folder it points to is moved, /readyz and a
// metric say why, and a real folder put back is used again.
func TestRunInboxReplaced(t *testing.T) {
	s := newSpool(t, func(c *config.Config) { c.Watch.Rescan = 0 })
	p := s.startInProcess()
	p.WaitEvent("ready", 1, 60*time.Second)
	if err := os.Remove(s.inbox); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.inbox, 0o755); err != nil {
		t.Fatal(err)
	}
	p.WaitEvent("inbox_replaced", 1, 30*time.Second)
	s.drop("a.json", arcTask(t))
	testenv.WaitFor(t, 60*time.Second, "a.json answered", func() bool { return len(hrmdtest.Inputs(s.done)) == 1 })

	// Deleted and made again at once, the inbox may or may not have been
	// seen gone in between.
	const unusable = "inbox_unusable"
	before := len(p.Events(unusable))
	private := filepath.Join(s.dir, "private")
	testenv.WriteFile(t, private, "secret.txt", "not for hrmd")
	testenv.WriteFile(t, private, "b.json", string(arcTask(t)))
	if err := os.Rename(s.inbox, s.inbox+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(private, s.inbox); err != nil {
		t.Fatal(err)
	}
	waitMetrics(t, p.Daemon, map[string]string{"hrmd_inbox_unusable": "1"})
	testenv.WaitFor(t, 30*time.Second, "/readyz saying the inbox is a symbolic link", func() bool {
		code, body := p.Get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "symbolic link")
	})
	if got := testenv.Names(private); !slices.Equal(got, []string{"b.json", "secret.txt"}) {
		t.Errorf("the folder the link points to now holds %v", got)
	}
	if err := os.Remove(s.inbox); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.inbox, 0o755); err != nil {
		t.Fatal(err)
	}
	waitMetrics(t, p.Daemon, map[string]string{"hrmd_inbox_unusable": "0"})
	s.drop("c.json", arcTask(t))
	testenv.WaitFor(t, 60*time.Second, "c.json answered", func() bool { return len(hrmdtest.Inputs(s.done)) == 2 })
	if got := testenv.Names(private); !slices.Equal(got, []string{"b.json", "secret.txt"}) {
		t.Errorf("the folder the link pointed to now holds %v", got)
	}
	if n := len(p.Events(unusable)) - before; n != 1 {
		t.Errorf("the unusable inbox was logged %d times, want once", n)
	}
}

// SIGTERM while the first model loads stops the daemon without waiting for
// the load (here one that never ends: its manifest is a pipe nobody
// writes), and systemd is asked for more start-up time only up to
// tensorrt.max_build, so that a hung engine build is stopped in the end.
func TestRunStopsDuringFirstLoad(t *testing.T) {
	model := blockedModel(t)
	s := newSpool(t, func(c *config.Config) {
		c.Model = model
		c.TensorRT.MaxBuild = config.Duration(time.Second)
	})
	// Longer than the 10 s between extensions: more would have come.
	s.args = []string{"--shutdown-timeout", "12s"}
	n := listenNotify(t)
	p := s.start("NOTIFY_SOCKET=" + n.path)
	p.WaitEvent("load_overdue", 1, 30*time.Second)
	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(60 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM during the load", code)
	}
	p.WaitEvent("stopping_while_loading", 1, time.Second)
	p.WaitEvent("load_abandoned", 1, time.Second)
	extends, msgs := 0, n.settled(t)
	for _, m := range msgs {
		if strings.HasPrefix(m, "EXTEND_TIMEOUT_USEC=") {
			extends++
		}
	}
	if extends != 1 {
		t.Errorf("%d EXTEND_TIMEOUT_USEC messages, want 1 (the cap is 1 s): %v", extends, msgs)
	}
}

// A claim that fails (here work/ is a file; across filesystems it would be
// EXDEV) is logged with a growing pause between tries, not at every look
// at the inbox, and the file is claimed once the fault is gone.
func TestRunClaimFailuresBackOff(t *testing.T) {
	s := newSpool(t, nil)
	p := s.startInProcess()
	p.WaitEvent("ready", 1, 60*time.Second)
	if err := os.Remove(s.work); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, filepath.Dir(s.work), filepath.Base(s.work), "not a folder")
	s.drop("t.json", arcTask(t))
	second := p.WaitEvent("claim_failed", 2, 30*time.Second)
	if second.Fields["tries"] != 2.0 || second.Fields["retry_in"] != 2.0 {
		t.Errorf(
			"the second claim failure says tries %v, retry_in %v; want 2 and 2 (s)",
			second.Fields["tries"],
			second.Fields["retry_in"],
		)
	}
	if err := os.Remove(s.work); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.work, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 60*time.Second, "t.json answered", func() bool { return len(hrmdtest.Inputs(s.done)) == 1 })
	if n := len(p.Events("claim_failed")); n > 6 {
		t.Errorf("the failing claim was logged %d times", n)
	}
}

// The task files read and not yet answered are held within a budget (16 x
// watch.max_file_bytes): behind a device too hot to run a batch, files
// left in work/ are read only until the budget is reached, and the rest
// once answers make room.
func TestRunMemoryBudget(t *testing.T) {
	root := fakeSysroot(t, orinNanoFixture)
	setTemperatures(t, root, map[string]int{"cpu-thermal": 95})
	const maxBytes, size = 20000, 19000
	s := newSpool(t, func(c *config.Config) {
		c.Inference.MaxCycles, c.Inference.DemoCheck = 1, false
		c.Watch.MaxFileBytes = maxBytes
		c.Thermal.Poll = config.Duration(time.Second)
	})
	s.sysroot = root
	task := arcTask(t)
	padded := string(task) + strings.Repeat(" ", size-len(task))
	for i := range 40 {
		testenv.WriteFile(t, s.work, fmt.Sprintf("t%02d.json", i), padded)
	}
	p := s.startInProcess()
	budget := p.WaitEvent("budget_reached", 1, 60*time.Second)
	read := (16*maxBytes + size - 1) / size // files until the budget is reached
	if budget.Fields["budget"] != float64(16*maxBytes) || budget.Fields["bytes"] != float64(read*size) {
		t.Errorf("budget line %v, want bytes %d of budget %d", budget, read*size, 16*maxBytes)
	}
	if got := p.Sample("hrmd_queue_depth"); got != fmt.Sprint(read) {
		t.Errorf("hrmd_queue_depth %s with the budget reached, want %d", got, read)
	}
	setTemperatures(t, root, map[string]int{"cpu-thermal": 60})
	testenv.WaitFor(t, 120*time.Second, "40 files answered", func() bool { return len(hrmdtest.Inputs(s.done)) == 40 })
	waitMetrics(t, p.Daemon, map[string]string{"hrmd_queued_file_bytes": "0", "hrmd_queue_depth": "0"})
}
