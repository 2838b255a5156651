package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/spool"
	"github.com/hrmd/hrmd/internal/testenv"
)

// newClaimsDaemon is a daemon with its spool open and nothing running: the
// test plays the watcher and the worker.
func newClaimsDaemon(t *testing.T) *daemon {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Inbox, cfg.Outbox = filepath.Join(dir, "inbox"), filepath.Join(dir, "outbox")
	cfg.Spool = filepath.Join(dir, "spool")
	d := &daemon{cfg: cfg, log: zap.NewNop(), metrics: newMetrics(), limits: cfg.Limits(), settle: 10 * time.Millisecond,
		jobs: make(chan *job, 8)}
	d.inboxOK = newInboxHealth(d.metrics.inboxLost)
	d.stuck = newStuckOutcomes(d)
	d.budget = newMemoryBudget(filesInMemory*d.limits.Bytes, d.log, d.metrics)
	var err error
	if d.spool, err = spool.Open(cfg.Layout("a")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.spool.Close)
	return d
}

// drop puts a task in the inbox and returns it as the watcher hands it over.
func drop(t *testing.T, d *daemon, name string, data []byte) settledFile {
	t.Helper()
	testenv.WriteFile(t, d.spool.Inbox, name, string(data))
	info, err := os.Lstat(filepath.Join(d.spool.Inbox, name))
	if err != nil {
		t.Fatal(err)
	}
	return snapshot(name, info)
}

func someTask(t *testing.T) []byte {
	for _, data := range testenv.ARCTasks(t, 1) {
		return data
	}
	t.Fatal("no task")
	return nil
}

// L7: a claim that fails for another reason than the file being gone (a
// bind mount over the inbox gives EXDEV; here work/a is a file) makes the
// inbox unusable in /readyz and hrmd_inbox_unusable, and usable again once
// a claim works.
func TestClaimFaultMakesTheInboxUnusable(t *testing.T) {
	d := newClaimsDaemon(t)
	in := newIntake(d)
	f := drop(t, d, "x.json", someTask(t))
	work := d.spool.Work()
	if err := os.Rename(work, work+".away"); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, filepath.Dir(work), filepath.Base(work), "not a folder")
	in.claim(context.Background(), f)
	if d.inboxOK.usable() || testutil.ToFloat64(d.metrics.inboxLost) != 1 ||
		!strings.Contains(d.inboxOK.reason(), "x.json") {
		t.Fatalf(
			"after a failed claim: usable %v, hrmd_inbox_unusable %v, reason %q",
			d.inboxOK.usable(),
			testutil.ToFloat64(d.metrics.inboxLost),
			d.inboxOK.reason(),
		)
	}
	if err := os.Remove(work); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(work+".away", work); err != nil {
		t.Fatal(err)
	}
	delete(in.claimFailed, "x.json") // its backoff is over
	in.claim(context.Background(), f)
	if !d.inboxOK.usable() || testutil.ToFloat64(d.metrics.inboxLost) != 0 {
		t.Errorf(
			"after a claim that worked: usable %v, hrmd_inbox_unusable %v",
			d.inboxOK.usable(),
			testutil.ToFloat64(d.metrics.inboxLost),
		)
	}
	if j := <-d.jobs; j.job != "x.json" {
		t.Errorf("claimed %q", j.job)
	}
}

// L10: a short name ending in .name-too-long is read as a task like any
// other, also when taken up from work/ after a restart.
func TestNameEndingNameTooLongIsATask(t *testing.T) {
	d := newClaimsDaemon(t)
	in := newIntake(d)
	const name = "abc.name-too-long"
	in.claim(context.Background(), drop(t, d, name, someTask(t)))
	if j := <-d.jobs; j.job != name || j.failed {
		t.Errorf("claimed %q (failed %v)", j.job, j.failed)
	}
	d.inWork.drop(name) // as after a restart: found in work/
	if !in.admit(context.Background(), name, name) {
		t.Fatal("admit stopped")
	}
	if j := <-d.jobs; j.job != name {
		t.Errorf("taken up %q", j.job)
	}
	if names := testenv.Names(d.spool.Failed()); len(names) != 0 {
		t.Errorf("failed/ holds %v", names)
	}
}

// L3 in the daemon: an outcome whose input left work/ is done with
// (dropped and logged), not kept for the retrier.
func TestOutcomeOfAGoneInputIsDropped(t *testing.T) {
	d := newClaimsDaemon(t)
	c, err := d.spool.Claim(drop(t, d, "x.json", someTask(t)).name)
	if err != nil {
		t.Fatal(err)
	}
	d.inWork.add(c.Job)
	if err := os.Remove(d.spool.WorkPath(c.Job)); err != nil {
		t.Fatal(err)
	}
	if !d.tryWrite(&Outcome{Work: c.Job, Name: "x.json", Answer: []byte("{}")}) {
		t.Error("the outcome of an input gone from work/ is kept for a retry")
	}
	if d.inWork.has(c.Job) || len(testenv.Names(d.spool.Outbox)) != 0 {
		t.Errorf("in work %v, outbox %v", d.inWork.has(c.Job), testenv.Names(d.spool.Outbox))
	}
}

// L5 in the daemon: while another daemon of this instance holds the lock
// (spool/work deleted, and it started), the watcher's check makes the inbox
// unusable (/readyz 503); once that daemon stops, the lock is taken again.
func TestLockLostMakesTheInboxUnusable(t *testing.T) {
	d := newClaimsDaemon(t)
	w := newWatcher(d.spool.InboxPath(), 10*time.Millisecond, 0, zap.NewNop(), d.metrics)
	w.spool, w.health, w.noInotify = d.spool, d.inboxOK, true
	if err := os.RemoveAll(d.spool.WorkRoot()); err != nil {
		t.Fatal(err)
	}
	other, err := spool.Open(d.spool.Layout)
	if err != nil {
		t.Fatal(err)
	}
	w.checkInbox(nil)
	if d.inboxOK.usable() || !strings.Contains(d.inboxOK.reason(), `instance "a"`) ||
		testutil.ToFloat64(d.metrics.inboxLost) != 1 {
		t.Errorf("with the lock held by another: usable %v (%s)", d.inboxOK.usable(), d.inboxOK.reason())
	}
	other.Close()
	w.checkInbox(nil)
	if !d.inboxOK.usable() || testutil.ToFloat64(d.metrics.inboxLost) != 0 {
		t.Errorf("once the other stopped: usable %v (%s)", d.inboxOK.usable(), d.inboxOK.reason())
	}
	if _, err := spool.Open(d.spool.Layout); err == nil {
		t.Error("a third daemon a started: the lock was not taken again")
	}
}
