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
// joined with their path ("/dev/nvmap" for root "/"), sorted: what a
// container or a service's sandbox can hide. Jetson: nvmap, nvhost-*
// (JetPack 4 and 5), nvgpu/igpu0/* (JetPack 6). Discrete NVIDIA: nvidia0
// (and further GPUs), nvidiactl, nvidia-uvm. CUDA opens only some of them
// itself: GPUNodesOpened.
func (f FS) GPUDeviceNodes() []string {
	return f.devNodes(
		"dev/nvmap",
		"dev/nvhost-*",
		"dev/nvgpu/igpu0/*",
		"dev/nvidia[0-9]*",
		"dev/nvidiactl",
		"dev/nvidia-uvm",
	)
}

// GPUNodesOpened lists, like GPUDeviceNodes, the nodes present that CUDA
// opens by path, read-write: those a process must be allowed to open. On a
// Jetson the rest are not opened by name: the address space, TSG and
// channel descriptors come from ioctls on the ctrl node, and prof, dbg,
// power and sched serve profilers and debuggers. Where that comes from:
//   - NVIDIA's nvgpu UAPI header, include/uapi/linux/nvgpu-ctrl.h in the L4T
//     kernel sources: ctrl (legacy name /dev/nvhost-ctrl-gpu) "serves as the
//     core control node ... instantiate GPU device objects (TSGs, address
//     spaces, etc)"; NVGPU_GPU_IOCTL_ALLOC_AS, OPEN_TSG and OPEN_CHANNEL
//     return as_fd, tsg_fd and channel_fd.
//   - an strace of a CUDA program on an AGX Orin with JetPack 6 (the notes
//     of a tinygrad port to nvgpu, "Phase 1: Reverse-Engineer nvgpu
//     IOCTLs"): it opens /dev/nvmap, /dev/nvgpu/igpu0/ctrl,
//     /dev/dri/renderD128 and /dev/host1x-fence, nothing else under /dev.
//   - an strace on a TX2 with JetPack 4 (Kenneth Lee's notes, "Tegra TX2"):
//     /dev/nvhost-ctrl-gpu O_RDWR, then /dev/nvmap O_RDWR.
//
// nvidia-container-toolkit's Tegra devices.csv hands a container every
// nvgpu node with rwm: a container's list, wider than what CUDA opens. A
// discrete GPU's driver nodes are all opened read-write.
func (f FS) GPUNodesOpened() []string {
	patterns := []string{"dev/nvmap", "dev/nvgpu/igpu0/ctrl", "dev/nvhost-ctrl-gpu", "dev/host1x-fence",
		"dev/nvidia[0-9]*", "dev/nvidiactl", "dev/nvidia-uvm"}
	if len(f.devNodes("dev/nvmap")) > 0 {
		// The render node belongs to the Jetson's GPU only there; on a PC it
		// is some other GPU's.
		patterns = append(patterns, "dev/dri/renderD*")
	}
	return f.devNodes(patterns...)
}

// devNodes lists what matches patterns (below the root), sorted, each named
// as the root joined with its path.
func (f FS) devNodes(patterns ...string) []string {
	var out []string
	for _, pattern := range patterns {
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
