package daemon_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/testenv"
)

const orinNanoFixture = "../jetson/testdata/orin-nano"

// fakeSysroot copies a jetson fixture tree, so a test can change its
// temperatures while hrmd reads them.
func fakeSysroot(t *testing.T, fixture string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "sysroot")
	if err := os.CopyFS(root, os.DirFS(fixture)); err != nil {
		t.Fatal(err)
	}
	return root
}

// setTemperatures writes every thermal zone of root: those of the types in
// celsius get theirs, every other 40 °C.
func setTemperatures(t *testing.T, root string, celsius map[string]int) {
	t.Helper()
	zones, err := filepath.Glob(filepath.Join(root, "sys/class/thermal/thermal_zone*"))
	if err != nil || len(zones) == 0 {
		t.Fatalf("no thermal zones in %s (%v)", root, err)
	}
	found := 0
	for _, z := range zones {
		typ, err := os.ReadFile(filepath.Join(z, "type"))
		if err != nil {
			t.Fatal(err)
		}
		milli := 40000
		if c, ok := celsius[strings.TrimSpace(string(typ))]; ok {
			milli, found = c*1000, found+1
		}
		// Written whole and renamed: a poll never reads half a number.
		tmp := filepath.Join(z, ".temp")
		if err := os.WriteFile(tmp, []byte(strconv.Itoa(milli)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(z, "temp")); err != nil {
			t.Fatal(err)
		}
	}
	if found != len(celsius) {
		t.Fatalf("%d of the zones %v in %s", found, celsius, root)
	}
}

// On a (fixture) Orin Nano that runs hot, hrmd takes no file above
// thermal.pause_c: a file dropped waits in the inbox, one an earlier run
// left in work/ waits there too (the worker starts no batch); between
// resume_c and pause_c it stays paused, below resume_c it takes them. Every
// change is logged and counted, the temperatures are in /metrics, and the
// answer names the device. (The hysteresis step by step is
// TestThermalGuardHysteresis.)
func TestRunThermalBackPressure(t *testing.T) {
	root := fakeSysroot(t, orinNanoFixture)
	setTemperatures(t, root, map[string]int{"cpu-thermal": 95})
	s := newSpool(t, func(c *config.Config) {
		c.Inference.MaxCycles = 2
		c.Thermal = config.Thermal{PauseC: 90, ResumeC: 80, Zones: []string{"cpu", "gpu", "soc", "tj"},
			Poll: config.Duration(time.Second)}
	})
	s.sysroot = root
	task := testenv.ARCTasks(t, 2)
	leftover, name := "007bbfb7.json", "00d62c1b.json"
	testenv.WriteFile(t, s.work, leftover, string(task[leftover]))
	p := s.startInProcess()
	started := p.WaitEvent("starting", 1, 60*time.Second)
	if dev, _ := started.Fields["device"].(string); !strings.Contains(dev, "Jetson Orin Nano") ||
		!strings.Contains(dev, "JetPack 6") {
		t.Errorf("start log device %q, want the Orin Nano with its JetPack", dev)
	}
	hot := p.WaitEvent("too_hot", 1, 60*time.Second)
	if hot.Fields["zone"] != "cpu-thermal" || hot.Fields["celsius"] != "95.0" {
		t.Errorf("pause logged %v, want zone cpu-thermal at 95.0", hot)
	}
	p.WaitEvent("batch_held", 1, 60*time.Second)
	s.drop(name, task[name])
	p.WaitEvent("file_held", 1, 60*time.Second)
	held := func(when string) {
		t.Helper()
		if !slices.Contains(testenv.Names(s.inbox), name) || !slices.Contains(testenv.Names(s.work), leftover) ||
			len(testenv.Names(s.outbox)) != 0 {
			t.Fatalf("%s: inbox %v, work %v, outbox %v; want the new file held in the inbox and the claimed one in work/",
				when, testenv.Names(s.inbox), testenv.Names(s.work), testenv.Names(s.outbox))
		}
		if v := p.Sample("hrmd_thermal_paused"); v != "1" {
			t.Errorf("%s: hrmd_thermal_paused %q, want 1", when, v)
		}
	}
	held("hot")
	if v := p.Sample(`hrmd_temperature_celsius{type="cpu-thermal",zone="thermal_zone0"}`); v != "95" {
		t.Errorf("cpu-thermal in /metrics: %q, want 95", v)
	}
	if v := p.Sample("hrmd_gpu_load_ratio"); v == "" {
		t.Error("no hrmd_gpu_load_ratio on a Jetson")
	}
	// Between resume_c and pause_c it stays paused (hysteresis): read, and
	// read once more, at 85 °C.
	setTemperatures(t, root, map[string]int{"cpu-thermal": 85})
	testenv.WaitFor(t, 60*time.Second, "a reading of 85 °C", func() bool {
		return p.Sample(`hrmd_temperature_celsius{type="cpu-thermal",zone="thermal_zone0"}`) == "85"
	})
	// cv0 is not watched: a marker that shows the next reading was taken.
	setTemperatures(t, root, map[string]int{"cpu-thermal": 85, "cv0-thermal": 41})
	testenv.WaitFor(t, 60*time.Second, "the next reading", func() bool {
		return p.Sample(`hrmd_temperature_celsius{type="cv0-thermal",zone="thermal_zone2"}`) == "41"
	})
	held("at 85 °C")

	setTemperatures(t, root, map[string]int{"cpu-thermal": 75})
	cool := p.WaitEvent("cooled", 1, 60*time.Second)
	if cool.Fields["celsius"] != "75.0" {
		t.Errorf("resume logged %v, want 75.0", cool)
	}
	testenv.WaitFor(t, 60*time.Second, "the answers", func() bool {
		return slices.Contains(testenv.Names(s.outbox), name) && slices.Contains(testenv.Names(s.outbox), leftover)
	})
	var answer struct {
		Runtime struct{ Device string }
	}
	testenv.ReadJSON(t, filepath.Join(s.outbox, name), &answer)
	if !strings.Contains(answer.Runtime.Device, "Jetson Orin Nano") {
		t.Errorf("runtime.device %q, want the Orin Nano", answer.Runtime.Device)
	}
	if v := p.Sample("hrmd_thermal_pauses_total"); v != "1" {
		t.Errorf("hrmd_thermal_pauses_total %q, want 1", v)
	}
	if v := p.Sample("hrmd_thermal_paused"); v != "0" {
		t.Errorf("hrmd_thermal_paused %q after cooling, want 0", v)
	}
	p.stop()
}

// With providers [tensorrt, cpu] on the CPU-only library the daemon says
// why TensorRT was skipped and runs on CPU; with require: tensorrt it does
// not start, and says why.
func TestRunProviderFallback(t *testing.T) {
	s := newSpool(t, func(c *config.Config) { c.ONNXRuntime.Providers = []string{"tensorrt", "cpu"} })
	p := s.start()
	skipped := p.WaitEvent("provider_fallback", 1, 60*time.Second)
	if skipped.Fields["provider"] != "tensorrt" || !strings.Contains(skipped.Fields["reason"].(string), "Failed to load") {
		t.Errorf("fallback logged %v; want provider tensorrt with onnxruntime's reason", skipped)
	}
	if ready := p.WaitEvent("ready", 1, 60*time.Second); ready.Fields["provider"] != "CPUExecutionProvider" {
		t.Errorf("ready on %v, want CPUExecutionProvider", ready.Fields["provider"])
	}
	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(20 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}

	s = newSpool(t, func(c *config.Config) {
		c.ONNXRuntime.Providers = []string{"tensorrt", "cpu"}
		c.ONNXRuntime.Require = "tensorrt"
	})
	p = s.start()
	if code := p.WaitExit(30 * time.Second); code != 1 {
		t.Fatalf("exit %d with require: tensorrt on a CPU library, want 1", code)
	}
	log := p.Log()
	if !strings.Contains(log, "error provider_unavailable: onnxruntime.require is tensorrt") ||
		!strings.Contains(log, "Failed to load") {
		t.Errorf("no reason given:\n%s", log)
	}
	if len(p.Events("ready")) != 0 {
		t.Error("ready although the required provider is missing")
	}
}

// On a (fixture) Orin Nano configured for its GPU, the CPU-only library
// runs the model on the CPU: hrmd starts degraded and says so in an error
// line, /readyz (200), hrmd_degraded and STATUS=. Configured for the CPU it
// is not degraded; with require: tensorrt it does not start, and STATUS=
// says why.
func TestRunDegradedOnJetson(t *testing.T) {
	root, err := filepath.Abs(orinNanoFixture)
	if err != nil {
		t.Fatal(err)
	}
	const want = "running on the CPU although onnxruntime.providers starts with tensorrt: " +
		"TensorrtExecutionProvider unavailable: "
	s := newSpool(t, func(c *config.Config) { c.ONNXRuntime.Providers = []string{"tensorrt", "cuda", "cpu"} })
	s.args = []string{"--sysroot", root}
	notify := listenNotify(t)
	p := s.start("NOTIFY_SOCKET=" + notify.path)
	line := p.WaitEvent("degraded", 1, 60*time.Second)
	if reason, _ := line.Fields["reason"].(string); line.Fields["level"] != "error" || !strings.HasPrefix(reason, want) ||
		!strings.Contains(reason, "Failed to load") || !strings.Contains(reason, "CUDAExecutionProvider unavailable: ") {
		t.Errorf("degraded logged %v; want an error with the reasons", line)
	}
	p.WaitEvent("ready", 1, 60*time.Second)
	if code, body := p.Get("/readyz"); code != 200 || !strings.HasPrefix(body, "degraded: "+want) ||
		strings.Count(body, "\n") != 1 {
		t.Errorf("/readyz degraded: %d %q", code, body)
	}
	if v := p.Sample(`hrmd_degraded{reason="gpu_provider_unavailable"}`); v != "1" {
		t.Errorf("hrmd_degraded %q, want 1", v)
	}
	testenv.WaitFor(t, 60*time.Second, "STATUS= saying degraded", func() bool {
		return index(notify.messages(), "STATUS=degraded: "+want) >= 0
	})
	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(30 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}

	s = newSpool(t, nil) // providers [cpu]
	s.args = []string{"--sysroot", root}
	p = s.start()
	p.WaitEvent("ready", 1, 60*time.Second)
	if code, body := p.Get("/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz with providers [cpu]: %d %q", code, body)
	}
	if v := p.Sample(`hrmd_degraded{reason="none"}`); v != "0" {
		t.Errorf("hrmd_degraded with providers [cpu]: %q, want 0", v)
	}
	p.Signal(syscall.SIGTERM)
	p.WaitExit(30 * time.Second)

	s = newSpool(t, func(c *config.Config) {
		c.ONNXRuntime.Providers, c.ONNXRuntime.Require = []string{"tensorrt", "cuda", "cpu"}, "tensorrt"
	})
	s.args = []string{"--sysroot", root}
	notify = listenNotify(t)
	p = s.start("NOTIFY_SOCKET=" + notify.path)
	if code := p.WaitExit(60 * time.Second); code != 1 {
		t.Fatalf("exit %d with require: tensorrt, want 1", code)
	}
	const refused = "error provider_unavailable: onnxruntime.require is tensorrt, but onnxruntime"
	if log := p.Log(); !strings.Contains(log, refused) {
		t.Errorf("no reason given:\n%s", log)
	}
	if msgs := notify.settled(t); index(msgs, "STATUS=not started: onnxruntime.require is tensorrt, but onnxruntime") < 0 {
		t.Errorf("STATUS= does not say why: %v", msgs)
	}
}
