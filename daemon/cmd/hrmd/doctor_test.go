package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/jetson"
)

// doctorSetup is a configuration whose folders and model any user can use,
// so that the doctor can also run as an unprivileged user.
func doctorSetup(t *testing.T, edit func(*config.Config)) (dir, configPath string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "hrmd-doctor")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "model"), 0o755); os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "model"), os.DirFS(tinyBundle)); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Inbox, cfg.Outbox = filepath.Join(dir, "inbox"), filepath.Join(dir, "outbox")
	cfg.Spool = filepath.Join(dir, "spool")
	cfg.Model, cfg.TensorRT.EngineCache = filepath.Join(dir, "model"), filepath.Join(dir, "trt")
	if edit != nil {
		edit(&cfg)
	}
	configPath = filepath.Join(dir, "hrmd.yaml")
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(configPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, configPath
}

// runDoctor runs `hrmd doctor` as a user without root's rights: root reads
// every folder whatever its mode, so an unreadable folder needs another user.
func runDoctor(t *testing.T, args ...string) hrmdtest.Result {
	t.Helper()
	cmd := hrmdtest.Command(t, hrmdBin, append([]string{"doctor"}, args...)...)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	return hrmdtest.Run(t, cmd)
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
		engineFile := filepath.Join(old, "TensorrtExecutionProvider_TRTKernel_1.engine")
		if err := os.WriteFile(engineFile, []byte("engine"), 0o644); err != nil {
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
			"(not a Jetson", "ok    library      onnxruntime 1.30.0 at ", ", chosen: $HRMD_ORT_LIB\n",
			"gpu devices", "TensorrtExecutionProvider unavailable (skipped)",
			"models run on CPUExecutionProvider", "ok    model        nova-tiny", "max_user_watches",
			"old: ", "-ort1.24.0-tegra234-l4t36.3.0-fp16", "rm -r ", "not built yet", "hrmd can run with this configuration.",
		}},
		// A Jetson whose onnxruntime has no TensorRT: it runs, with a warning.
		{"orin nano on cpu", filepath.Join(repoRoot, "jetson", "testdata", "orin-nano"), nil, 0, []string{
			"Jetson Orin Nano", "JetPack 6", "warn  provider     models run on CPUExecutionProvider although this is a Jetson",
			"warn  device       JetPack 6.0 (L4T 36.3.0), CUDA 12.2, TensorRT 8.6: hrmd's GPU path needs JetPack 6.1 or 6.2",
			"/dev/nvmap", "hrmd can run with this configuration.",
		}},
		{"unreadable model", "/", func(dir string) {
			if err := os.Chmod(filepath.Join(dir, "model"), 0); err != nil {
				t.Fatal(err)
			}
		}, 1, []string{"FAIL  model", "/model", "permission denied", "fix: point --model, or model: in ",
			"/hrmd.yaml, at a readable bundle folder", "1 problem(s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, config := doctorSetup(t, nil)
			if tt.setup != nil {
				tt.setup(dir)
			}
			r := runDoctor(t, "--config", config, "--sysroot", tt.sysroot)
			checkReport(t, r, tt.code, tt.want)
		})
	}
}

// TestDoctorNamesConfig runs the doctor as a clone's user would: with
// --model and a config of their own, or --home and none. Its fix lines name
// the config it read, or say that it read none.
func TestDoctorNamesConfig(t *testing.T) {
	tests := []struct {
		name string
		edit func(*config.Config)
		args []string // $DIR is the test's folder, $CONFIG its config there
		code int
		want []string
	}{
		{"clone with a config", nil, []string{"--config", "$CONFIG", "--model", demoBundle}, 0, []string{
			"ok    config       $CONFIG\n", "ok    model        halo-demo", demoBundle,
			"fix: sudo -u hrmd hrmd doctor --config $CONFIG --model " + demoBundle,
			"hrmd can run with this configuration.",
		}},
		{"a folder of the config", func(c *config.Config) { c.Outbox = "/proc/hrmd-outbox" },
			[]string{"--config", "$CONFIG"}, 1, []string{
				"FAIL  folder       outbox /proc/hrmd-outbox", "or change outbox in $CONFIG\n",
			}},
		{"home without a config", nil, []string{"--home", "$DIR/home"}, 1, []string{
			"info  config       no config (--home without --config)",
			"ok    folder       inbox $DIR/home/inbox will be created",
			"FAIL  model        model /usr/share/hrmd/models/default",
			"fix: point --model, or model: in a config passed with --config (none was read), at a readable",
		}},
		{"home and model", nil, []string{"--home", "$DIR/home", "--model", demoBundle}, 0, []string{
			"ok    folder       spool $DIR/home/work will be created", "tensorrt.engine_cache $DIR/home/trt",
			"hrmd can run with this configuration.",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, config := doctorSetup(t, tt.edit)
			vars := strings.NewReplacer("$DIR", dir, "$CONFIG", config)
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = vars.Replace(a)
			}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = vars.Replace(w)
			}
			r := runDoctor(t, args...)
			checkReport(t, r, tt.code, want)
			if strings.Contains(r.Stdout, "/etc/hrmd/hrmd.yaml") {
				t.Errorf("the report names /etc/hrmd/hrmd.yaml, which it did not read:\n%s", r.Stdout)
			}
		})
	}
}

