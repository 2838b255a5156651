package jetson

import (
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The fixture trees under testdata, each with everything the package says
// about it. testdata/README.md tells what each tree stands for.
var fixtures = []struct {
	root     string
	device   Device
	str      string
	key      string
	thermals []Thermal
	load     float64
	loadOK   bool
	nodes    []string // below dev/, sorted
	opened   []string // the nodes CUDA opens, likewise
}{
	{
		root: "testdata/orin-nano",
		device: Device{
			Jetson:      true,
			Model:       "NVIDIA Jetson Orin Nano Developer Kit",
			Compatible:  []string{"nvidia,p3768-0000+p3767-0005", "nvidia,p3767-0005", "nvidia,tegra234"},
			L4T:         "36.3.0",
			JetPack:     "6.0",
			PowerMode:   "15W",
			PowerModeID: 0,
			Memory:      Memory{Total: 7802848 << 10, Available: 5841220 << 10, Unified: true},
			TensorRT:    "8.6.2",
		},
		str: "NVIDIA Jetson Orin Nano Developer Kit (JetPack 6.0, L4T 36.3.0, power mode 15W, TensorRT 8.6.2, 7.4 GiB " +
			"unified memory)",
		key: "tegra234-p3767-0005-l4t36.3.0",
		// cv0-cv2 read -256000 (offline), soc2's temp is garbage.
		thermals: []Thermal{
			{"thermal_zone0", "cpu-thermal", 48.187},
			{"thermal_zone1", "gpu-thermal", 46.5},
			{"thermal_zone5", "soc0-thermal", 45.343},
			{"thermal_zone6", "soc1-thermal", 46.062},
			{"thermal_zone8", "tj-thermal", 48.187},
		},
		load: 0.237, loadOK: true,
		nodes: []string{
			"nvgpu/igpu0/as",
			"nvgpu/igpu0/channel",
			"nvgpu/igpu0/ctrl",
			"nvgpu/igpu0/prof",
			"nvgpu/igpu0/tsg",
			"nvmap",
		},
		opened: []string{"host1x-fence", "nvgpu/igpu0/ctrl", "nvmap"},
	},
	{
		root: "testdata/agx-orin",
		device: Device{
			Jetson:      true,
			Model:       "NVIDIA Jetson AGX Orin Developer Kit",
			Compatible:  []string{"nvidia,p3737-0000+p3701-0005", "nvidia,p3701-0005", "nvidia,tegra234"},
			L4T:         "35.4.1",
			JetPack:     "5.1.2",
			PowerMode:   "MAXN",
			PowerModeID: 0,
			Memory:      Memory{Total: 64305508 << 10, Available: 62880316 << 10, Unified: true},
			TensorRT:    "8.5.2",
		},
		str: "NVIDIA Jetson AGX Orin Developer Kit (JetPack 5.1.2, L4T 35.4.1, power mode MAXN, TensorRT 8.5.2, 61.3 GiB " +
			"unified memory)",
		key: "tegra234-p3701-0005-l4t35.4.1",
		// The GPU is rail-gated: its zone and the CV ones read offline.
		thermals: []Thermal{
			{"thermal_zone0", "cpu-thermal", 42.593},
			{"thermal_zone5", "soc0-thermal", 39.375},
			{"thermal_zone6", "soc1-thermal", 40.468},
			{"thermal_zone7", "soc2-thermal", 39.343},
			{"thermal_zone8", "tj-thermal", 42.593},
		},
		load: 0, loadOK: true,
		nodes: []string{"nvhost-as-gpu", "nvhost-ctrl", "nvhost-ctrl-gpu", "nvhost-ctrl-nvdla0", "nvhost-ctrl-nvdla1",
			"nvhost-dbg-gpu", "nvhost-gpu", "nvhost-prof-gpu", "nvhost-tsg-gpu", "nvmap"},
		opened: []string{"nvhost-ctrl-gpu", "nvmap"},
	},
	{
		root: "testdata/xavier-nx",
		device: Device{
			Jetson:      true,
			Model:       "NVIDIA Jetson Xavier NX Developer Kit",
			Compatible:  []string{"nvidia,p3509-0000+p3668-0001", "nvidia,p3668-0001", "nvidia,tegra194"},
			L4T:         "32.7.4",
			JetPack:     "4.6.4",
			PowerMode:   "MODE_20W_6CORE",
			PowerModeID: 8,
			Memory:      Memory{Total: 7950348 << 10, Available: 6420172 << 10, Unified: true},
			TensorRT:    "8.2.1",
		},
		str: "NVIDIA Jetson Xavier NX Developer Kit (JetPack 4.6.4, L4T 32.7.4, power mode MODE_20W_6CORE, TensorRT 8.2.1, " +
			"7.6 GiB unified memory)",
		key: "tegra194-p3668-0001-l4t32.7.4",
		thermals: []Thermal{
			{"thermal_zone0", "CPU-therm", 41.5},
			{"thermal_zone1", "GPU-therm", 40},
			{"thermal_zone2", "AUX-therm", 40.5},
			{"thermal_zone3", "AO-therm", 41},
			{"thermal_zone4", "PMIC-Die", 100},
			{"thermal_zone5", "thermal-fan-est", 40.85},
		},
		load: 0.045, loadOK: true,
		nodes: []string{"nvhost-as-gpu", "nvhost-ctrl", "nvhost-ctrl-gpu", "nvhost-dbg-gpu", "nvhost-gpu",
			"nvhost-prof-gpu", "nvhost-tsg-gpu", "nvmap"},
		opened: []string{"nvhost-ctrl-gpu", "nvmap"},
	},
	{
		root: "testdata/x86-host",
		device: Device{
			Model:       "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz",
			PowerModeID: -1,
			Memory:      Memory{Total: 24536668 << 10, Available: 23204164 << 10},
			GPU:         "Tesla T4",
			// 8.6.1 is installed too: the newest counts.
			TensorRT: "10.3.0",
		},
		str: "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz (not a Jetson, GPU Tesla T4, TensorRT 10.3.0, 23.4 GiB memory)",
		key: "tesla-t4",
		thermals: []Thermal{
			{"thermal_zone0", "acpitz", 27.8},
			{"thermal_zone1", "x86_pkg_temp", 41},
		},
		// nvidia-uvm-tools, nvidia-modeset and null are there but not GPU nodes.
		nodes:  []string{"nvidia-uvm", "nvidia0", "nvidiactl"},
		opened: []string{"nvidia-uvm", "nvidia0", "nvidiactl"},
	},
	{
		root:   "testdata/empty",
		device: Device{PowerModeID: -1},
		str:    "unknown device (not a Jetson)",
		key:    "unknown",
	},
}

func TestFixtures(t *testing.T) {
	for _, tt := range fixtures {
		t.Run(filepath.Base(tt.root), func(t *testing.T) {
			f := NewFS(tt.root)

			d, err := f.Probe()
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if !reflect.DeepEqual(d, tt.device) {
				t.Errorf("Probe:\n got %#v\nwant %#v", d, tt.device)
			}
			if got := d.String(); got != tt.str {
				t.Errorf("String:\n got %q\nwant %q", got, tt.str)
			}
			if got := d.CacheKey(); got != tt.key {
				t.Errorf("CacheKey = %q, want %q", got, tt.key)
			}

			thermals, err := f.Thermals()
			if err != nil {
				t.Errorf("Thermals: %v", err)
			}
			if !slices.Equal(thermals, tt.thermals) {
				t.Errorf("Thermals:\n got %v\nwant %v", thermals, tt.thermals)
			}

			load, ok, err := f.GPULoad()
			if err != nil || load != tt.load || ok != tt.loadOK {
				t.Errorf("GPULoad = %v, %v, %v; want %v, %v, nil", load, ok, err, tt.load, tt.loadOK)
			}

			var want []string
			for _, n := range tt.nodes {
				want = append(want, tt.root+"/dev/"+n)
			}
			if got := f.GPUDeviceNodes(); !slices.Equal(got, want) {
				t.Errorf("GPUDeviceNodes:\n got %q\nwant %q", got, want)
			}
			want = nil
			for _, n := range tt.opened {
				want = append(want, tt.root+"/dev/"+n)
			}
			if got := f.GPUNodesOpened(); !slices.Equal(got, want) {
				t.Errorf("GPUNodesOpened:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// This machine's own root must probe without error, and an amd64 host is
// never a Jetson. The package's other readers must cope with it too.
func TestRealRoot(t *testing.T) {
	f := NewFS("/")
	d, err := f.Probe()
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOARCH == "amd64" && d.Jetson {
		t.Errorf("an amd64 host probed as a Jetson: %v", d)
	}
	if d.Memory.Total == 0 {
		t.Errorf("no MemTotal in /proc/meminfo: %v", d)
	}
	if _, err := f.Thermals(); err != nil {
		t.Errorf("Thermals: %v", err)
	}
	if _, _, err := f.GPULoad(); err != nil {
		t.Errorf("GPULoad: %v", err)
	}
	for _, n := range f.GPUDeviceNodes() {
		if filepath.Dir(n) != "/dev" && filepath.Dir(n) != "/dev/nvgpu/igpu0" {
			t.Errorf("GPUDeviceNodes gave %q, not below /dev", n)
		}
	}
	t.Logf("%v, cache key %s", d, d.CacheKey())
}

// MemAvailable reads the fixture trees' /proc/meminfo; what it cannot read
// is an error naming the file, never a 0 that would refuse every build.
func TestMemAvailable(t *testing.T) {
	for _, tt := range []struct {
		root string
		want int64
		err  string // in the error; "" for none
	}{
		{"testdata/orin-nano", 5841220 << 10, ""},
		{"testdata/agx-orin", 62880316 << 10, ""},
		{"testdata/x86-host", 23204164 << 10, ""},
		{"testdata/empty", 0, "testdata/empty/proc/meminfo: no such file or directory"},
		{"testdata/meminfo/old-kernel", 0, "testdata/meminfo/old-kernel/proc/meminfo has no MemAvailable line"},
		{"testdata/meminfo/garbled", 0,
			`parse testdata/meminfo/garbled/proc/meminfo: MemAvailable: strconv.ParseUint: parsing "-12"`},
	} {
		t.Run(filepath.Base(tt.root), func(t *testing.T) {
			got, err := NewFS(tt.root).MemAvailable()
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("MemAvailable: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("MemAvailable error %v, want one with %q", err, tt.err)
			case got != tt.want:
				t.Errorf("MemAvailable = %d, want %d", got, tt.want)
			}
		})
	}
}
