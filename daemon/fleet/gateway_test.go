package fleet_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/internal/testenv"
)

// trainingTask is a real ARC task of the training set.
func trainingTask(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.ARCDir(t), "training", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// startMember starts an hrmd playing role in a fleet on the server at url,
// and waits until it is ready.
func startMember(t *testing.T, url, role, name string, edit func(*config.Config)) (*spoolUnderTest, *hrmdtest.Daemon) {
	t.Helper()
	s := fleetSpool(t, url, role, name, edit)
	p := s.start()
	p.WaitEvent("ready", 1, time.Minute)
	return s, p
}

// waitMetric waits until a sample of /metrics reads want.
func waitMetric(t *testing.T, p *hrmdtest.Daemon, sample, want string) {
	t.Helper()
	testenv.WaitFor(t, 2*time.Minute, sample+" = "+want, func() bool { return p.Sample(sample) == want })
}

// A chmod, a touch and a hard link in the gateway's work/ change nothing
// of a published file's identity: across a gateway restart it is
// published again as the same puzzle (a duplicate), and its answer is
// written, none taken for stale.
func TestFleetChmodInWork(t *testing.T) {
	srv := hrmdtest.StartNATS(t, "max_payload: 8MB\n")
	gw, g := startMember(t, srv.URL, config.RoleGateway, "gw", nil)
	names := []string{"007bbfb7.json", "00d62c1b.json", "0520fde7.json"}
	for _, name := range names {
		gw.drop(name, trainingTask(t, name))
	}
	waitMetric(t, g, "hrmd_fleet_in_flight", "3")

	work := func(name string) string { return filepath.Join(gw.work, name) }
	if err := os.Chmod(work(names[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(work(names[1]), later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(work(names[2]), filepath.Join(gw.dir, "link")); err != nil {
		t.Fatal(err)
	}
	stopCleanly(t, g)
	g = gw.start()
	g.WaitEvent("ready", 1, time.Minute)
	waitMetric(t, g, `hrmd_fleet_published_total{result="duplicate",stream="puzzles"}`, "3")

	_, w := startMember(t, srv.URL, config.RoleWorker, "w1", nil)
	for _, name := range names {
		testenv.WaitFor(
			t,
			2*time.Minute,
			"the answer to "+name,
			func() bool { return exists(filepath.Join(gw.outbox, name)) },
		)
	}
	waitMetric(t, g, `hrmd_fleet_answers_received_total{result="written"}`, "3")
	if got := g.Sample(`hrmd_fleet_answers_received_total{result="stale"}`); got != "0" {
		t.Errorf("%s answers taken for stale, want 0", got)
	}
	if got := hrmdtest.Inputs(gw.done); len(got) != 3 {
		t.Errorf("done/ holds %v, want the three tasks", got)
	}
	stopCleanly(t, w)
	stopCleanly(t, g)
}

// A gateway writes the answers of one model: the first answer's (no
// queue.model_sha256). An answer from another model fails its file with
// model_mismatch under queue.mixed_models: refuse (the default), and is
// written under flag; either way the answer names its model.
func TestFleetMixedModels(t *testing.T) {
	tiny, err := bundle.Load(tinyBundle)
	if err != nil {
		t.Fatal(err)
	}
	zero, err := bundle.Load(zeroBundle)
	if err != nil {
		t.Fatal(err)
	}
	zeroModel, err := filepath.Abs(zeroBundle)
	if err != nil {
		t.Fatal(err)
	}
	for _, mixed := range []string{"", config.MixedFlag} {
		t.Run("mixed_models="+mixed, func(t *testing.T) {
			srv := hrmdtest.StartNATS(t, "max_payload: 8MB\n")
			gw, g := startMember(t, srv.URL, config.RoleGateway, "gw", func(c *config.Config) {
				if mixed != "" {
					c.Queue.MixedModels = mixed
				}
			})

			_, w1 := startMember(t, srv.URL, config.RoleWorker, "w1", nil)
			gw.drop("first.json", trainingTask(t, "007bbfb7.json"))
			testenv.WaitFor(
				t,
				2*time.Minute,
				"the first answer",
				func() bool { return exists(filepath.Join(gw.outbox, "first.json")) },
			)
			if l := g.WaitEvent("answered", 1, time.Minute); l.Fields["model_sha256"] != tiny.SHA256 {
				t.Errorf("the gateway's answered line names model %v, want %s", l.Fields["model_sha256"], tiny.SHA256)
			}
			stopCleanly(t, w1)

			_, w2 := startMember(t, srv.URL, config.RoleWorker, "w2", func(c *config.Config) { c.Model = zeroModel })
			gw.drop("second.json", trainingTask(t, "00d62c1b.json"))
			if mixed == config.MixedFlag {
				testenv.WaitFor(
					t,
					2*time.Minute,
					"the second answer",
					func() bool { return exists(filepath.Join(gw.outbox, "second.json")) },
				)
				var a struct {
					Model struct{ SHA256 string } `json:"model"`
				}
				data, err := os.ReadFile(filepath.Join(gw.outbox, "second.json"))
				if err != nil || json.Unmarshal(data, &a) != nil || a.Model.SHA256 != zero.SHA256 {
					t.Errorf("the second answer names model %q (%v), want %s", a.Model.SHA256, err, zero.SHA256)
				}
			} else {
				errFile := filepath.Join(gw.failed, "second.json.error.json")
				testenv.WaitFor(t, 2*time.Minute, errFile, func() bool { return exists(errFile) })
				var e daemon.ErrorFile
				data, err := os.ReadFile(errFile)
				if err != nil || json.Unmarshal(data, &e) != nil || e.Code != "model_mismatch" {
					t.Errorf("error file %s (%v), want code model_mismatch", data, err)
				}
				waitMetric(t, g, `hrmd_fleet_answers_received_total{result="other_model"}`, "1")
				if exists(filepath.Join(gw.outbox, "second.json")) {
					t.Error("the refused answer was written too")
				}
			}
			stopCleanly(t, w2)
			stopCleanly(t, g)
		})
	}
}

// An answer whose write fails is not acked: the gateway killed while the
// outbox is unusable gets it again after a restart, within the
// consumer's ack wait, and writes it once the outbox is back.
func TestFleetAckAfterWrite(t *testing.T) {
	srv := hrmdtest.StartNATS(t, "max_payload: 8MB\n")
	gw, g := startMember(t, srv.URL, config.RoleGateway, "gw", nil)
	gw.drop("a.json", trainingTask(t, "007bbfb7.json"))
	waitMetric(t, g, "hrmd_fleet_in_flight", "1")

	// A file where the outbox was: every write there fails (as root,
	// permissions would not).
	away := gw.outbox + ".away"
	if err := os.Rename(gw.outbox, away); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gw.outbox, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, w := startMember(t, srv.URL, config.RoleWorker, "w1", nil)
	waitMetric(t, g, "hrmd_stuck_files", "1")
	if got := g.Sample("hrmd_fleet_acks_total"); got != "0" {
		t.Errorf("the gateway acked %s answers with none written", got)
	}
	g.Signal(syscall.SIGKILL)
	g.WaitExit(time.Minute)

	if err := os.Remove(gw.outbox); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(away, gw.outbox); err != nil {
		t.Fatal(err)
	}
	g = gw.start()
	g.WaitEvent("ready", 1, time.Minute)
	testenv.WaitFor(
		t,
		2*time.Minute,
		"the answer after the restart",
		func() bool { return exists(filepath.Join(gw.outbox, "a.json")) },
	)
	waitMetric(t, g, `hrmd_fleet_answers_received_total{result="written"}`, "1")
	waitMetric(t, g, "hrmd_fleet_acks_total", "1")
	stopCleanly(t, w)
	stopCleanly(t, g)
}

// role both counts each file once, as the gateway writes it; a gateway's
// stopped line counts the files left in its work/ waiting for answers.
func TestFleetCounts(t *testing.T) {
	srv := hrmdtest.StartNATS(t, "max_payload: 8MB\n")
	s, p := startMember(t, srv.URL, config.RoleBoth, "both", nil)
	for _, name := range []string{"007bbfb7.json", "00d62c1b.json"} {
		s.drop(name, trainingTask(t, name))
	}
	s.drop("broken.json", []byte(`{"test": [{"input": [[1, 2], [3]]}]}`)) // ragged: failed at the claim
	testenv.WaitFor(t, 2*time.Minute, "two answers and a failure", func() bool {
		return len(hrmdtest.Inputs(s.done)) == 2 && len(hrmdtest.Inputs(s.failed)) == 1
	})
	waitMetric(t, p, `hrmd_fleet_acks_total`, "4") // two puzzles and their answers; the gateway fails broken.json itself
	if got := p.Sample(`hrmd_puzzles_total{outcome="answered"}`); got != "2" {
		t.Errorf("hrmd_puzzles_total{outcome=answered} is %s, want 2", got)
	}
	if got := p.Sample(`hrmd_puzzles_total{outcome="failed"}`); got != "1" {
		t.Errorf("hrmd_puzzles_total{outcome=failed} is %s, want 1", got)
	}
	stopCleanly(t, p)
	if l := p.WaitEvent("stopped", 1, time.Second); l.Fields["answered"] != 2.0 || l.Fields["failed"] != 1.0 ||
		l.Fields["left_in_work"] != 0.0 {
		t.Errorf("stopped line %v; want answered 2, failed 1, left_in_work 0", l)
	}

	// The gateway alone: the file it published waits in work/.
	g, gp := startMember(t, srv.URL, config.RoleGateway, "gw", nil)
	g.drop("waits.json", trainingTask(t, "0520fde7.json"))
	waitMetric(t, gp, "hrmd_fleet_in_flight", "1")
	stopCleanly(t, gp)
	if l := gp.WaitEvent("stopped", 1, time.Second); l.Fields["left_in_work"] != 1.0 {
		t.Errorf("stopped line %v; want left_in_work 1 (waits.json)", l)
	}
}
