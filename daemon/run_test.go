package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

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
	big := []byte(`{"test":[{"input":[[1]]}]}` + strings.Repeat(" ", 60000))
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

// 200 files dropped at once, 10 of them bad: 190 answers, 10 failures with
// the right codes, and nothing left in the inbox or work/.
func TestRunBurst(t *testing.T) {
	s := newSpool(t, func(c *Config) {
		c.Inference.MaxCycles = 2
		// One row per test input: batches of more than one row can only
		// come from several files run together.
		c.Inference.DemoCheck = false
		c.Watch.MaxFileBytes = 50000
	})
	p := s.start()
	p.waitLog("ready", 1, 30*time.Second)
	good := arcTasks(t, 190)
	bad := badTasks()
	for name, data := range good {
		s.drop(name, data)
	}
	for name, b := range bad {
		s.drop(name, b.data)
	}
	waitUntil(t, 120*time.Second, "200 files in done/ and failed/", func() bool {
		return len(inputs(s.done))+len(inputs(s.failed)) >= 200
	})
	if n := names(s.inbox); len(n) != 0 {
		t.Errorf("inbox not empty: %v", n)
	}
	if n := names(s.work); len(n) != 0 {
		t.Errorf("work/ not empty: %v", n)
	}
	if got := inputs(s.done); len(got) != 190 {
		t.Errorf("%d files in done/, want 190", len(got))
	}
	for name := range good {
		var a puzzles.AnswerFile
		mustJSON(t, filepath.Join(s.outbox, name), &a)
		if a.Task != strings.TrimSuffix(name, ".json") || len(a.Answers) == 0 || a.Answers[0].Cycles != 2 || a.DemoCheck != nil {
			t.Errorf("%s: answer %+v", name, a)
		}
	}
	if n := names(s.outbox); len(n) != 190 {
		t.Errorf("%d files in outbox/, want 190", len(n))
	}
	for name, b := range bad {
		var e ErrorFile
		mustJSON(t, filepath.Join(s.failed, name+".error.json"), &e)
		if e.Code != b.code || e.File != name || e.Message == "" || e.At.IsZero() {
			t.Errorf("%s: error file %+v, want code %s", name, e, b.code)
		}
		if _, err := os.Stat(filepath.Join(s.failed, name)); err != nil {
			t.Errorf("%s is not in failed/: %v", name, err)
		}
	}
	if v := p.metric(`hrmd_puzzles_total{outcome="answered"}`); v != "190" {
		t.Errorf("answered metric %q, want 190", v)
	}
	if v := p.metric(`hrmd_puzzles_total{outcome="failed"}`); v != "10" {
		t.Errorf("failed metric %q, want 10", v)
	}
	if v := p.metric(`hrmd_puzzle_failures_total{code="ragged_grid"}`); v != "1" {
		t.Errorf("ragged_grid failures %q, want 1", v)
	}
	// Batching across files: most ARC tasks have one test input, so rows per
	// batch above 2 means files shared batches.
	var batches, rows float64
	fmt.Sscan(p.metric("hrmd_batch_size_count"), &batches)
	fmt.Sscan(p.metric("hrmd_batch_size_sum"), &rows)
	t.Logf("%g rows in %g batches", rows, batches)
	if batches == 0 || rows/batches < 2.5 {
		t.Errorf("%g rows in %g batches: files were not batched together", rows, batches)
	}
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(20 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

// A writer that writes one task in 5 chunks over a second, without the
// rename trick, is answered once, and correctly.
func TestRunSlowWriter(t *testing.T) {
	s := newSpool(t, func(c *Config) { c.Watch.SettleMS = 400 })
	p := s.start()
	p.waitLog("ready", 1, 30*time.Second)
	data, err := os.ReadFile(filepath.Join(arcDir, "training", "3631a71a.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(s.inbox, "slow.json"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := len(data)/5 + 1
	for i := 0; i < len(data); i += chunk {
		if _, err := f.Write(data[i:min(i+chunk, len(data))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	f.Close()
	waitUntil(t, 30*time.Second, "slow.json answered", func() bool { return len(inputs(s.done))+len(inputs(s.failed)) > 0 })
	time.Sleep(time.Second) // time for a wrong second answer to show up
	if got, failed := inputs(s.done), inputs(s.failed); !slices.Equal(got, []string{"slow.json"}) || len(failed) != 0 {
		t.Fatalf("done %v, failed %v: want slow.json answered once", got, failed)
	}
	if got := names(s.outbox); !slices.Equal(got, []string{"slow.json"}) {
		t.Fatalf("outbox %v", got)
	}
	// The answer is the reference's: the golden file holds PyTorch's answer
	// for this task.
	g := readGoldenAt(t, fixtureBundle)
	var want puzzles.Grid
	for _, c := range g.Cases {
		if strings.Contains(c.Source, "3631a71a") {
			want = c.Decoded
		}
	}
	var a puzzles.AnswerFile
	mustJSON(t, filepath.Join(s.outbox, "slow.json"), &a)
	if want == nil || !a.Answers[0].Attempt1.Equal(want) {
		t.Errorf("answer %v, PyTorch %v", a.Answers[0].Attempt1, want)
	}
}

// startBurst starts hrmd (batches of 2), drops n real tasks at once, and
// returns once `answered` files are answered: in the middle of the burst.
func startBurst(t *testing.T, n, answered int) (*spoolUnderTest, *daemonProcess, map[string][]byte) {
	t.Helper()
	s := newSpool(t, func(c *Config) { c.Inference.MaxBatch = 2 })
	tasks := arcTasks(t, n)
	p := s.start()
	p.waitLog("ready", 1, 30*time.Second)
	for name, data := range tasks {
		s.drop(name, data)
	}
	p.waitLog("answered", answered, 60*time.Second)
	return s, p, tasks
}

// kill -9 in the middle of a burst, then a restart: every file ends in done/
// or failed/, and none is answered twice.
func TestRunKillAndRestart(t *testing.T) {
	s, p, tasks := startBurst(t, 60, 8)
	p.signal(syscall.SIGKILL)
	p.waitExit(10 * time.Second)
	before := len(inputs(s.done))
	if before >= len(tasks) {
		t.Fatalf("all %d answered before the kill: the test needs a kill mid-burst", before)
	}
	t.Logf("killed with %d answered, %d in work/, %d in the inbox", before, len(names(s.work)), len(names(s.inbox)))

	p = s.start()
	waitUntil(t, 120*time.Second, "every file in done/ or failed/", func() bool {
		return len(inputs(s.done))+len(inputs(s.failed)) >= len(tasks)
	})
	p.signal(syscall.SIGTERM)
	p.waitExit(20 * time.Second)
	done, outbox := inputs(s.done), names(s.outbox)
	slices.Sort(done)
	want := make([]string, 0, len(tasks))
	for name := range tasks {
		want = append(want, name)
	}
	slices.Sort(want)
	// Answered twice would show as a suffixed copy (<name>.1.json) or a
	// second answer; and nothing may be missing.
	if !slices.Equal(done, want) || len(inputs(s.failed)) != 0 {
		t.Errorf("done/ has %d files (want exactly the %d dropped), failed/ %v", len(done), len(want), inputs(s.failed))
	}
	if !slices.Equal(outbox, want) {
		t.Errorf("outbox has %d answers, want one per file (%d)", len(outbox), len(want))
	}
	if n := names(s.work); len(n) != 0 {
		t.Errorf("work/ not empty: %v", n)
	}
}

// SIGTERM with a full queue: exit 0 within the timeout and nothing lost;
// what was not finished is answered after the next start.
func TestRunSigtermWithFullQueue(t *testing.T) {
	s, p, tasks := startBurst(t, 40, 1)
	started := time.Now()
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(15 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	took := time.Since(started)
	all := len(names(s.inbox)) + len(names(s.work)) + len(inputs(s.done)) + len(inputs(s.failed))
	if all != len(tasks) {
		t.Fatalf("after SIGTERM: %d files in inbox, work/, done/ and failed/, want %d", all, len(tasks))
	}
	if len(inputs(s.done)) == len(tasks) {
		t.Fatalf("everything answered before the stop: the queue was not full")
	}
	t.Logf("stopped in %s with %d answered and %d in work/", took, len(inputs(s.done)), len(names(s.work)))
	if stopped := p.find("stopped"); len(stopped) != 1 || stopped[0]["left_in_work"].(float64) == 0 {
		t.Errorf("stop log %v: want the files left in work/ counted", stopped)
	}

	p = s.start()
	waitUntil(t, 120*time.Second, "every file answered after the restart", func() bool {
		return len(inputs(s.done)) == len(tasks)
	})
	if n := len(names(s.outbox)); n != len(tasks) {
		t.Errorf("%d answers for %d files", n, len(tasks))
	}
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(20 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// SIGHUP applies a changed config: inference settings at once, a new model
// after loading it; a broken config changes nothing.
func TestRunSighupReload(t *testing.T) {
	var cfg Config
	s := newSpool(t, func(c *Config) { cfg = *c })
	p := s.start()
	p.waitLog("ready", 1, 30*time.Second)
	task, err := os.ReadFile(filepath.Join(arcDir, "training", "007bbfb7.json"))
	if err != nil {
		t.Fatal(err)
	}
	answer := func(name string) puzzles.AnswerFile {
		t.Helper()
		s.drop(name, task)
		waitUntil(t, 30*time.Second, name+" answered", func() bool {
			_, err := os.Stat(filepath.Join(s.done, name))
			return err == nil
		})
		var a puzzles.AnswerFile
		mustJSON(t, filepath.Join(s.outbox, name), &a)
		return a
	}
	if a := answer("a.json"); a.Answers[0].Cycles != 8 || a.Model.Name != "nova-tiny" {
		t.Fatalf("before reload: %d cycles, model %s", a.Answers[0].Cycles, a.Model.Name)
	}

	cfg.Inference.MaxCycles = 3
	s.writeConfig(cfg)
	p.signal(syscall.SIGHUP)
	p.waitLog("configuration reloaded", 1, 30*time.Second)
	if a := answer("b.json"); a.Answers[0].Cycles != 3 {
		t.Errorf("after max_cycles: 3: %d cycles", a.Answers[0].Cycles)
	}

	// Another bundle: the same graphs under another name.
	other := copyDir(t, fixtureBundle)
	manifest := filepath.Join(other, "hrm.yaml")
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, []byte(strings.Replace(string(data), "name: nova-tiny", "name: nova-tiny-2", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Model = other
	s.writeConfig(cfg)
	p.signal(syscall.SIGHUP)
	if l := p.waitLog("configuration reloaded", 2, 30*time.Second); l["model_reloaded"] != true {
		t.Errorf("model not reloaded: %v", l)
	}
	if a := answer("c.json"); a.Model.Name != "nova-tiny-2" || a.Answers[0].Cycles != 3 {
		t.Errorf("after the model change: model %s, %d cycles", a.Model.Name, a.Answers[0].Cycles)
	}

	// A model that does not load, and a broken config, are refused; the
	// daemon goes on as it was.
	broken := cfg
	broken.Model = filepath.Join(t.TempDir(), "no-such-model")
	broken.Inference.MaxCycles = 5
	s.writeConfig(broken)
	p.signal(syscall.SIGHUP)
	if l := p.waitLog("reload failed; keeping the running configuration", 1, 30*time.Second); l["code"] != "bundle_invalid" {
		t.Errorf("failed reload: %v", l)
	}
	if err := os.WriteFile(s.config, []byte("inference: {max_batch: 0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	p.waitLog("reload failed; keeping the running configuration", 2, 30*time.Second)
	if a := answer("d.json"); a.Model.Name != "nova-tiny-2" || a.Answers[0].Cycles != 3 {
		t.Errorf("after a broken config: model %s, %d cycles", a.Model.Name, a.Answers[0].Cycles)
	}
	if ok, failed := p.metric(`hrmd_reloads_total{result="ok"}`), p.metric(`hrmd_reloads_total{result="failed"}`); ok != "2" || failed != "2" {
		t.Errorf("reloads: %s ok, %s failed; want 2 and 2", ok, failed)
	}
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(20 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
	if got := inputs(s.done); len(got) != 4 {
		t.Errorf("done/ %v", got)
	}
}

// The sd_notify messages arrive in order on NOTIFY_SOCKET; /readyz is 503
// before warm-up and 200 after; /metrics counts what happened.
func TestRunNotifyHealthAndMetrics(t *testing.T) {
	notify := listenNotify(t)
	// The full-size model (when ./build.sh test exported one) takes long
	// enough to load that /readyz is seen answering 503 for certain.
	full := os.Getenv("HRMD_FULL_BUNDLE")
	s := newSpool(t, func(c *Config) {
		if full != "" {
			c.Model = full
			c.Inference.MaxCycles = 1
			c.Inference.DemoCheck = false
		}
	})
	p := s.start("NOTIFY_SOCKET="+notify.path, "WATCHDOG_USEC=400000")
	sawNotReady := false
	waitUntil(t, 60*time.Second, "/readyz to answer 200", func() bool {
		if len(p.find("http listening")) == 0 {
			return false
		}
		code, body := p.httpGet("/readyz")
		if code == 503 {
			sawNotReady = true
			if !strings.Contains(body, "loading the model") {
				t.Errorf("503 body %q", body)
			}
		}
		return code == 200
	})
	if !sawNotReady && full != "" {
		t.Error("/readyz never answered 503 while the full-size model loaded")
	}
	if code, body := p.httpGet("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	msgs := notify.messages()
	if i, r := index(msgs, "EXTEND_TIMEOUT_USEC="), index(msgs, "READY=1"); i < 0 || r < 0 || i > r {
		t.Errorf("want EXTEND_TIMEOUT_USEC before READY=1: %v", msgs)
	}

	for name, data := range arcTasks(t, 3) {
		s.drop(name, data)
	}
	s.drop("broken.json", []byte(`{"test":`))
	waitUntil(t, 60*time.Second, "4 files finished", func() bool { return len(inputs(s.done))+len(inputs(s.failed)) == 4 })
	for sample, want := range map[string]string{
		`hrmd_puzzles_total{outcome="answered"}`:      "3",
		`hrmd_puzzles_total{outcome="failed"}`:        "1",
		`hrmd_puzzle_failures_total{code="not_json"}`: "1",
		`hrmd_cycles_count`:                           "3",
		`hrmd_queue_depth`:                            "0",
		`hrmd_ready`:                                  "1",
	} {
		if got := p.metric(sample); got != want {
			t.Errorf("%s = %q, want %s", sample, got, want)
		}
	}
	if got := p.metric(`hrmd_inference_seconds_count`); got == "" || got == "0" {
		t.Errorf("hrmd_inference_seconds_count = %q", got)
	}
	_, body := p.httpGet("/metrics")
	if !strings.Contains(body, `hrmd_provider_info{model="`) || !strings.Contains(body, `provider="CPUExecutionProvider"`) {
		t.Errorf("no provider info in /metrics")
	}

	time.Sleep(500 * time.Millisecond) // at least one watchdog interval
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(20 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	msgs = notify.messages()
	ready, stopping := index(msgs, "READY=1"), index(msgs, "STOPPING=1")
	watchdog, status := index(msgs, "WATCHDOG=1"), index(msgs, "STATUS=")
	if ready < 0 || stopping < ready || watchdog < 0 || status < 0 {
		t.Errorf("messages out of order or missing (READY=1 %d, WATCHDOG=1 %d, STATUS= %d, STOPPING=1 %d): %v", ready, watchdog, status, stopping, msgs)
	}
	if last := msgs[len(msgs)-1]; !strings.HasPrefix(last, "STOPPING=1") && !strings.HasPrefix(last, "STATUS=") {
		t.Errorf("last message %q", last)
	}
	if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "STATUS=answered 3, failed 1") }) {
		t.Errorf("no STATUS with the counts: %v", msgs)
	}
}

// A crash after the answer was written but before the input moved to done/
// leaves both: the restart answers the file again under the same name, so
// there is still exactly one answer.
func TestRunRecoversWork(t *testing.T) {
	s := newSpool(t, nil)
	task, err := os.ReadFile(filepath.Join(arcDir, "training", "007bbfb7.json"))
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
	p := s.start()
	waitUntil(t, 30*time.Second, "the files left in work/ finished", func() bool {
		return len(inputs(s.done)) == 1 && len(inputs(s.failed)) == 1
	})
	p.signal(syscall.SIGTERM)
	p.waitExit(20 * time.Second)
	if got := names(s.outbox); !slices.Equal(got, []string{"left.json"}) {
		t.Errorf("outbox %v, want the one answer left.json", got)
	}
	var a puzzles.AnswerFile
	mustJSON(t, filepath.Join(s.outbox, "left.json"), &a)
	if a.Task != "left" || len(a.Answers) != 1 {
		t.Errorf("answer %+v: the stale one was not replaced", a)
	}
	if got := inputs(s.failed); !slices.Equal(got, []string{"broken.json"}) {
		t.Errorf("failed %v", got)
	}
	if got := names(s.work); !slices.Equal(got, []string{".hidden.json"}) {
		t.Errorf("work/ %v: hidden files are never taken", got)
	}
}

// A reload during a backlog is taken between batches, not after the backlog.
func TestRunSighupDuringBacklog(t *testing.T) {
	s, p, tasks := startBurst(t, 60, 1)
	cfg, err := LoadConfig(s.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Inference.MaxCycles = 1
	s.writeConfig(cfg)
	p.signal(syscall.SIGHUP)
	p.waitLog("settings applied", 1, 30*time.Second)
	if done := len(inputs(s.done)); done >= len(tasks)-5 {
		t.Errorf("the reload was applied only after %d of %d files: it waited for the backlog", done, len(tasks))
	}
	waitUntil(t, 120*time.Second, "every file answered", func() bool { return len(inputs(s.done)) == len(tasks) })
	ones := 0
	for name := range tasks {
		var a puzzles.AnswerFile
		mustJSON(t, filepath.Join(s.outbox, name), &a)
		if a.Answers[0].Cycles == 1 {
			ones++
		}
	}
	if ones == 0 {
		t.Error("no file was answered with the reloaded max_cycles: 1")
	}
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(20 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// A daemon that cannot start says why in one line and exits 1.
func TestRunStartErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "a-file")
	touch(t, blocker, "")
	unknownKey := filepath.Join(dir, "unknown.yaml")
	touch(t, unknownKey, "inbx: /tmp/in\n")
	s := newSpool(t, func(c *Config) { c.Outbox = filepath.Join(blocker, "outbox") })
	noModel := newSpool(t, func(c *Config) { c.Model = filepath.Join(dir, "no-model") })
	tests := []struct {
		name, config, code, message string
	}{
		{"no config", filepath.Join(dir, "none.yaml"), CodeConfig, "none.yaml: no such file or directory"},
		{"unknown key", unknownKey, CodeConfig, "field inbx not found"},
		{"folder", s.config, CodeSpool, "outbox: cannot create " + filepath.Join(blocker, "outbox")},
		{"model", noModel.config, "bundle_invalid", "no-model does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runHrmd(t, "run", "--config", tt.config, "--instance", "test")
			if r.code != 1 || !strings.Contains(r.stderr, "error "+tt.code+": ") || !strings.Contains(r.stderr, tt.message) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and error %s: ...%s...", r.code, r.stderr, tt.code, tt.message)
			}
		})
	}
}

// SIGTERM while a SIGHUP reload is still loading a (full-size) model: the
// daemon stops at once and cleanly instead of waiting for the load.
func TestRunSigtermDuringReload(t *testing.T) {
	full := testenv.FullBundle(t)
	var cfg Config
	s := newSpool(t, func(c *Config) { cfg = *c })
	p := s.start()
	p.waitLog("ready", 1, 30*time.Second)
	cfg.Model = full
	s.writeConfig(cfg)
	p.signal(syscall.SIGHUP)
	time.Sleep(20 * time.Millisecond) // the reload has started loading
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(20 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	p.waitLog("stopped", 1, time.Second)
	t.Logf("stopped during the load: %v", len(p.find("a reload was still loading a model; not waiting for it")) == 1)
}
