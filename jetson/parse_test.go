package jetson

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// writeTree builds a root folder from path → content; content starting with
// "-> " makes a symbolic link to the rest, a path ending in "/" a folder.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(rel, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(content, "-> "):
			err = os.Symlink(strings.TrimPrefix(content, "-> "), p)
		default:
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestParseL4T(t *testing.T) {
	tests := []struct{ release, want string }{
		{
			"# R36 (release), REVISION: 3.0, GCID: 36191598, BOARD: generic, EABI: aarch64, DATE: Mon May  6 17:34:21 UTC " +
				"2024\n# KERNEL_VARIANT: oot\n",
			"36.3.0",
		},
		{
			"# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025",
			"36.4.3",
		},
		{
			"# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023",
			"35.4.1",
		},
		{
			"# R32 (release), REVISION: 7.4, GCID: 33514132, BOARD: t186ref, EABI: aarch64, DATE: Fri Jun  9 04:25:08 UTC 2023",
			"32.7.4",
		},
		{"# R32 (release), REVISION: 1, GCID: 14367753, BOARD: t210ref", "32.1.0"}, // no patch part
		{"# R35 (release), REVISION: 03.01, GCID: 1", "35.3.1"},                    // zero-padded
		{"#R37 (release),REVISION:1.0", "37.1.0"},                                  // spacing
		{"TARGET_USERSPACE_LIB_DIR=nvidia\n# R36 (release), REVISION: 3.0", ""},    // only the first line counts
		{"# R36, REVISION: 3.0", ""},
		{"", ""},
		{"\x00\x00garbage", ""},
	}
	for _, tt := range tests {
		if got := parseL4T([]byte(tt.release)); got != tt.want {
			t.Errorf("parseL4T(%q) = %q, want %q", tt.release, got, tt.want)
		}
	}
}

func TestJetPack(t *testing.T) {
	tests := []struct{ l4t, want string }{
		{"32.6.1", "4.6"},
		{"32.7.1", "4.6.1"}, {"32.7.2", "4.6.2"}, {"32.7.3", "4.6.3"},
		{"32.7.4", "4.6.4"}, {"32.7.5", "4.6.5"}, {"32.7.6", "4.6.6"},
		{"35.1.0", "5.0.2"}, {"35.2.1", "5.1"}, {"35.3.1", "5.1.1"}, {"35.4.1", "5.1.2"},
		{"35.5.0", "5.1.3"}, {"35.6.0", "5.1.4"}, {"35.6.1", "5.1.5"},
		{"36.2.0", "6.0 DP"}, {"36.3.0", "6.0"}, {"36.4.0", "6.1"}, {"36.4.3", "6.2"}, {"36.4.4", "6.2.1"},
		// Not in the table: no guess from the neighbours.
		{"37.1.0", ""}, {"36.4.2", ""}, {"35.4.0", ""}, {"32.7", ""}, {"36.3", ""}, {"", ""},
	}
	for _, tt := range tests {
		if got := jetPack(tt.l4t); got != tt.want {
			t.Errorf("jetPack(%q) = %q, want %q", tt.l4t, got, tt.want)
		}
	}
}

