package daemon_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

// badTasks are one file for each way a task file can be wrong, with the code
// each must fail with.
func badTasks() map[string]struct {
	data []byte
	code string
} {
	row31 := "[" + strings.TrimSuffix(strings.Repeat("[1],", 31), ",") + "]"
	big := []byte(`{"test":[{"input":[[1]]}]}` + strings.Repeat(" ", 300000))
	return map[string]struct {
		data []byte
		code string
	}{
		"bad-not-json.json":      {[]byte(`{"train": [`), puzzles.CodeNotJSON},
		"bad-too-large.json":     {[]byte(`{"test":[{"input":` + row31 + `}]}`), puzzles.CodeGridTooLarge},
		"bad-ragged.json":        {[]byte(`{"test":[{"input":[[1,2],[3]]}]}`), puzzles.CodeRaggedGrid},
		"bad-colour.json":        {[]byte(`{"test":[{"input":[[1,10]]}]}`), puzzles.CodeBadColour},
		"bad-no-test.json":       {[]byte(`{"train":[],"test":[]}`), puzzles.CodeNoTestInput},
		"bad-too-big.json":       {big, puzzles.CodeTooBig},
		"bad-empty-grid.json":    {[]byte(`{"test":[{"input":[]}]}`), puzzles.CodeEmptyGrid},
		"bad-not-a-grid.json":    {[]byte(`{"test":[{"input":"grid"}]}`), puzzles.CodeNotAGrid},
		"bad-unknown-field.json": {[]byte(`{"test":[{"input":[[1]]}],"hint":1}`), puzzles.CodeUnknownField},
		"bad-no-output.json":     {[]byte(`{"train":[{"input":[[1]]}],"test":[{"input":[[1]]}]}`), puzzles.CodeNoOutput},
	}
}