// checkReport checks a doctor run's exit code and that its report holds
// every line of want.
func checkReport(t *testing.T, r hrmdtest.Result, code int, want []string) {
	t.Helper()
	if r.Code != code {
		t.Errorf("exit %d, want %d", r.Code, code)
	}
	for _, w := range want {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("report lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	}
}

// require: tensorrt on the CPU-only library blocks: exit 1, naming it.
func TestDoctorRequiredProvider(t *testing.T) {
	_, config := doctorSetup(t, func(c *config.Config) { c.ONNXRuntime.Require = "tensorrt" })
	r := runDoctor(t, "--config", config)
	if r.Code != 1 ||
		!strings.Contains(
			r.Stdout,
			"FAIL  provider     TensorrtExecutionProvider unavailable and onnxruntime.require is tensorrt",
		) {
		t.Errorf("exit %d:\n%s", r.Code, r.Stdout)
	}
	if !strings.Contains(r.Stderr, "error "+codeDoctor) {
		t.Errorf("stderr %q, want the %s code", r.Stderr, codeDoctor)
	}
}

// The installed unit's sandbox decides what the service may write, whatever
// the doctor's own user may: ProtectSystem=strict with ReadWritePaths=, and
// PrivateTmp, from the unit as shipped and its drop-ins. Its IP filter
// decides who reaches http.listen.
func TestDoctorSandbox(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(repoRoot, "systemd", "hrmd.service"))
	if err != nil {
		t.Fatal(err)
	}
	const blocked = "warn  sandbox      http.listen "
	tests := []struct {
		name, listen, dropIn string
		code                 int
		want, notWant        string
	}{
		{"as shipped", "", "", 0, "warn  sandbox      inbox /tmp/", blocked},
		{"no private tmp", "", "[Service]\nPrivateTmp=no\n", 1, "is read-only for the service", ""},
		{
			"tmp writable",
			"",
			"[Service]\nPrivateTmp=no\nReadWritePaths=/tmp\n",
			0,
			"ok    sandbox      the folders are writable inside",
			"",
		},
		{"listen everywhere", "0.0.0.0:9464", "", 0,
			blocked + "0.0.0.0:9464 takes connections from other machines, but ", ""},
		{
			"listen on every interface",
			":9464",
			"",
			0,
			"IPAddressDeny=any and IPAddressAllow=localhost: only this machine reaches /metrics",
			"",
		},
		{"listen on loopback", "[::1]:9464", "", 0, "", blocked},
		{"scrapers let in", "0.0.0.0:9464", "[Service]\nIPAddressAllow=192.0.2.10\n", 0, "", blocked},
		{"filter reset", "0.0.0.0:9464", "[Service]\nIPAddressDeny=\n", 0, "", blocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, config := doctorSetup(t, func(c *config.Config) {
				if tt.listen != "" {
					c.HTTP.Listen = tt.listen
				}
			})
			root := filepath.Join(dir, "sysroot")
			if err := os.CopyFS(root, os.DirFS(filepath.Join(repoRoot, "jetson", "testdata", "x86-host"))); err != nil {
				t.Fatal(err)
			}
			write := func(rel, data string) { t.Helper(); testenv.WriteFile(t, root, rel, data) }
			write("etc/systemd/system/hrmd.service", string(unit))
			if tt.dropIn != "" {
				write("etc/systemd/system/hrmd.service.d/override.conf", tt.dropIn)
			}
			r := runDoctor(t, "--config", config, "--sysroot", root)
			if r.Code != tt.code || !strings.Contains(r.Stdout, tt.want) {
				t.Errorf("exit %d (want %d), report lacks %q:\n%s", r.Code, tt.code, tt.want, r.Stdout)
			}
			if tt.notWant != "" && strings.Contains(r.Stdout, tt.notWant) {
				t.Errorf("report has %q:\n%s", tt.notWant, r.Stdout)
			}
		})
	}
}

