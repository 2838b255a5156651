package systemd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/hrmd/hrmd/internal/hrmdtest"
)

// hrmdBin is the real hrmd, built once: the unit's ExecStart and the binary
// install.sh installs.
var hrmdBin string

func TestMain(m *testing.M) { os.Exit(hrmdtest.Main(m, &hrmdBin)) }

// needTool finds a system tool the test needs. CI installs them
// (HRMD_REQUIRE_SYSTEMD); elsewhere their absence skips the test.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("HRMD_REQUIRE_SYSTEMD") != "" {
			t.Fatalf("%s is needed (apt-get install systemd passwd): %v", name, err)
		}
		t.Skipf("no %s here (apt-get install systemd passwd)", name)
	}
	return path
}

// systemd-analyze verify accepts the shipped unit (with ExecStart pointing at
// a real hrmd, which verify insists exists).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	data, err := os.ReadFile("hrmd.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(data), "/usr/bin/hrmd", hrmdBin)
	verifyUnit(t, analyze, "hrmd.service", unit)
	for _, want := range []string{"Type=notify", "WatchdogSec=", "SupplementaryGroups=video " +
		"render", "ProtectSystem=strict",
		"ReadWritePaths=/var/lib/hrmd /var/cache/hrmd", "NoNewPrivileges=yes", "PrivateTmp=yes", "Restart=on-failure"} {
		if !strings.Contains(unit, want) {
			t.Errorf("hrmd.service lacks %s", want)
		}
	}
}

// maxExposure is the most `systemd-analyze security` may score the shipped
// unit (0 is a unit that can touch nothing, 10 one that can touch anything).
const maxExposure = 2.0

// The sandbox holds its score, and keeps what the GPU needs while doing so:
// a lower score bought by taking the GPU away is no gain.
func TestSystemdUnitSandbox(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	score, out := unitExposure(t, analyze, "hrmd.service")
	if score > maxExposure {
		var open []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "✗") {
				open = append(open, line)
			}
		}
		t.Errorf(
			"systemd/hrmd.service scores %.1f, above %.1f: tighten it again (docs/service.md, \"The sandbox\"); what it "+
				"leaves open:\n%s",
			score,
			maxExposure,
			strings.Join(open, "\n"),
		)
	}

	service := unitService(t, "hrmd.service")
	for _, want := range []string{"/dev/nvmap rw", "char-*.gpu rw", "char-host1x-fence " +
		"rw", "char-drm rw", "char-nvidia* rw"} {
		if !slices.Contains(service["DeviceAllow"], want) {
			t.Errorf("hrmd.service lacks DeviceAllow=%s: hrmd could not open the GPU under DevicePolicy=closed", want)
		}
	}
	for key, why := range map[string]string{
		"PrivateDevices":         "hides the GPU's device nodes",
		"MemoryDenyWriteExecute": "may refuse the CUDA and TensorRT libraries",
		"PrivateUsers":           "leaves the video group, which opens the GPU, unmapped",
		"PrivateNetwork":         "closes the metrics port",
		"ProcSubset":             "hides /proc/device-tree, /proc/meminfo and /proc/cpuinfo",
	} {
		if v := service[key]; len(v) > 0 && v[len(v)-1] != "no" {
			t.Errorf("hrmd.service sets %s=%s, which %s: leave it out", key, v[len(v)-1], why)
		}
	}
	filter := strings.Join(service["SystemCallFilter"], " ")
	if !strings.Contains(filter, "@system-service") || strings.Contains(filter, "~@resources") {
		t.Errorf(
			"SystemCallFilter=%s: @system-service, with @resources (onnxruntime pins its threads), is what hrmd needs",
			filter,
		)
	}
}

// verifyUnit runs systemd-analyze verify on a unit's text, saved as name: it
// must pass and say nothing about the unit.
func verifyUnit(t *testing.T, analyze, name, text string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), name) {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", name, err, out)
	}
}

