package jetson

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// GPULoad is the integrated GPU's load, 0..1, which the driver publishes in
// permille. The first known load file that exists wins; none gives ok=false
// and no error, as on any host that is not a Jetson.
func (f FS) GPULoad() (load float64, ok bool, err error) {
	for _, rel := range []string{
		"sys/devices/gpu.0/load",                       // Nano, TX2, Xavier
		"sys/devices/platform/17000000.ga10b/load",     // Orin, JetPack 5
		"sys/devices/platform/bus@0/17000000.gpu/load", // Orin, JetPack 6
		// Where some kernels put the same driver when the three above are
		// missing; seen on Orin (JetPack 5) and Xavier.
		"sys/devices/17000000.ga10b/load",
		"sys/devices/17000000.gv11b/load",
		"sys/devices/platform/gpu.0/load",
	} {
		p := f.resolve(rel)
		b, err := readSmall(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, false, err
		}
		permille, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return 0, false, fmt.Errorf("parse %s: %w", p, err)
		}
		// Out of range means a driver that counts differently: better an
		// error than a load of 12.5.
		if permille < 0 || permille > 1000 {
			return 0, false, fmt.Errorf("parse %s: load %d is not 0-1000 permille", p, permille)
		}
		return float64(permille) / 1000, true, nil
	}
	return 0, false, nil
}

// GPUDeviceNodes lists the GPU device nodes present under dev/, as the root
// joined with their path ("/dev/nvmap" for root "/"), sorted: the nodes a
// process must be able to open to use the GPU, which a container or a
// service's sandbox can hide. Jetson: nvmap, nvhost-* (JetPack 4 and 5),
// nvgpu/igpu0/* (JetPack 6). Discrete NVIDIA: nvidia0 (and further GPUs),
// nvidiactl, nvidia-uvm.
func (f FS) GPUDeviceNodes() []string {
	var out []string
	for _, pattern := range []string{
		"dev/nvmap",
		"dev/nvhost-*",
		"dev/nvgpu/igpu0/*",
		"dev/nvidia[0-9]*",
		"dev/nvidiactl",
		"dev/nvidia-uvm",
	} {
		dir, base := filepath.Split(pattern)
		// Glob's only error is a malformed pattern, and these are constant.
		matches, _ := filepath.Glob(filepath.Join(f.resolve(dir), base))
		for _, m := range matches {
			out = append(out, filepath.Join(f.root, dir, filepath.Base(m)))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
