package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

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

// setTemperatures writes every thermal zone of root: the zone of type hot
// gets celsius, every other 40 °C.
func setTemperatures(t *testing.T, root, hot string, celsius int) {
	t.Helper()
	zones, err := filepath.Glob(filepath.Join(root, "sys/class/thermal/thermal_zone*"))
	if err != nil || len(zones) == 0 {
		t.Fatalf("no thermal zones in %s (%v)", root, err)
	}
	found := false
	for _, z := range zones {
		typ, err := os.ReadFile(filepath.Join(z, "type"))
		if err != nil {
			t.Fatal(err)
		}
		milli := 40000
		if strings.TrimSpace(string(typ)) == hot {
			milli, found = celsius*1000, true
		}
		if err := os.WriteFile(filepath.Join(z, "temp"), []byte(strconv.Itoa(milli)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !found {
		t.Fatalf("no zone of type %s in %s", hot, root)
	}
}

// On a (fixture) Orin Nano that runs hot, hrmd stops taking files above
// thermal.pause_c, holds them in the inbox between resume_c and pause_c,
// and takes them once below resume_c; every change is logged and counted,
// the temperatures are in /metrics, and the answer names the device.
func TestRunThermalBackPressure(t *testing.T) {
	root := fakeSysroot(t, orinNanoFixture)
	setTemperatures(t, root, "cpu-thermal", 95)
	s := newSpool(t, func(c *Config) {
		c.Inference.MaxCycles = 2
		c.Thermal = Thermal{PauseC: 90, ResumeC: 80, Zones: []string{"cpu", "gpu", "soc", "tj"}, PollS: 1}
	})
	s.args = []string{"--sysroot", root}
	// A file an earlier run left claimed in work/: hot from the start, it
	// must not run either (the worker waits too, not only the intake).
	task := arcTasks(t, 2)
	var name, leftover string
	for n := range task {
		if leftover == "" {
			leftover = n
		} else {
			name = n
		}
	}
	if err := os.MkdirAll(s.work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.work, leftover), task[leftover], 0o644); err != nil {
		t.Fatal(err)
	}
	p := s.start()
	started := p.waitLog("hrmd starting", 1, 10*time.Second)
	if dev, _ := started["device"].(string); !strings.Contains(dev, "Jetson Orin Nano") || !strings.Contains(dev, "JetPack 6") {
		t.Errorf("start log device %q, want the Orin Nano with its JetPack", dev)
	}
	p.waitLog("ready", 1, 30*time.Second)
	hot := p.waitLog("too hot: taking no new files until it cools down; they wait in the inbox", 1, 10*time.Second)
	if hot["zone"] != "cpu-thermal" || hot["celsius"] != "95.0" {
		t.Errorf("pause logged %v, want zone cpu-thermal at 95.0", hot)
	}
	s.drop(name, task[name])
	stillWaiting := func(d time.Duration) {
		t.Helper()
		time.Sleep(d)
		if !slices.Contains(names(s.inbox), name) || !slices.Contains(names(s.work), leftover) || len(names(s.outbox)) != 0 {
			t.Fatalf("while hot: inbox %v, work %v, outbox %v; want the new file held in the inbox and the claimed one in work/",
				names(s.inbox), names(s.work), names(s.outbox))
		}
	}
	stillWaiting(2 * time.Second)
	if v := p.metric("hrmd_thermal_paused"); v != "1" {
		t.Errorf("hrmd_thermal_paused %q while hot, want 1", v)
	}
	if v := p.metric(`hrmd_temperature_celsius{type="cpu-thermal",zone="thermal_zone0"}`); v != "95" {
		t.Errorf("cpu-thermal in /metrics: %q, want 95", v)
	}
	if v := p.metric("hrmd_gpu_load_ratio"); v == "" {
		t.Error("no hrmd_gpu_load_ratio on a Jetson")
	}
	// Between resume_c and pause_c it stays paused (hysteresis).
	setTemperatures(t, root, "cpu-thermal", 85)
	stillWaiting(2 * time.Second)

	setTemperatures(t, root, "cpu-thermal", 75)
	cool := p.waitLog("cooled down: taking files again", 1, 10*time.Second)
	if cool["celsius"] != "75.0" {
		t.Errorf("resume logged %v, want 75.0", cool)
	}
	waitUntil(t, 20*time.Second, "the answers", func() bool {
		return slices.Contains(names(s.outbox), name) && slices.Contains(names(s.outbox), leftover)
	})
	var answer struct {
		Runtime struct{ Device string }
	}
	mustJSON(t, filepath.Join(s.outbox, name), &answer)
	if !strings.Contains(answer.Runtime.Device, "Jetson Orin Nano") {
		t.Errorf("runtime.device %q, want the Orin Nano", answer.Runtime.Device)
	}
	if v := p.metric("hrmd_thermal_pauses_total"); v != "1" {
		t.Errorf("hrmd_thermal_pauses_total %q, want 1", v)
	}
	if v := p.metric("hrmd_thermal_paused"); v != "0" {
		t.Errorf("hrmd_thermal_paused %q after cooling, want 0", v)
	}
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(20 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// With providers [tensorrt, cpu] on the CPU-only library the daemon says
// why TensorRT was skipped and runs on CPU; with require: tensorrt it does
// not start, and says why.
func TestRunProviderFallback(t *testing.T) {
	s := newSpool(t, func(c *Config) { c.ONNXRuntime.Providers = []string{"tensorrt", "cpu"} })
	p := s.start()
	skipped := p.waitLog("execution provider unavailable, falling back", 1, 30*time.Second)
	if skipped["provider"] != "tensorrt" || !strings.Contains(skipped["reason"].(string), "Failed to load") {
		t.Errorf("fallback logged %v; want provider tensorrt with onnxruntime's reason", skipped)
	}
	if ready := p.waitLog("ready", 1, 30*time.Second); ready["provider"] != "CPUExecutionProvider" {
		t.Errorf("ready on %v, want CPUExecutionProvider", ready["provider"])
	}
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(20 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}

	s = newSpool(t, func(c *Config) {
		c.ONNXRuntime.Providers = []string{"tensorrt", "cpu"}
		c.ONNXRuntime.Require = "tensorrt"
	})
	p = s.start()
	if code := p.waitExit(30 * time.Second); code != 1 {
		t.Fatalf("exit %d with require: tensorrt on a CPU library, want 1", code)
	}
	log := strings.Join(p.log(), "\n")
	if !strings.Contains(log, "error provider_unavailable: onnxruntime.require is tensorrt") || !strings.Contains(log, "Failed to load") {
		t.Errorf("no reason given:\n%s", log)
	}
	if len(p.find("ready")) != 0 {
		t.Error("ready although the required provider is missing")
	}
}

// doctorSetup is a configuration whose folders and model any user can use,
// so that the doctor can also run as an unprivileged user.
func doctorSetup(t *testing.T, edit func(*Config)) (dir, config string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "hrmd-doctor")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "model"), 0o755); os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "model"), os.DirFS(fixtureBundle)); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Inbox, cfg.Outbox, cfg.Spool = filepath.Join(dir, "inbox"), filepath.Join(dir, "outbox"), filepath.Join(dir, "spool")
	cfg.Model, cfg.TensorRT.EngineCache = filepath.Join(dir, "model"), filepath.Join(dir, "trt")
	if edit != nil {
		edit(&cfg)
	}
	config = filepath.Join(dir, "hrmd.yaml")
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, config
}