// The Agent Zero probe in doctor: a model that gives one answer to every
// probe grid is warned about, or blocks with input_invariant: refuse; a
// trained one passes.
func TestDoctorInputInvariant(t *testing.T) {
	for _, tt := range []struct {
		mode string
		code int
		want string
	}{
		{"warn", 0, "warn  input probe  the model gives one identical answer to 4 different grids"},
		{"refuse", 1, "FAIL  input probe  the model gives one identical answer to 4 different grids"},
	} {
		dir, config := doctorSetup(t, func(c *config.Config) { c.Inference.InputInvariant = tt.mode })
		replaceModel(t, dir, zeroBundle)
		r := runDoctor(t, "--config", config)
		if r.Code != tt.code || !strings.Contains(r.Stdout, tt.want) {
			t.Errorf("%s: exit %d, want %d and %q:\n%s", tt.mode, r.Code, tt.code, tt.want, r.Stdout)
		}
	}
	// A trained model passes.
	dir, config := doctorSetup(t, nil)
	replaceModel(t, dir, demoBundle)
	if r := runDoctor(t, "--config", config); !strings.Contains(
		r.Stdout,
		"ok    input probe  the model's answers depend on its input",
	) {
		t.Errorf("the demo model:\n%s", r.Stdout)
	}
}

// replaceModel puts the bundle src where doctorSetup put its model.
func replaceModel(t *testing.T, dir, src string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(dir, "model")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "model"), os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

// JetPack 6.0 (L4T 36.3, the orin-nano fixture) runs hrmd on the CPU only:
// the doctor says why and what to do, as a warning when the configuration
// asks for the GPU; JetPack 6.1 and 6.2 (L4T 36.4) pass.
func TestDoctorJetPackForGPU(t *testing.T) {
	const gpuPath = "hrmd's GPU path needs JetPack 6.1 or 6.2 (L4T 36.4 or later, CUDA 12.6, TensorRT 10.3): " +
		"onnxruntime 1.24 or newer, which hrmd needs, is built for Jetson with CUDA 12.6 only (JetPack 6.0's is 1.17), so " +
		"here hrmd runs on the CPU\n"
	for _, tt := range []struct {
		name, release string
		providers     []string
		want          string // "" when no line may say it
	}{
		{"JetPack 6.0", "", nil, "warn  device       JetPack 6.0 (L4T 36.3.0), CUDA 12.2, TensorRT 8.6: " + gpuPath},
		{"JetPack 6.0 on the CPU on purpose", "", []string{"cpu"}, "info  device       JetPack 6.0 (L4T 36.3.0), CUDA " +
			"12.2, TensorRT 8.6: " + gpuPath},
		{"JetPack 6.0 DP", "# R36 (release), REVISION: 2.0, GCID: 35084178, BOARD: generic, EABI: aarch64\n", nil,
			"warn  device       JetPack 6.0 DP (L4T 36.2.0), CUDA 12.2, TensorRT 8.6: " + gpuPath},
		{"JetPack 6.2", "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 " +
			"01:49:37 UTC 2025\n", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, config := doctorSetup(t, func(c *config.Config) {
				if tt.providers != nil {
					c.ONNXRuntime.Providers = tt.providers
				}
			})
			root := filepath.Join(dir, "sysroot")
			if err := os.CopyFS(root, os.DirFS(filepath.Join(repoRoot, "jetson", "testdata", "orin-nano"))); err != nil {
				t.Fatal(err)
			}
			if tt.release != "" {
				testenv.WriteFile(t, root, "etc/nv_tegra_release", tt.release)
			}
			r := runDoctor(t, "--config", config, "--sysroot", root)
			if tt.want != "" {
				checkReport(t, r, 0, []string{tt.want, "fix: upgrade to JetPack 6.1 or 6.2 (docs/jetson.md, JetPack versions)"})
				return
			}
			if strings.Contains(r.Stdout, "GPU path needs") || !strings.Contains(r.Stdout, "JetPack 6.2, L4T 36.4.3") {
				t.Errorf("JetPack 6.2 is warned about, or not read:\n%s", r.Stdout)
			}
		})
	}
}