// unitExposure is systemd-analyze security's score for the unit file at path,
// and its whole output.
func unitExposure(t *testing.T, analyze, path string) (float64, []byte) {
	t.Helper()
	out, err := exec.Command(analyze, "security", "--offline=yes", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security --offline=yes (systemd 250 or newer): %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for ` + regexp.QuoteMeta(filepath.Base(path)) + `: (\d+\.\d+)`).
		FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in systemd-analyze's output:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	return score, out
}

// unitService is a unit file's [Service] settings, each key's values in order.
func unitService(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts, err := unit.DeserializeOptions(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	service := map[string][]string{}
	for _, o := range opts {
		if o.Section == "Service" {
			service[o.Name] = append(service[o.Name], o.Value)
		}
	}
	return service
}

// install.sh into a temporary root: the user in video and render, the files, the
// folders; run again, it keeps an edited config.
func TestInstallScript(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("HRMD_REQUIRE_SYSTEMD") != "" {
			t.Fatal("install.sh creates a user: the test must run as root")
		}
		t.Skip("install.sh creates a user: run as root")
	}
	needTool(t, "useradd")
	needTool(t, "systemd-tmpfiles")
	// A release folder: the binary beside install.sh and the unit files.
	release := t.TempDir()
	for _, f := range []string{"install.sh", "hrmd.service", "hrmd.tmpfiles", "hrmd.yaml", "grafana-dashboard.json"} {
		copyFile(t, f, filepath.Join(release, f))
	}
	copyFile(t, hrmdBin, filepath.Join(release, "hrmd"))
	root := t.TempDir()
	for name, content := range map[string]string{
		"etc/passwd":  "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":   "root:x:0:\nvideo:x:44:\n",
		"etc/shadow":  "root:*:19000:0:99999:7:::\n",
		"etc/gshadow": "root:*::\nvideo:!::\n",
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	install := func() string {
		out, err := exec.Command("sh", filepath.Join(release, "install.sh"), "--root", root).CombinedOutput()
		if err != nil {
			t.Fatalf("install.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	install()
	for _, f := range []string{
		"usr/bin/hrmd", "etc/systemd/system/hrmd.service", "usr/lib/tmpfiles.d/hrmd.conf", "etc/hrmd/hrmd.yaml",
		"var/lib/hrmd/inbox", "var/lib/hrmd/outbox", "var/lib/hrmd/done", "var/lib/hrmd/failed", "var/lib/hrmd/work",
		"var/cache/hrmd/trt", "usr/share/hrmd/grafana/hrmd.json",
	} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	group, _ := os.ReadFile(filepath.Join(root, "etc/group"))
	// video was there, render is made: the unit needs both.
	if !strings.Contains(string(passwd), "hrmd:x:") || !strings.Contains(string(group), "video:x:44:hrmd") ||
		!regexp.MustCompile(`(?m)^render:x:\d+:hrmd$`).Match(group) {
		t.Errorf("user hrmd not created in video and render:\n%s\n%s", passwd, group)
	}
	config := filepath.Join(root, "etc/hrmd/hrmd.yaml")
	if err := os.WriteFile(config, []byte("inference: {max_batch: 8}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := install() // again: idempotent, and the edit survives
	if data, _ := os.ReadFile(config); string(data) != "inference: {max_batch: 8}\n" ||
		!strings.Contains(out, "kept your /etc/hrmd/hrmd.yaml") {
		t.Errorf("the edited config was not kept: %q\n%s", data, out)
	}
	if _, err := os.Stat(config + ".new"); err != nil {
		t.Errorf("no hrmd.yaml.new beside the kept config: %v", err)
	}
	if passwd2, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); strings.Count(string(passwd2), "hrmd:x:") != 1 {
		t.Errorf("second run added the user again:\n%s", passwd2)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// install.sh --help prints its whole header comment, every option it takes
// included, and nothing after it: no sentence cut off at a line count.
func TestInstallScriptHelp(t *testing.T) {
	script, err := os.ReadFile("install.sh")
	if err != nil {
		t.Fatal(err)
	}
	var header []string
	for _, line := range strings.Split(string(script), "\n")[1:] {
		if !strings.HasPrefix(line, "#") {
			break
		}
		header = append(header, strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "))
	}
	out, err := exec.Command("sh", "install.sh", "--help").Output()
	if err != nil {
		t.Fatalf("install.sh --help: %v", err)
	}
	if got, want := string(out), strings.Join(header, "\n")+"\n"; got != want {
		t.Errorf("install.sh --help printed:\n%s\nwant its header comment:\n%s", got, want)
	}
	for _, opt := range regexp.MustCompile(`(?m)^\s*(--[a-z-]+)\)`).FindAllStringSubmatch(string(script), -1) {
		if !strings.Contains(string(out), opt[1]) {
			t.Errorf("install.sh takes %s, and its --help does not say so", opt[1])
		}
	}
	if !strings.Contains(string(out), "etc/passwd") {
		t.Error("install.sh --help does not say that --root needs etc/passwd and etc/group")
	}
}