// runDoctor runs `hrmd doctor` as a user without root's rights: root reads
// every folder whatever its mode, so an unreadable folder needs another user.
func runDoctor(t *testing.T, args ...string) result {
	t.Helper()
	cmd := hrmdCommand(t, append([]string{"doctor"}, args...)...)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	return runCommand(t, cmd)
}

func TestDoctor(t *testing.T) {
	oldEngine := func(dir string) {
		old := filepath.Join(dir, "trt", "nova-tiny-0123456789abcdef-ort1.24.0-tegra234-l4t36.3.0-fp16")
		if err := os.MkdirAll(old, 0o777); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{old, filepath.Dir(old)} {
			if err := os.Chmod(d, 0o777); err != nil { // past the umask: the doctor may run as nobody
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(old, "TensorrtExecutionProvider_TRTKernel_1.engine"), []byte("engine"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		sysroot string
		setup   func(dir string)
		code    int
		want    []string
	}{
		// This machine: no GPU, the CPU path works.
		{"this host", "/", oldEngine, 0, []string{
			"(not a Jetson", "gpu devices", "TensorrtExecutionProvider unavailable (skipped)",
			"models run on CPUExecutionProvider", "ok    model        nova-tiny", "max_user_watches",
			"old: ", "-ort1.24.0-tegra234-l4t36.3.0-fp16", "rm -r ", "not built yet", "hrmd can run with this configuration.",
		}},
		// A Jetson whose onnxruntime has no TensorRT: it runs, with a warning.
		{"orin nano on cpu", orinNanoFixture, nil, 0, []string{
			"Jetson Orin Nano", "JetPack 6", "warn  provider     models run on CPUExecutionProvider although this is a Jetson",
			"/dev/nvmap", "hrmd can run with this configuration.",
		}},
		{"unreadable model", "/", func(dir string) {
			if err := os.Chmod(filepath.Join(dir, "model"), 0); err != nil {
				t.Fatal(err)
			}
		}, 1, []string{"FAIL  model", "/model", "permission denied", "fix: point model: at a readable bundle folder", "1 problem(s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, config := doctorSetup(t, nil)
			if tt.setup != nil {
				tt.setup(dir)
			}
			r := runDoctor(t, "--config", config, "--sysroot", tt.sysroot)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d", r.code, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("report lacks %q", w)
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			}
		})
	}
}

// require: tensorrt on the CPU-only library blocks: exit 1, naming it.
func TestDoctorRequiredProvider(t *testing.T) {
	_, config := doctorSetup(t, func(c *Config) { c.ONNXRuntime.Require = "tensorrt" })
	r := runDoctor(t, "--config", config)
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL  provider     TensorrtExecutionProvider unavailable and onnxruntime.require is tensorrt") {
		t.Errorf("exit %d:\n%s", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "error "+CodeDoctor) {
		t.Errorf("stderr %q, want the %s code", r.stderr, CodeDoctor)
	}
}

// The installed unit's sandbox decides what the service may write, whatever
// the doctor's own user may: ProtectSystem=strict with ReadWritePaths=, and
// PrivateTmp, from the unit as shipped and its drop-ins.
func TestDoctorSandbox(t *testing.T) {
	unit, err := os.ReadFile("../systemd/hrmd.service")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dropIn string
		code         int
		want         string
	}{
		{"as shipped", "", 0, "warn  sandbox      inbox /tmp/"},
		{"no private tmp", "[Service]\nPrivateTmp=no\n", 1, "is read-only for the service"},
		{"tmp writable", "[Service]\nPrivateTmp=no\nReadWritePaths=/tmp\n", 0, "ok    sandbox      the folders are writable inside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, config := doctorSetup(t, nil)
			root := filepath.Join(dir, "sysroot")
			if err := os.CopyFS(root, os.DirFS("../jetson/testdata/x86-host")); err != nil {
				t.Fatal(err)
			}
			write := func(rel, data string) { t.Helper(); testenv.WriteFile(t, root, rel, data) }
			write("etc/systemd/system/hrmd.service", string(unit))
			if tt.dropIn != "" {
				write("etc/systemd/system/hrmd.service.d/override.conf", tt.dropIn)
			}
			r := runDoctor(t, "--config", config, "--sysroot", root)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.want) {
				t.Errorf("exit %d (want %d), report lacks %q:\n%s", r.code, tt.code, tt.want, r.stdout)
			}
		})
	}
}