// The L4T check warns below JetPack 6 only: JetPack 7 (L4T 38, 39) is newer,
// not wrong.
func TestL4TMajor(t *testing.T) {
	for version, want := range map[string]int{"36.3.0": 36, "39.0": 39, "35.5.0": 35, "": 0, "r36": 0} {
		if got := l4tMajor(version); got != want {
			t.Errorf("l4tMajor(%q) = %d, want %d", version, got, want)
		}
	}
}

// The doctor shows the engine in use with the fp16 check's stored verdict,
// and a folder moved aside because onnxruntime could not read it back.
func TestDoctorEngineVerdict(t *testing.T) {
	dir, config := doctorSetup(t, nil)
	r := runDoctor(t, "--config", config)
	line := ""
	for _, l := range strings.Split(r.Stdout, "\n") {
		if strings.Contains(l, ": not built yet") {
			line = l
		}
	}
	i := strings.Index(line, filepath.Join(dir, "trt")+"/")
	if i < 0 {
		t.Fatalf("no line names the engine folder to be built:\n%s", r.Stdout)
	}
	current := strings.TrimSuffix(line[i:strings.Index(line, ": not built yet")], "/")
	write := func(folder, name, data string) {
		t.Helper()
		if err := os.MkdirAll(folder, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(folder, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(current, "TensorrtExecutionProvider_TRTKernel_step.engine", "engine")
	write(current, "hrmd-engine.json",
		`{"build": {"precision": "fp16"}, "tensorrt": "10.3.0.30", "check": {"precision": "fp16", "passed": false,
		"inputs": 6, "grids_same": 4, "min_cell_agreement": 0.97, "halt_cycles_same": 6, "max_halt_diff": 0.002,
		"reason": "a grid differs"}}`)
	write(current+".broken-20261202T101010Z", "TensorrtExecutionProvider_TRTKernel_step.engine", "trunc")
	for _, d := range []string{filepath.Join(dir, "trt"), current, current + ".broken-20261202T101010Z"} {
		if err := os.Chmod(d, 0o777); err != nil { // past the umask: the doctor may run as nobody
			t.Fatal(err)
		}
	}
	r = runDoctor(t, "--config", config)
	for _, want := range []string{
		"fp16 check FAILED: 4/6 grids identical", "hrmd does not use it", "tensorrt.fp16_check: fallback runs an fp32 " +
			"engine instead",
		": built by TensorRT 10.3.0.30 (1 engines",
		".broken-20261202T101010Z: moved aside because onnxruntime could not read the engine back",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.Stdout)
		}
	}
	// The fp32 engine that replaces the failed one is in use too, not old.
	fp32 := ""
	for _, l := range strings.Split(r.Stdout, "\n") {
		if i := strings.Index(l, filepath.Join(dir, "trt")+"/"); i >= 0 && strings.Contains(l, "-fp32-") &&
			strings.HasSuffix(l, ": not built yet; the first start with TensorRT builds it (minutes on a Jetson)") {
			fp32 = l[i:strings.Index(l, ": not built yet")]
		}
	}
	if fp32 == "" {
		t.Fatalf("no line names the fp32 engine that replaces the failed one:\n%s", r.Stdout)
	}
	write(fp32, "TensorrtExecutionProvider_TRTKernel_step.engine", "engine")
	write(
		fp32,
		"hrmd-engine.json",
		`{"build": {"precision": "fp32"}, "check": {"precision": "fp32", "passed": true, "inputs": 6, "grids_same": 6,
		"min_cell_agreement": 1, "halt_cycles_same": 6, "max_halt_diff": 0.0001}}`,
	)
	if err := os.Chmod(fp32, 0o777); err != nil {
		t.Fatal(err)
	}
	r = runDoctor(t, "--config", config)
	if !strings.Contains(r.Stdout, "fp32 check passed: 6/6 grids identical") || strings.Contains(r.Stdout, "old: "+fp32) {
		t.Errorf("the fp32 engine in use is not reported as such:\n%s", r.Stdout)
	}
}

// placedOnCPU matches a deep check's line for a graph run on the CPU.
var placedOnCPU = regexp.MustCompile(
	`(?m)^ok    deep         (init|step)\.onnx: [1-9][0-9]* nodes on CPUExecutionProvider$`,
)

// `hrmd doctor --deep` loads the model with the configured providers and
// runs one step, saying in one line each which provider took it, where its
// TensorRT engine came from and what the fp16 check found.
func TestDoctorDeep(t *testing.T) {
	orin := filepath.Join(repoRoot, "jetson", "testdata", "orin-nano")
	for _, tt := range []struct {
		name      string
		sysroot   string
		providers []string
		require   string
		code      int
		want      []string
	}{
		{"configured for the CPU", "/", []string{"cpu"}, "", 0, []string{
			"ok    deep         the model ran one step on CPUExecutionProvider (fp32) in ",
			", as configured (onnxruntime.providers [cpu]): no GPU in use\n",
			"info  deep         no TensorRT engine: TensorRT did not take the model\n",
			"info  deep         fp16 check: not run",
		}},
		{"require tensorrt", "/", []string{"tensorrt", "cuda", "cpu"}, "tensorrt", 1, []string{
			"FAIL  deep         no session with onnxruntime.providers [tensorrt cuda cpu]: onnxruntime.require is tensorrt, " +
				"but onnxruntime 1.30.0",
		}},
		{"a PC without a GPU", "/", []string{"tensorrt", "cuda", "cpu"}, "", 0, []string{
			"warn  deep         the model ran one step on CPUExecutionProvider (fp32) in ",
			": no GPU provider of onnxruntime.providers [tensorrt cuda cpu] works here (not a Jetson, so not degraded)\n",
		}},
		{"a Jetson without its GPU", orin, []string{"tensorrt", "cuda", "cpu"}, "", 1, []string{
			"; hrmd run would be degraded: running on the CPU although onnxruntime.providers starts with tensorrt: " +
				"TensorrtExecutionProvider unavailable: ",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, config := doctorSetup(t, func(c *config.Config) {
				c.ONNXRuntime.Providers, c.ONNXRuntime.Require = tt.providers, tt.require
			})
			// The profiles go to a temporary folder, removed after.
			tmp := filepath.Join(dir, "tmp")
			if err := os.Mkdir(tmp, 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(tmp, 0o777); err != nil { // past the umask: the doctor may run as nobody
				t.Fatal(err)
			}
			t.Setenv("TMPDIR", tmp)
			r := runDoctor(t, "--config", config, "--sysroot", tt.sysroot, "--deep")
			checkReport(t, r, tt.code, tt.want)
			// Every node of both graphs ran on the CPU, as the profiles say.
			if tt.code == 0 && len(placedOnCPU.FindAllString(r.Stdout, -1)) != 2 {
				t.Errorf("want a line for init.onnx and one for step.onnx, every node on the CPU:\n%s", r.Stdout)
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("the doctor left %v in $TMPDIR", left)
			}
		})
	}
}

// A deep check by another user than the engine cache's owner (root, for
// one, when the service runs as hrmd) would leave engines the service
// cannot use: it stops before loading anything and names the command to
// run instead. Making a folder someone else's takes root.
func TestDoctorDeepCacheOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving the cache folder another owner needs root")
	}
	dir, config := doctorSetup(t, nil)
	cache := filepath.Join(dir, "trt")
	if err := os.Mkdir(cache, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(cache, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	// As root, as one would run sudo hrmd doctor --deep.
	r := hrmdtest.Run(t, hrmdtest.Command(t, hrmdBin, "doctor", "--config", config, "--deep"))
	owner := userName(65534)
	checkReport(t, r, 1, []string{
		"FAIL  deep         not run: tensorrt.engine_cache " + cache + " belongs to " + owner + ", and this is root: the " +
			"engines --deep builds would be root's, and hrmd run, as " + owner + ", could not use them\n",
		"fix: run it as the cache's owner: sudo -u " + owner + " hrmd doctor --config " + config + " --deep\n",
	})
	if strings.Contains(r.Stdout, "the model ran one step") {
		t.Errorf("the deep check loaded the model:\n%s", r.Stdout)
	}
	if entries, _ := os.ReadDir(cache); len(entries) > 0 {
		t.Errorf("the cache holds %v", entries)
	}
}

// Whose the engine cache is: its folder's owner or, before it exists, the
// owner of the folder it would be created in; nobody's in a folder anyone
// may write to.
func TestCacheOwner(t *testing.T) {
	me := uint32(os.Geteuid())
	root := t.TempDir()
	private, open := filepath.Join(root, "private"), filepath.Join(root, "open")
	for d, mode := range map[string]os.FileMode{private: 0o755, open: 0o1777} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		dir, at string
		known   bool
	}{
		{private, private, true},
		{filepath.Join(private, "trt"), private, true},
		{filepath.Join(private, "cache", "hrmd", "trt") + "/", private, true},
		{filepath.Join(open, "trt"), open, false},
		{open, open, true}, // the cache folder itself, whatever its mode
	} {
		uid, at, known, err := cacheOwner(tt.dir)
		if err != nil || at != tt.at || known != tt.known || (known && uid != me) {
			t.Errorf("cacheOwner(%s) = %d, %s, %v, %v; want %d, %s, %v", tt.dir, uid, at, known, err, me, tt.at, tt.known)
		}
	}
	if me != 0 {
		return // the rest makes a folder someone else's
	}
	if err := os.Chown(private, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	if uid, _, known, err := cacheOwner(filepath.Join(private, "trt")); err != nil || !known || uid != 12345 {
		t.Errorf("a folder of uid 12345: %d, %v, %v", uid, known, err)
	}
	if got := userName(12345); got != "#12345" {
		t.Errorf("a user without a name is %q, want #12345", got)
	}
}

// The command the doctor suggests can be pasted into a shell.
func TestShellCommand(t *testing.T) {
	got := shellCommand(
		[]string{"sudo", "-u", "#12345", "hrmd", "doctor", "--config", "/etc/my hrmd/it's.yaml", "--deep", ""},
	)
	if want := `sudo -u '#12345' hrmd doctor --config '/etc/my hrmd/it'\''s.yaml' --deep ''`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// Only the GPU nodes CUDA opens by name must be open to the user: nvmap,
// the nvgpu ctrl node and host1x-fence on an Orin with JetPack 6; a closed
// profiler node is no problem, a closed ctrl node is named alone.
func TestDoctorGPUNodes(t *testing.T) {
	for _, tt := range []struct {
		name   string
		closed string // below dev/
		want   string
	}{
		{"profiler node closed", "nvgpu/igpu0/prof",
			"ok    gpu devices  the GPU device nodes CUDA opens are readable and writable: "},
		{"ctrl node closed", "nvgpu/igpu0/ctrl",
			"warn  gpu devices  this user cannot open "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, config := doctorSetup(t, func(c *config.Config) { c.ONNXRuntime.Providers = []string{"cpu"} })
			root := filepath.Join(dir, "sysroot")
			if err := os.CopyFS(root, os.DirFS(filepath.Join(repoRoot, "jetson", "testdata", "orin-nano"))); err != nil {
				t.Fatal(err)
			}
			for _, n := range jetson.NewFS(root).GPUDeviceNodes() {
				if err := os.Chmod(n, 0o666); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range []string{"host1x-fence", tt.closed} {
				mode := os.FileMode(0o666)
				if n == tt.closed {
					mode = 0o444
				}
				if err := os.Chmod(filepath.Join(root, "dev", n), mode); err != nil {
					t.Fatal(err)
				}
			}
			r := runDoctor(t, "--config", config, "--sysroot", root)
			line := ""
			for _, l := range strings.Split(r.Stdout, "\n") {
				if strings.Contains(l, "gpu devices") {
					line = l
				}
			}
			if !strings.HasPrefix(line, tt.want) {
				t.Errorf("gpu devices line %q, want %q...\n%s", line, tt.want, r.Stdout)
			}
			if tt.closed == "nvgpu/igpu0/ctrl" &&
				(!strings.HasSuffix(line, "/dev/nvgpu/igpu0/ctrl") || strings.Contains(line, ",")) {
				t.Errorf("want the ctrl node named alone: %q", line)
			}
			if strings.Contains(line, "prof") {
				t.Errorf("the profiler node is checked: %q", line)
			}
		})
	}
}

// An act-v1 bundle's puzzle table: checked once and remembered, read
// through again with --verify, and a changed one fails.
func TestDoctorPuzzleTable(t *testing.T) {
	dir, config := doctorSetup(t, func(c *config.Config) { c.ONNXRuntime.Providers = []string{"cpu"} })
	model := filepath.Join(dir, "model")
	if err := os.RemoveAll(model); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(model, os.DirFS(actBundle)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{model, filepath.Join(dir, "trt")} {
		os.MkdirAll(p, 0o777)
		os.Chmod(p, 0o777) // past the umask: the doctor may run as nobody
	}
	first := runDoctor(t, "--config", config)
	second := runDoctor(t, "--config", config)
	forced := runDoctor(t, "--config", config, "--verify")
	for _, c := range []struct {
		r    hrmdtest.Result
		want string
	}{
		{first, "puzzle_emb.bin: 8 puzzle rows of 32 values (1 KiB, memory-mapped); sha256 checked now"},
		{second, "sha256 checked before and the file unchanged since (--verify reads it again)"},
		{forced, "; sha256 checked now"},
	} {
		if !strings.Contains(c.r.Stdout, c.want) {
			t.Errorf("report lacks %q:\n%s", c.want, c.r.Stdout)
		}
	}
	table := filepath.Join(model, "puzzle_emb.bin")
	data, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 0xff
	if err := os.WriteFile(table, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runDoctor(t, "--config", config); r.Code != 1 || !strings.Contains(r.Stdout, "FAIL  puzzle table") ||
		!strings.Contains(r.Stdout, "bundle_checksum") && !strings.Contains(r.Stdout, "the file changed after export") {
		t.Errorf("a changed table: exit %d\n%s", r.Code, r.Stdout)
	}
}

// With queue:, the doctor connects to each server as the fleet member
// would: one out of reach, or too small a max_payload, is a FAIL naming it;
// a gateway needs neither a model nor onnxruntime.
func TestDoctorQueue(t *testing.T) {
	srv := hrmdtest.StartNATS(t, "max_payload: 8MB\n")
	small := hrmdtest.StartNATS(t, "max_payload: 1MB\n")
	free, err := hrmdtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	nobody := "nats://" + free
	tests := []struct {
		name    string
		role    string
		servers []string
		code    int
		want    []string
		not     []string
	}{
		{"gateway without a model or onnxruntime", config.RoleGateway, []string{srv.URL}, 0,
			[]string{
				"ok    queue        " + srv.URL + ": connected",
				"queue.role is gateway: no model and no onnxruntime",
				"hrmd can run with this configuration.",
			},
			[]string{"FAIL", "library", "model        model"}},
		{"worker, no server there", config.RoleWorker, []string{nobody}, 1,
			[]string{"FAIL  queue        " + nobody + ": not connected", "fix: start nats-server there", "1 problem(s)"}, nil},
		{"gateway, one server of two there", config.RoleGateway, []string{nobody, srv.URL}, 0,
			[]string{"warn  queue        " + nobody, "ok    queue        " + srv.URL}, []string{"FAIL"}},
		{"max_payload too small", config.RoleGateway, []string{small.URL}, 1,
			[]string{"FAIL  queue        " + small.URL + ": server ", "max_payload is 1048576 bytes"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, config := doctorSetup(t, func(c *config.Config) {
				c.Queue.Role, c.Queue.Servers, c.Queue.Replicas = tt.role, tt.servers, 1
				if tt.role == config.RoleGateway {
					c.Model, c.ONNXRuntime.Library = "/nonexistent/model", "/nonexistent/libonnxruntime.so"
				}
			})
			r := runDoctor(t, "--config", config)
			checkReport(t, r, tt.code, tt.want)
			for _, n := range tt.not {
				if strings.Contains(r.Stdout, n) {
					t.Errorf("report holds %q:\n%s", n, r.Stdout)
				}
			}
		})
	}
}

// A config with a key of an older hrmd passes, with a warning that says
// what to write instead.
func TestDoctorNamesOlderKeys(t *testing.T) {
	_, configPath := doctorSetup(t, func(c *config.Config) { c.ONNXRuntime.Providers = []string{"cpu"} })
	data, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	older := strings.Replace(string(data), "settle: 250ms", "settle_ms: 500", 1)
	if older == string(data) {
		t.Fatalf("no settle: 250ms in\n%s", data)
	}
	if err := os.WriteFile(configPath, []byte(older), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runDoctor(t, "--config", configPath)
	want := "warn  config       watch.settle_ms: 500 is an older key, read as watch.settle: 500ms; write that instead"
	if r.Code != 0 || !strings.Contains(r.Stdout, want) {
		t.Errorf("exit %d, want 0 and %q:\n%s\n%s", r.Code, want, r.Stdout, r.Stderr)
	}
}