// 200 files at once, 10 of them bad: 190 answers, 10 failures with the right
// codes, nothing left in the inbox or work/, and files sharing batches. To
// make the sharing certain rather than a matter of timing, the burst waits
// behind a hot device: 100 files an earlier run left in work/ fill the
// worker's queue while it may start no batch, 100 more wait in the inbox;
// then it cools down.
func TestRunBurst(t *testing.T) {
	root := fakeSysroot(t, orinNanoFixture)
	setTemperatures(t, root, map[string]int{"cpu-thermal": 95})
	s := newSpool(t, func(c *config.Config) {
		c.Inference.MaxCycles = 2
		// One row per test input: batches of more than one row can only
		// come from several files run together. On the CPU, max_batch auto
		// would run every row alone.
		c.Inference.DemoCheck = false
		c.Inference.MaxBatch = 4
		// Under bad-too-big.json, and with a memory budget (16 times
		// this, of parsed files) that holds all 190 tasks.
		c.Watch.MaxFileBytes = 250000
		c.Thermal.Poll = config.Duration(time.Second)
	})
	s.sysroot = root
	good := testenv.ARCTasks(t, 190)
	bad := badTasks()
	left := 0
	if err := os.MkdirAll(s.work, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range good {
		if left < 100 {
			testenv.WriteFile(t, s.work, name, string(data))
			left++
		}
	}
	p := s.startInProcess()
	p.WaitEvent("ready", 1, 60*time.Second)
	p.WaitEvent("batch_held", 1, 60*time.Second)
	// The intake has queued what the worker can hold and waits to hand it more.
	testenv.WaitFor(t, 60*time.Second, "the worker's queue full", func() bool {
		var depth float64
		fmt.Sscan(p.Sample("hrmd_queue_depth"), &depth)
		return depth >= 64
	})
	for name, data := range good {
		if _, err := os.Stat(filepath.Join(s.work, name)); err != nil {
			s.drop(name, data)
		}
	}
	for name, b := range bad {
		s.drop(name, b.data)
	}
	setTemperatures(t, root, map[string]int{"cpu-thermal": 60})
	testenv.WaitFor(t, 300*time.Second, "200 files in done/ and failed/", func() bool {
		return len(hrmdtest.Inputs(s.done))+len(hrmdtest.Inputs(s.failed)) >= 200
	})
	if n := testenv.Names(s.inbox); len(n) != 0 {
		t.Errorf("inbox not empty: %v", n)
	}
	if n := testenv.Names(s.work); len(n) != 0 {
		t.Errorf("work/ not empty: %v", n)
	}
	if got := hrmdtest.Inputs(s.done); len(got) != 190 {
		t.Errorf("%d files in done/, want 190", len(got))
	}
	for name := range good {
		var a puzzles.AnswerFile
		testenv.ReadJSON(t, filepath.Join(s.outbox, name), &a)
		if a.Task != strings.TrimSuffix(name, ".json") || len(a.Answers) == 0 || a.Answers[0].Cycles != 2 ||
			a.DemoCheck != nil {
			t.Errorf("%s: answer %+v", name, a)
		}
	}
	if n := testenv.Names(s.outbox); len(n) != 190 {
		t.Errorf("%d files in outbox/, want 190", len(n))
	}
	for name, b := range bad {
		var e daemon.ErrorFile
		testenv.ReadJSON(t, filepath.Join(s.failed, name+".error.json"), &e)
		if e.Code != b.code || e.File != name || e.Message == "" || e.At.IsZero() {
			t.Errorf("%s: error file %+v, want code %s", name, e, b.code)
		}
		if _, err := os.Stat(filepath.Join(s.failed, name)); err != nil {
			t.Errorf("%s is not in failed/: %v", name, err)
		}
	}
	waitMetrics(t, p.Daemon, map[string]string{
		`hrmd_puzzles_total{outcome="answered"}`:         "190",
		`hrmd_puzzles_total{outcome="failed"}`:           "10",
		`hrmd_puzzle_failures_total{code="ragged_grid"}`: "1",
		`hrmd_queue_depth`:                               "0",
	})
	// 64 files (a row or two each) waited in the queue when the device
	// cooled: the worker filled batches of max_batch (4) rows from them,
	// 16 at least.
	var upTo3, upTo4 float64
	fmt.Sscan(p.Sample(`hrmd_batch_size_bucket{le="3"}`), &upTo3)
	fmt.Sscan(p.Sample(`hrmd_batch_size_bucket{le="4"}`), &upTo4)
	if full := upTo4 - upTo3; full < 16 {
		t.Errorf("%g batches of 4 rows, want at least 16: files were not batched together", full)
	}
	p.stop()
}

// waitMetrics waits until every sample of /metrics has its value: a file
// reaches done/ or failed/ a moment before it is counted.
func waitMetrics(t *testing.T, p *hrmdtest.Daemon, want map[string]string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := map[string]string{}
		for sample := range want {
			got[sample] = p.Sample(sample)
		}
		if maps.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics reads %v, want %v", got, want)
		}
	}
}