func TestParsePowerModeID(t *testing.T) {
	tests := []struct {
		status string
		id     int
		ok     bool
	}{
		{"pmode:0001 fmode:quiet\n", 1, true},
		{"pmode:0000 fmode:cool", 0, true},
		{"pmode:0008\n", 8, true}, // older releases write no fan mode
		{"fmode:quiet pmode:0002", 2, true},
		{"pmode:12", 12, true},
		{"pmode:", 0, false},
		{"pmode:x", 0, false},
		{"pmode:-1", 0, false},
		{"fmode:quiet", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		id, ok := parsePowerModeID([]byte(tt.status))
		if id != tt.id || ok != tt.ok {
			t.Errorf("parsePowerModeID(%q) = %d, %v; want %d, %v", tt.status, id, ok, tt.id, tt.ok)
		}
	}
}

func TestPowerModeName(t *testing.T) {
	const conf = `# < POWER_MODEL ID=id_num NAME=mode_name >
# < POWER_MODEL ID=2 NAME=COMMENTED >
< PARAM TYPE=FILE NAME=CPU_ONLINE >
CORE_0 /sys/devices/system/cpu/cpu0/online
< POWER_MODEL ID=0 NAME=15W >
CPU_ONLINE CORE_0 1
  <   POWER_MODEL   ID=1   NAME=7W   >
< POWER_MODEL NAME=MAXN_SUPER ID=3 >
< POWER_MODEL ID=4 >
< PM_CONFIG DEFAULT=0 >
`
	tests := []struct {
		id   int
		want string
	}{
		{0, "15W"},
		{1, "7W"},         // loose spacing
		{2, ""},           // only commented out
		{3, "MAXN_SUPER"}, // keys in the other order
		{4, ""},           // no NAME
		{5, ""},           // not there
	}
	for _, tt := range tests {
		if got := powerModeName([]byte(conf), tt.id); got != tt.want {
			t.Errorf("powerModeName(%d) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

// Probe's nvpmodel cases beyond the fixtures: the id alone is still a fact.
func TestProbePowerMode(t *testing.T) {
	conf := "< POWER_MODEL ID=0 NAME=15W >\n< POWER_MODEL ID=1 NAME=7W >\n"
	tests := []struct {
		name   string
		files  map[string]string
		mode   string
		modeID int
	}{
		{"status without fmode", map[string]string{
			"var/lib/nvpmodel/status": "pmode:0001\n",
			"etc/nvpmodel.conf":       conf,
		}, "7W", 1},
		{"conf without the id", map[string]string{
			"var/lib/nvpmodel/status": "pmode:0002 fmode:quiet\n",
			"etc/nvpmodel.conf":       conf,
		}, "", 2},
		{"no conf", map[string]string{
			"var/lib/nvpmodel/status": "pmode:0001\n",
		}, "", 1},
		{"no status", map[string]string{
			"etc/nvpmodel.conf": conf,
		}, "", -1},
		{"garbage status", map[string]string{
			"var/lib/nvpmodel/status": "\x00\x01",
			"etc/nvpmodel.conf":       conf,
		}, "", -1},
		{"conf links out of the root", map[string]string{
			"var/lib/nvpmodel/status": "pmode:0001\n",
			"etc/nvpmodel.conf":       "-> ../../../../../../etc/nvpmodel/board.conf",
			"etc/nvpmodel/board.conf": conf,
		}, "7W", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewFS(writeTree(t, tt.files)).Probe()
			if err != nil {
				t.Fatal(err)
			}
			if d.PowerMode != tt.mode || d.PowerModeID != tt.modeID {
				t.Errorf("power mode %q, id %d; want %q, %d", d.PowerMode, d.PowerModeID, tt.mode, tt.modeID)
			}
		})
	}
}

// A file that is there but cannot be read is an error naming it, and the
// other facts are still read.
func TestProbeReadError(t *testing.T) {
	root := writeTree(t, map[string]string{
		"proc/device-tree/model": "NVIDIA Jetson Orin Nano Developer Kit\x00",
		"etc/nv_tegra_release/":  "",
		"proc/meminfo":           "MemTotal:        8000000 kB\n",
	})
	d, err := NewFS(root).Probe()
	if !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("err = %v, want EISDIR", err)
	}
	want := fmt.Sprintf("read %s: is a directory", filepath.Join(root, "etc/nv_tegra_release"))
	if err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	if !d.Jetson || d.Memory.Total != 8000000<<10 {
		t.Errorf("the readable facts were dropped: %#v", d)
	}
}

func TestReadSmallEmpty(t *testing.T) {
	root := writeTree(t, map[string]string{"empty": ""})
	b, err := readSmall(filepath.Join(root, "empty"))
	if err != nil || len(b) != 0 {
		t.Errorf("readSmall(empty file) = %q, %v; want empty, nil", b, err)
	}
	_, err = readSmall(filepath.Join(root, "absent"))
	if !errors.Is(err, fs.ErrNotExist) || strings.Count(err.Error(), "absent") != 1 {
		t.Errorf("readSmall(absent) = %v; want ErrNotExist naming the path once", err)
	}
}

func TestResolve(t *testing.T) {
	root := writeTree(t, map[string]string{
		"etc/nvpmodel/board.conf":                        "x",
		"etc/abs.conf":                                   "-> /etc/nvpmodel/board.conf",
		"etc/rel.conf":                                   "-> nvpmodel/board.conf",
		"etc/escape.conf":                                "-> ../../../../../../../etc/nvpmodel/board.conf",
		"etc/chain.conf":                                 "-> abs.conf",
		"proc/device-tree":                               "-> /sys/firmware/devicetree/base",
		"sys/firmware/devicetree/base/model":             "m",
		"sys/class/thermal/thermal_zone0":                "-> ../../devices/virtual/thermal/thermal_zone0",
		"sys/devices/virtual/thermal/thermal_zone0/temp": "1",
		"loop/a": "-> b",
		"loop/b": "-> a",
	})
	f := NewFS(root)
	tests := []struct{ rel, want string }{
		{"etc/abs.conf", "etc/nvpmodel/board.conf"},
		{"etc/rel.conf", "etc/nvpmodel/board.conf"},
		{"etc/escape.conf", "etc/nvpmodel/board.conf"},
		{"etc/chain.conf", "etc/nvpmodel/board.conf"},
		{"proc/device-tree/model", "sys/firmware/devicetree/base/model"},
		{"sys/class/thermal/thermal_zone0/temp", "sys/devices/virtual/thermal/thermal_zone0/temp"},
		{"/etc/../../etc/./rel.conf", "etc/nvpmodel/board.conf"},
		{"etc/absent/file", "etc/absent/file"},
		{"loop/a", "loop/a"}, // handed on unresolved; the OS reports ELOOP
		{"loop/a/../../../../etc/rel.conf", "etc/rel.conf"},
	}
	for _, tt := range tests {
		if got, want := f.resolve(tt.rel), filepath.Join(root, tt.want); got != want {
			t.Errorf("resolve(%q) = %q, want %q", tt.rel, got, want)
		}
	}
	if got := NewFS("/").resolve("proc/meminfo"); got != "/proc/meminfo" {
		t.Errorf("resolve on / = %q", got)
	}
}

func TestThermalsEdges(t *testing.T) {
	root := writeTree(t, map[string]string{
		"sys/class/thermal/thermal_zone10/type":  "tboard\n",
		"sys/class/thermal/thermal_zone10/temp":  "30000\n",
		"sys/class/thermal/thermal_zone2/type":   "gpu-thermal\n",
		"sys/class/thermal/thermal_zone2/temp":   "-5500\n", // below zero is a reading
		"sys/class/thermal/thermal_zone1/type":   "cpu-thermal\n",
		"sys/class/thermal/thermal_zone1/temp":   "45000",
		"sys/class/thermal/thermal_zone3/type":   "cv0-thermal\n",
		"sys/class/thermal/thermal_zone3/temp":   "-256000\n", // offline
		"sys/class/thermal/thermal_zone4/type":   "empty\n",
		"sys/class/thermal/thermal_zone4/temp":   "",
		"sys/class/thermal/thermal_zone5/type":   "no temp file\n",
		"sys/class/thermal/thermal_zone6/temp":   "20000\n", // no type file
		"sys/class/thermal/thermal_zoneX/temp":   "20000\n",
		"sys/class/thermal/cooling_device0/type": "Processor\n",
	})
	got, err := NewFS(root).Thermals()
	if err != nil {
		t.Fatal(err)
	}
	want := []Thermal{
		{"thermal_zone1", "cpu-thermal", 45},
		{"thermal_zone2", "gpu-thermal", -5.5},
		{"thermal_zone6", "", 20},
		{"thermal_zone10", "tboard", 30},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Thermals:\n got %v\nwant %v", got, want)
	}
}

// A regular file cannot fail its read with EINVAL the way a disabled zone
// does, so the classification is tested on the errors themselves.
func TestSensorSilent(t *testing.T) {
	tests := []struct {
		errno  error
		silent bool
	}{
		{syscall.EINVAL, true},
		{syscall.ENODATA, true},
		{syscall.EAGAIN, true},
		{syscall.EIO, true},
		{syscall.ENOENT, true},
		{syscall.EACCES, false},
		{syscall.EPERM, false},
		{syscall.EISDIR, false},
	}
	for _, tt := range tests {
		err := readError("/sys/class/thermal/thermal_zone3/temp",
			&fs.PathError{Op: "read", Path: "/sys/class/thermal/thermal_zone3/temp", Err: tt.errno})
		if got := sensorSilent(err); got != tt.silent {
			t.Errorf("sensorSilent(%v) = %v, want %v", err, got, tt.silent)
		}
	}
}

// Failing to read a zone for a reason that is not the sensor's is an error,
// and the zones that could be read still come back.
func TestThermalsReportsOtherErrors(t *testing.T) {
	root := writeTree(t, map[string]string{
		"sys/class/thermal/thermal_zone0/type":  "cpu-thermal\n",
		"sys/class/thermal/thermal_zone0/temp":  "45000\n",
		"sys/class/thermal/thermal_zone1/type":  "gpu-thermal\n",
		"sys/class/thermal/thermal_zone1/temp/": "",
	})
	got, err := NewFS(root).Thermals()
	if !errors.Is(err, syscall.EISDIR) || !strings.Contains(err.Error(), "thermal_zone1/temp") {
		t.Errorf("err = %v, want EISDIR naming thermal_zone1/temp", err)
	}
	if want := []Thermal{{"thermal_zone0", "cpu-thermal", 45}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Thermals = %v, want %v", got, want)
	}
}

func TestGPULoadEdges(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		load    float64
		ok      bool
		wantErr string
	}{
		{"full", map[string]string{"sys/devices/gpu.0/load": "1000\n"}, 1, true, ""},
		{"first wins", map[string]string{
			"sys/devices/gpu.0/load":                       "100\n",
			"sys/devices/platform/bus@0/17000000.gpu/load": "900\n",
		}, 0.1, true, ""},
		{"jetpack 6 behind a link", map[string]string{
			"sys/devices/platform/bus@0/17000000.gpu/load": "-> /sys/devices/gpu-real/load",
			"sys/devices/gpu-real/load":                    "500\n",
		}, 0.5, true, ""},
		{"garbage", map[string]string{"sys/devices/gpu.0/load": "busy\n"}, 0, false, "sys/devices/gpu.0/load"},
		{"out of range", map[string]string{"sys/devices/gpu.0/load": "1001\n"}, 0, false, "not 0-1000 permille"},
		{"empty", map[string]string{"sys/devices/gpu.0/load": ""}, 0, false, "sys/devices/gpu.0/load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			load, ok, err := NewFS(writeTree(t, tt.files)).GPULoad()
			if load != tt.load || ok != tt.ok {
				t.Errorf("GPULoad = %v, %v; want %v, %v", load, ok, tt.load, tt.ok)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDeviceString(t *testing.T) {
	tests := []struct {
		d    Device
		want string
	}{
		{Device{Jetson: true, Model: "NVIDIA Jetson AGX Orin", L4T: "37.1.0", PowerModeID: -1},
			"NVIDIA Jetson AGX Orin (L4T 37.1.0)"},
		{Device{Jetson: true, Model: "NVIDIA Jetson Orin NX", PowerModeID: 3},
			"NVIDIA Jetson Orin NX"}, // a mode without a name says nothing useful
		{Device{Jetson: true, Compatible: []string{"nvidia,tegra234"}, PowerMode: "25W", PowerModeID: 1,
			Memory: Memory{Total: 16 << 30, Unified: true}},
			"unknown Jetson (power mode 25W, 16.0 GiB unified memory)"},
		{Device{Model: "AMD EPYC", PowerModeID: -1}, "AMD EPYC (not a Jetson)"},
		{Device{}, "unknown device (not a Jetson)"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("%#v.String()\n got %q\nwant %q", tt.d, got, tt.want)
		}
	}
}

func TestCacheKey(t *testing.T) {
	tests := []struct {
		d    Device
		want string
	}{
		{
			Device{
				Jetson:     true,
				Compatible: []string{"nvidia,p3768-0000+p3767-0005", "nvidia,p3767-0005", "nvidia,tegra234"},
				L4T:        "36.4.3",
			},
			"tegra234-p3767-0005-l4t36.4.3",
		},
		// The L4T release changes the key even where JetPack is unknown.
		{Device{Jetson: true, Compatible: []string{"nvidia,tegra234"}, L4T: "37.1.0"}, "tegra234-l4t37.1.0"},
		{Device{Jetson: true, Compatible: []string{"nvidia,jetson-nano", "nvidia,tegra210"}}, "tegra210"},
		{Device{Jetson: true, Model: "NVIDIA Jetson Nano Developer Kit", L4T: "32.7.1"},
			"nvidia-jetson-nano-developer-kit-l4t32.7.1"},
		{Device{Jetson: true, L4T: "36/../3.0"}, "jetson-l4t36-..-3.0"},
		{Device{Model: "AMD EPYC 7B13 64-Core Processor", L4T: "36.3.0"}, "amd-epyc-7b13-64-core-processor"},
		{Device{Model: "  ** Über-CPU v2.0 **  "}, "ber-cpu-v2-0"},
		{Device{Model: strings.Repeat("Intel(R) Xeon(R) ", 6)},
			"intel-r-xeon-r-intel-r-xeon-r-intel-r-xeon-r-intel-r-xeon-r-inte"},
		{Device{Model: "(*)"}, "unknown"},
		{Device{}, "unknown"},
		// The TensorRT installed is not the device: the engine cache names
		// the one hrmd loaded.
		{
			Device{
				Jetson:     true,
				Compatible: []string{"nvidia,p3767-0005", "nvidia,tegra234"},
				L4T:        "36.4.3",
				TensorRT:   "10.7.0",
			},
			"tegra234-p3767-0005-l4t36.4.3",
		},
		// Another discrete GPU is another key; the CPU does not matter then.
		{Device{Model: "AMD EPYC", GPU: "NVIDIA A10G", TensorRT: "10.3.0"}, "nvidia-a10g"},
		// A long name is shortened, the release stays whole.
		{Device{Jetson: true, Model: strings.Repeat("Jetson ", 12), L4T: "36.3.0", TensorRT: "8.6.2"},
			"jetson-jetson-jetson-jetson-jetson-jetson-jetson-jetso-l4t36.3.0"},
	}
	for _, tt := range tests {
		got := tt.d.CacheKey()
		if got != tt.want {
			t.Errorf("%#v.CacheKey() = %q, want %q", tt.d, got, tt.want)
		}
		if len(got) > 64 || strings.Trim(got, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
			t.Errorf("CacheKey %q is not [a-z0-9.-]{1,64}", got)
		}
	}
}

func TestCompareL4T(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"36.3.0", "36.4", -1}, {"36.4", "36.4.0", 0}, {"36.4.3", "36.4", 1}, {"36.10.0", "36.9.0", 1},
		{"35.6.1", "36.2.0", -1}, {"38.2.0", "36.4.4", 1},
		{"", "36.4", -1}, {"r36", "36.4", -1}, {"36.4", "", 1}, {"", "", 0},
	} {
		if got := CompareL4T(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareL4T(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestGPUStack(t *testing.T) {
	for _, tt := range []struct{ l4t, cuda, tensorRT string }{
		{"36.2.0", "12.2", "8.6"}, {"36.3.0", "12.2", "8.6"},
		{"36.4.0", "12.6", "10.3"}, {"36.4.3", "12.6", "10.3"}, {"36.4.4", "12.6", "10.3"}, {"36.5.0", "12.6", "10.3"},
		{"35.4.1", "", ""}, {"38.2.0", "", ""}, {"", "", ""},
	} {
		if cuda, trt := GPUStack(tt.l4t); cuda != tt.cuda || trt != tt.tensorRT {
			t.Errorf("GPUStack(%q) = %q, %q; want %q, %q", tt.l4t, cuda, trt, tt.cuda, tt.tensorRT)
		}
	}
}