// A writer that writes one task in 5 chunks, without the rename trick, is
// answered once, and correctly. Each chunk is written once the daemon has
// seen the one before (its debug log), well within the settle time.
func TestRunSlowWriter(t *testing.T) {
	s := newSpool(t, func(c *config.Config) { c.Watch.Settle = config.Duration(3 * time.Second) })
	p := s.startInProcess()
	p.WaitEvent("ready", 1, 60*time.Second)
	data, err := os.ReadFile(filepath.Join(testenv.ARCDir(t), "training", "3631a71a.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(s.inbox, "slow.json"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := len(data)/5 + 1
	for i := 0; i < len(data); i += chunk {
		end := min(i+chunk, len(data))
		if _, err := f.Write(data[i:end]); err != nil {
			t.Fatal(err)
		}
		testenv.WaitFor(t, 60*time.Second, fmt.Sprintf("the daemon to see slow.json at %d bytes", end), func() bool {
			return slices.ContainsFunc(p.Events("inbox_file_seen", "inbox_file_changed"), func(l hrmdtest.Line) bool {
				return l.Fields["name"] == "slow.json" && l.Fields["size"] == float64(end)
			})
		})
	}
	f.Close()
	testenv.WaitFor(
		t,
		60*time.Second,
		"slow.json answered",
		func() bool { return len(hrmdtest.Inputs(s.done))+len(hrmdtest.Inputs(s.failed)) > 0 },
	)
	// A partial claim would have failed (not JSON) before the whole file
	// was claimed: after a clean stop, the folders tell everything.
	p.stop()
	if got, failed := hrmdtest.Inputs(s.done), hrmdtest.Inputs(s.failed); !slices.Equal(got, []string{"slow.json"}) ||
		len(failed) != 0 {
		t.Fatalf("done %v, failed %v: want slow.json answered once", got, failed)
	}
	if got := testenv.Names(s.outbox); !slices.Equal(got, []string{"slow.json"}) {
		t.Fatalf("outbox %v", got)
	}
	// The answer is the reference's: the golden file holds PyTorch's answer
	// for this task.
	var want puzzles.Grid
	for _, c := range testenv.ReadGolden(t, tinyBundle).Cases {
		if strings.Contains(c.Source, "3631a71a") {
			want = c.Decoded
		}
	}
	var a puzzles.AnswerFile
	testenv.ReadJSON(t, filepath.Join(s.outbox, "slow.json"), &a)
	if want == nil || !a.Answers[0].Attempt1.Equal(want) {
		t.Errorf("answer %v, PyTorch %v", a.Answers[0].Attempt1, want)
	}
}

// startBurst starts hrmd (batches of 2), drops n real tasks at once, and
// returns once `answered` files are answered: in the middle of the burst.
func startBurst(t *testing.T, n, answered int) (*spoolUnderTest, *hrmdtest.Daemon, map[string][]byte) {
	t.Helper()
	s := newSpool(t, func(c *config.Config) { c.Inference.MaxBatch = 2 })
	tasks := testenv.ARCTasks(t, n)
	p := s.start()
	p.WaitEvent("ready", 1, 60*time.Second)
	for name, data := range tasks {
		s.drop(name, data)
	}
	p.WaitEvent("answered", answered, 60*time.Second)
	return s, p, tasks
}

// kill -9 in the middle of a burst, then a restart: every file ends in done/
// or failed/, and none is answered twice.
func TestRunKillAndRestart(t *testing.T) {
	s, p, tasks := startBurst(t, 60, 8)
	p.Signal(syscall.SIGKILL)
	p.WaitExit(10 * time.Second)
	before := len(hrmdtest.Inputs(s.done))
	if before >= len(tasks) {
		t.Fatalf("all %d answered before the kill: the test needs a kill mid-burst", before)
	}
	t.Logf(
		"killed with %d answered, %d in work/, %d in the inbox",
		before,
		len(testenv.Names(s.work)),
		len(testenv.Names(s.inbox)),
	)

	p = s.start()
	testenv.WaitFor(t, 120*time.Second, "every file in done/ or failed/", func() bool {
		return len(hrmdtest.Inputs(s.done))+len(hrmdtest.Inputs(s.failed)) >= len(tasks)
	})
	p.Signal(syscall.SIGTERM)
	p.WaitExit(20 * time.Second)
	done, outbox := hrmdtest.Inputs(s.done), testenv.Names(s.outbox)
	slices.Sort(done)
	want := make([]string, 0, len(tasks))
	for name := range tasks {
		want = append(want, name)
	}
	slices.Sort(want)
	// Answered twice would show as a suffixed copy (<name>.1.json) or a
	// second answer; and nothing may be missing.
	if !slices.Equal(done, want) || len(hrmdtest.Inputs(s.failed)) != 0 {
		t.Errorf(
			"done/ has %d files (want exactly the %d dropped), failed/ %v",
			len(done),
			len(want),
			hrmdtest.Inputs(s.failed),
		)
	}
	if !slices.Equal(outbox, want) {
		t.Errorf("outbox has %d answers, want one per file (%d)", len(outbox), len(want))
	}
	if n := testenv.Names(s.work); len(n) != 0 {
		t.Errorf("work/ not empty: %v", n)
	}
}

// SIGTERM with a full queue: exit 0 within the timeout and nothing lost;
// what was not finished is answered after the next start.
func TestRunSigtermWithFullQueue(t *testing.T) {
	s, p, tasks := startBurst(t, 40, 1)
	started := time.Now()
	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(15 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	took := time.Since(started)
	all := len(
		testenv.Names(s.inbox),
	) + len(
		testenv.Names(s.work),
	) + len(
		hrmdtest.Inputs(s.done),
	) + len(
		hrmdtest.Inputs(s.failed),
	)
	if all != len(tasks) {
		t.Fatalf("after SIGTERM: %d files in inbox, work/, done/ and failed/, want %d", all, len(tasks))
	}
	if len(hrmdtest.Inputs(s.done)) == len(tasks) {
		t.Fatalf("everything answered before the stop: the queue was not full")
	}
	t.Logf(
		"stopped in %s with %d answered and %d in work/",
		took,
		len(hrmdtest.Inputs(s.done)),
		len(testenv.Names(s.work)),
	)
	if stopped := p.Events("stopped"); len(stopped) != 1 || stopped[0].Fields["left_in_work"].(float64) == 0 {
		t.Errorf("stop log %v: want the files left in work/ counted", stopped)
	}

	p = s.start()
	testenv.WaitFor(t, 120*time.Second, "every file answered after the restart", func() bool {
		return len(hrmdtest.Inputs(s.done)) == len(tasks)
	})
	if n := len(testenv.Names(s.outbox)); n != len(tasks) {
		t.Errorf("%d answers for %d files", n, len(tasks))
	}
	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(20 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// SIGHUP applies a changed config once its model is loaded (max_cycles
// changes how the probe runs, so it loads the model again too); a broken
// config, or a model that does not load, changes nothing.
func TestRunSighupReload(t *testing.T) {
	var cfg config.Config
	s := newSpool(t, func(c *config.Config) { cfg = *c })
	p := s.start()
	p.WaitEvent("ready", 1, 60*time.Second)
	task, err := os.ReadFile(filepath.Join(testenv.ARCDir(t), "training", "007bbfb7.json"))
	if err != nil {
		t.Fatal(err)
	}
	answer := func(name string) puzzles.AnswerFile {
		t.Helper()
		s.drop(name, task)
		testenv.WaitFor(t, 60*time.Second, name+" answered", func() bool {
			_, err := os.Stat(filepath.Join(s.done, name))
			return err == nil
		})
		var a puzzles.AnswerFile
		testenv.ReadJSON(t, filepath.Join(s.outbox, name), &a)
		return a
	}
	if a := answer("a.json"); a.Answers[0].Cycles != 8 || a.Model.Name != "nova-tiny" {
		t.Fatalf("before reload: %d cycles, model %s", a.Answers[0].Cycles, a.Model.Name)
	}

	cfg.Inference.MaxCycles = 3
	s.writeConfig(cfg)
	p.Signal(syscall.SIGHUP)
	p.WaitEvent("reloaded", 1, 60*time.Second)
	p.WaitEvent("settings_applied", 1, 60*time.Second) // the worker has them
	if a := answer("b.json"); a.Answers[0].Cycles != 3 {
		t.Errorf("after max_cycles: 3: %d cycles", a.Answers[0].Cycles)
	}

	// Another bundle: the same graphs under another name.
	other := testenv.CopyDir(t, tinyBundle)
	manifest := filepath.Join(other, "hrm.yaml")
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	renamed := strings.Replace(string(data), "name: nova-tiny", "name: nova-tiny-2", 1)
	if err := os.WriteFile(manifest, []byte(renamed), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Model = other
	s.writeConfig(cfg)
	p.Signal(syscall.SIGHUP)
	if l := p.WaitEvent("reloaded", 2, 60*time.Second); l.Fields["model_reloaded"] != true {
		t.Errorf("model not reloaded: %v", l)
	}
	p.WaitEvent("settings_applied", 2, 60*time.Second)
	if a := answer("c.json"); a.Model.Name != "nova-tiny-2" || a.Answers[0].Cycles != 3 {
		t.Errorf("after the model change: model %s, %d cycles", a.Model.Name, a.Answers[0].Cycles)
	}

	// A model that does not load, and a broken config, are refused; the
	// daemon goes on as it was.
	broken := cfg
	broken.Model = filepath.Join(t.TempDir(), "no-such-model")
	broken.Inference.MaxCycles = 5
	s.writeConfig(broken)
	p.Signal(syscall.SIGHUP)
	if l := p.WaitEvent("reload_failed", 1, 60*time.Second); l.Fields["code"] != "bundle_invalid" {
		t.Errorf("failed reload: %v", l)
	}
	if err := os.WriteFile(s.config, []byte("inference: {max_batch: 0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Signal(syscall.SIGHUP)
	p.WaitEvent("reload_failed", 2, 60*time.Second)
	if a := answer("d.json"); a.Model.Name != "nova-tiny-2" || a.Answers[0].Cycles != 3 {
		t.Errorf("after a broken config: model %s, %d cycles", a.Model.Name, a.Answers[0].Cycles)
	}
	ok, failed := p.Sample(`hrmd_reloads_total{result="ok"}`), p.Sample(`hrmd_reloads_total{result="failed"}`)
	if ok != "2" || failed != "2" {
		t.Errorf("reloads: %s ok, %s failed; want 2 and 2", ok, failed)
	}
	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(20 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
	if got := hrmdtest.Inputs(s.done); len(got) != 4 {
		t.Errorf("done/ %v", got)
	}
}

// The sd_notify messages arrive in order on NOTIFY_SOCKET; /readyz is 503
// while the model loads (its manifest is a pipe the test feeds, so the load
// waits for the test) and 200 after; /metrics counts what happened.
func TestRunNotifyHealthAndMetrics(t *testing.T) {
	notify := listenNotify(t)
	model := blockedModel(t)
	s := newSpool(t, func(c *config.Config) { c.Model = model })
	p := s.start("NOTIFY_SOCKET="+notify.path, "WATCHDOG_USEC=400000")
	p.WaitEvent("loading", 1, 60*time.Second)
	if code, body := p.Get("/readyz"); code != 503 || !strings.Contains(body, "loading the model") {
		t.Errorf("/readyz while loading: %d %q, want 503 loading the model", code, body)
	}
	if code, body := p.Get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz while loading: %d %q", code, body)
	}
	unblock(t, model)
	p.WaitEvent("ready", 1, 60*time.Second)
	if code, body := p.Get("/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz once ready: %d %q", code, body)
	}
	msgs := notify.messages()
	if i, r := index(msgs, "EXTEND_TIMEOUT_USEC="), index(msgs, "READY=1"); i < 0 || r < 0 || i > r {
		t.Errorf("want EXTEND_TIMEOUT_USEC before READY=1: %v", msgs)
	}

	for name, data := range testenv.ARCTasks(t, 3) {
		s.drop(name, data)
	}
	s.drop("broken.json", []byte(`{"test":`))
	waitMetrics(t, p, map[string]string{
		`hrmd_puzzles_total{outcome="answered"}`:      "3",
		`hrmd_puzzles_total{outcome="failed"}`:        "1",
		`hrmd_puzzle_failures_total{code="not_json"}`: "1",
		`hrmd_cycles_count`:                           "3",
		`hrmd_queue_depth`:                            "0",
		`hrmd_ready`:                                  "1",
	})
	if got := p.Sample(`hrmd_inference_seconds_count`); got == "" || got == "0" {
		t.Errorf("hrmd_inference_seconds_count = %q", got)
	}
	_, body := p.Get("/metrics")
	if !strings.Contains(body, `hrmd_provider_info{model="`) ||
		!strings.Contains(body, `provider="CPUExecutionProvider"`) {
		t.Errorf("no provider info in /metrics")
	}
	testenv.WaitFor(t, 60*time.Second, "a watchdog ping and the counts in STATUS=", func() bool {
		msgs := notify.messages()
		return index(msgs, "WATCHDOG=1") >= 0 &&
			slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "STATUS=answered 3, failed 1") })
	})
	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(30 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	msgs = notify.settled(t)
	ready, stopping := index(msgs, "READY=1"), index(msgs, "STOPPING=1")
	if ready < 0 || stopping < ready {
		t.Errorf("READY=1 at %d, STOPPING=1 at %d: %v", ready, stopping, msgs)
	}
	// After STOPPING=1, only a last watchdog ping or the final counts.
	for _, m := range msgs[stopping+1:] {
		if !strings.HasPrefix(m, "STATUS=") && m != "WATCHDOG=1" {
			t.Errorf("%q after STOPPING=1: %v", m, msgs)
		}
	}
}

// Files left in work/ are taken up at the start. An answer in the outbox
// under a left file's name that no mark in work/ names as the file's own
// (a crash's own answer is taken up by its mark: package spool) is someone
// else's: it is left as it is, and the file is answered, with its input in
// done/, under the next free name.
func TestRunRecoversWork(t *testing.T) {
	s := newSpool(t, nil)
	task, err := os.ReadFile(filepath.Join(testenv.ARCDir(t), "training", "007bbfb7.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{s.work, s.outbox} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for path, data := range map[string][]byte{
		filepath.Join(s.work, "left.json"):    task,
		filepath.Join(s.outbox, "left.json"):  []byte(`{"task": "left", "stale": true}`),
		filepath.Join(s.work, "broken.json"):  []byte(`{"train"`),
		filepath.Join(s.work, ".hidden.json"): task,
	} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := s.startInProcess()
	testenv.WaitFor(t, 60*time.Second, "the files left in work/ finished", func() bool {
		return len(hrmdtest.Inputs(s.done)) == 1 && len(hrmdtest.Inputs(s.failed)) == 1
	})
	p.stop()
	if got := testenv.Names(s.outbox); !slices.Equal(got, []string{"left.1.json", "left.json"}) {
		t.Errorf("outbox %v, want left.json as it was and the answer left.1.json", got)
	}
	if got, _ := os.ReadFile(filepath.Join(s.outbox, "left.json")); string(got) != `{"task": "left", "stale": true}` {
		t.Errorf("outbox/left.json was replaced: %s", got)
	}
	if got := hrmdtest.Inputs(s.done); !slices.Equal(got, []string{"left.1.json"}) {
		t.Errorf("done %v, want left.1.json beside its answer", got)
	}
	var a puzzles.AnswerFile
	testenv.ReadJSON(t, filepath.Join(s.outbox, "left.1.json"), &a)
	if a.Task != "left" || len(a.Answers) != 1 {
		t.Errorf("answer %+v", a)
	}
	if got := hrmdtest.Inputs(s.failed); !slices.Equal(got, []string{"broken.json"}) {
		t.Errorf("failed %v", got)
	}
	if got := testenv.Names(s.work); !slices.Equal(got, []string{".hidden.json"}) {
		t.Errorf("work/ %v: hidden files are never taken", got)
	}
}

// A reload during a backlog is taken between batches, not after the
// backlog: files keep coming so that the backlog never runs dry, and the
// new settings still come into force. Every file answered before the switch
// ran with the old settings, every one after it with the new ones: a file
// runs start to end with the settings it started with.
func TestRunSighupDuringBacklog(t *testing.T) {
	var cfg config.Config
	s := newSpool(t, func(c *config.Config) {
		c.Inference.MaxBatch, c.Inference.Halting = 2, "fixed"
		cfg = *c
	})
	// File names without end, the committed tasks taken round: the feed
	// lasts as long as the reload takes.
	round := testenv.ARCTasks(t, 25)
	var ids []string
	for name := range round {
		ids = append(ids, name)
	}
	slices.Sort(ids)
	p := s.startInProcess()
	p.WaitEvent("ready", 1, 60*time.Second)
	dropped := 0
	feed := func(waiting int) {
		for dropped-len(p.Events("answered")) < waiting {
			id := ids[dropped%len(ids)]
			s.drop(fmt.Sprintf("%05d-%s", dropped, id), round[id])
			dropped++
		}
	}
	feed(20)
	p.WaitEvent("answered", 1, 60*time.Second)
	cfg.Inference.MaxCycles = 1
	s.writeConfig(cfg)
	p.d.Reload()
	testenv.WaitFor(t, 300*time.Second, "the new settings applied while 20 files wait", func() bool {
		feed(20)
		return len(p.Events("settings_applied")) > 0
	})
	testenv.WaitFor(
		t,
		300*time.Second,
		"every dropped file answered",
		func() bool { return len(hrmdtest.Inputs(s.done)) == dropped },
	)
	before, after := 0, 0
	switched := false
	for _, line := range p.Lines() {
		switch line.Event() {
		case "settings_applied":
			switched = true
		case "answered":
			want := 8.0
			if switched {
				want, after = 1, after+1
			} else {
				before++
			}
			for _, c := range line.Fields["cycles"].([]any) {
				if c != want {
					t.Errorf(
						"%s answered with %v cycles %s the switch, want %g",
						line.Fields["name"],
						line.Fields["cycles"],
						map[bool]string{false: "before", true: "after"}[switched],
						want,
					)
				}
			}
		}
	}
	if before == 0 || after == 0 {
		t.Errorf("%d files answered before the switch, %d after; want some of each", before, after)
	}
	p.stop()
}

// A daemon that cannot start says why in one line and exits 1.
func TestRunStartErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "a-file")
	testenv.WriteFile(t, dir, "a-file", "")
	unknownKey := filepath.Join(dir, "unknown.yaml")
	testenv.WriteFile(t, dir, "unknown.yaml", "inbx: /tmp/in\n")
	s := newSpool(t, func(c *config.Config) { c.Outbox = filepath.Join(blocker, "outbox") })
	noModel := newSpool(t, func(c *config.Config) { c.Model = filepath.Join(dir, "no-model") })
	tests := []struct {
		name, config, code, message string
	}{
		{"no config", filepath.Join(dir, "none.yaml"), daemon.CodeConfig, "none.yaml: no such file or directory"},
		{"unknown key", unknownKey, daemon.CodeConfig, "field inbx not found"},
		{"folder", s.config, daemon.CodeSpool, "outbox: cannot create " + filepath.Join(blocker, "outbox")},
		{"model", noModel.config, "bundle_invalid", "no-model does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runHrmd(t, "run", "--config", tt.config, "--instance", "test")
			if r.Code != 1 || !strings.Contains(r.Stderr, "error "+tt.code+": ") || !strings.Contains(r.Stderr, tt.message) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and error %s: ...%s...", r.Code, r.Stderr, tt.code, tt.message)
			}
		})
	}
}

// SIGTERM while a SIGHUP reload is still loading a model: the daemon stops
// at once and cleanly instead of waiting for the load. The new model's
// hrm.yaml is a named pipe nobody writes, so its load never ends.
func TestRunSigtermDuringReload(t *testing.T) {
	var cfg config.Config
	s := newSpool(t, func(c *config.Config) { cfg = *c })
	p := s.start()
	p.WaitEvent("ready", 1, 60*time.Second)
	cfg.Model = blockedModel(t)
	s.writeConfig(cfg)
	p.Signal(syscall.SIGHUP)
	p.WaitEvent("loading", 2, 60*time.Second)
	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(30 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	p.WaitEvent("reload_abandoned", 1, time.Second)
	p.WaitEvent("stopped", 1, time.Second)
}

// blockedModel is a copy of the tiny bundle whose hrm.yaml is a named pipe:
// loading it blocks until feed writes the manifest into the pipe (if ever).
func blockedModel(t *testing.T) string {
	t.Helper()
	dir := testenv.CopyDir(t, tinyBundle)
	manifest := filepath.Join(dir, "hrm.yaml")
	if err := os.Remove(manifest); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// unblock writes the tiny bundle's manifest into a blocked model's pipe.
func unblock(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tinyBundle, "hrm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hrm.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The daemon serves an act-v1 bundle: a task the puzzle table knows is
// answered through its row as the PyTorch reference answers it, one it does
// not know is answered with the blank row and flagged unknown_puzzle.
func TestRunActV1(t *testing.T) {
	model, err := filepath.Abs(actBundle)
	if err != nil {
		t.Fatal(err)
	}
	s := newSpool(t, func(c *config.Config) { c.Model = model })
	p := s.startInProcess()
	p.WaitEvent("ready", 1, 60*time.Second)
	arc := testenv.ARCDir(t)
	for _, id := range []string{"007bbfb7", "00d62c1b"} {
		data, err := os.ReadFile(filepath.Join(arc, "training", id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		s.drop(id+".json", data)
	}
	p.WaitEvent("answered", 2, 120*time.Second)
	var want testenv.GoldenCase
	for _, c := range testenv.ReadGolden(t, actBundle).Cases {
		if c.Puzzle == "007bbfb7" {
			want = c
		}
	}
	var known, stranger puzzles.AnswerFile
	testenv.ReadJSON(t, filepath.Join(s.outbox, "007bbfb7.json"), &known)
	testenv.ReadJSON(t, filepath.Join(s.outbox, "00d62c1b.json"), &stranger)
	if a := known.Answers[0]; !a.Attempt1.Equal(want.Decoded) || a.Cycles != want.HaltCycle ||
		slices.Contains(a.Flags, puzzles.FlagUnknownPuzzle) ||
		known.Model.Family != "act-v1" {
		t.Errorf(
			"007bbfb7: %v after %d cycles, flags %v; PyTorch %v after %d",
			a.Attempt1,
			a.Cycles,
			a.Flags,
			want.Decoded,
			want.HaltCycle,
		)
	}
	if a := stranger.Answers[0]; !slices.Contains(a.Flags, puzzles.FlagUnknownPuzzle) {
		t.Errorf("00d62c1b (no row): flags %v", a.Flags)
	}
	// The same task again is claimed as 007bbfb7.1.json (its answer's task
	// says so) and still runs with 007bbfb7's row.
	data, err := os.ReadFile(filepath.Join(arc, "training", "007bbfb7.json"))
	if err != nil {
		t.Fatal(err)
	}
	s.drop("007bbfb7.json", data)
	p.WaitEvent("answered", 3, 120*time.Second)
	var again puzzles.AnswerFile
	testenv.ReadJSON(t, filepath.Join(s.outbox, "007bbfb7.1.json"), &again)
	if a := again.Answers[0]; again.Task != "007bbfb7.1" || !a.Attempt1.Equal(want.Decoded) ||
		a.Cycles != want.HaltCycle ||
		slices.Contains(a.Flags, puzzles.FlagUnknownPuzzle) {
		t.Errorf("the task again: task %q, %v after %d cycles, flags %v", again.Task, a.Attempt1, a.Cycles, a.Flags)
	}
	p.stop()
}
