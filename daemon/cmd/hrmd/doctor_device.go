package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/device"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/jetson"
)

// checkDevice probes the device as `hrmd run` does (daemon.DeviceAt), so that the
// engine cache key below is the one the daemon uses.
func (d *doctor) checkDevice() {
	dev, err := device.At(d.sysroot)
	if err != nil {
		d.add(checkWarn, "cannot read every device fact: "+oneLine(err.Error()),
			"the rest of the report holds; the device line in answers lacks what could not be read")
	}
	d.add(checkInfo, dev.String(), "")
	switch {
	case dev.Jetson && l4tMajor(dev.L4T) < 36:
		d.add(
			checkWarn,
			fmt.Sprintf(
				"L4T %s: hrmd's arm64 build needs glibc 2.34: JetPack 6 or later (L4T 36, Ubuntu 22.04, glibc 2.35)",
				orNone(dev.L4T),
			),
			"flash JetPack 6 or later (Orin and Thor modules); Xavier and Nano boards cannot run it",
		)
	case dev.Jetson && l4tMajor(dev.L4T) == 36 && jetson.CompareL4T(dev.L4T, gpuL4T) < 0:
		d.checkJetPackGPU(dev)
	}
	d.device = dev
}

// gpuL4T is the oldest Jetson Linux release hrmd can use the GPU on:
// JetPack 6.1 (L4T 36.4: CUDA 12.6, TensorRT 10.3). hrmd needs onnxruntime
// 1.24 or newer (onnxruntime_go v1.27 asks for C API 24), and the Jetson
// builds of those (jetson-containers' packages/ml/onnxruntime/config.py,
// 1.22 and later) are made for CUDA 12.6 only; JetPack 6.0 (L4T 36.3, CUDA
// 12.2, TensorRT 8.6) gets onnxruntime 1.17 there.
const gpuL4T = "36.4"

// checkJetPackGPU warns on JetPack 6.0 and older releases of L4T 36: hrmd
// runs there, but only on the CPU.
func (d *doctor) checkJetPackGPU(dev jetson.Device) {
	release := "L4T " + dev.L4T
	if dev.JetPack != "" {
		release = fmt.Sprintf("JetPack %s (%s)", dev.JetPack, release)
	}
	if cuda, trt := jetson.GPUStack(dev.L4T); cuda != "" {
		release += fmt.Sprintf(", CUDA %s, TensorRT %s", cuda, trt)
	}
	what := fmt.Sprintf(
		"%s: hrmd's GPU path needs JetPack 6.1 or 6.2 (L4T 36.4 or later, CUDA 12.6, TensorRT 10.3): onnxruntime %s or "+
			"newer, which hrmd needs, is built for Jetson with CUDA 12.6 only (JetPack 6.0's is 1.17), so here hrmd runs on "+
			"the CPU",
		release,
		engine.MinORTVersion,
	)
	status := checkInfo
	if slices.Contains(d.cfg.ONNXRuntime.Providers, engine.ProviderTensorRT) ||
		slices.Contains(d.cfg.ONNXRuntime.Providers, engine.ProviderCUDA) {
		status = checkWarn
	}
	d.add(
		status,
		what,
		"upgrade to JetPack 6.1 or 6.2 (docs/jetson.md, JetPack versions), then install a TensorRT onnxruntime",
	)
}

// l4tMajor is the release of an L4T version ("36.3.0": 36), 0 when unknown.
func l4tMajor(version string) int {
	major, _, _ := strings.Cut(version, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 0
	}
	return n
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// checkLibrary opens onnxruntime as `hrmd run` would, and names the library
// in use and why it was chosen, and a TensorRT build found but passed over.
func (d *doctor) checkLibrary(log *zap.Logger) {
	d.engine = d.cfg.Engine()
	d.engine.Device = d.device.CacheKey()
	rt, err := engine.Open(d.engine, log)
	if err != nil {
		d.add(
			checkFail,
			answer.Message(err),
			"install onnxruntime ≥ 1.24 (./build.sh deps on a workstation; on a Jetson a TensorRT build in /usr/local/lib, "+
				"where hrmd finds it: docs/jetson.md), or set onnxruntime.library",
		)
		return
	}
	d.rt = rt
	lib := rt.Library()
	d.add(checkOK, fmt.Sprintf("onnxruntime %s at %s, chosen: %s", rt.Version(), lib.Path, lib.Reason), "")
	if lib.PassedOver != "" {
		d.add(
			checkWarn,
			"passed over "+oneLine(lib.PassedOver),
			"install onnxruntime ≥ 1.24 built for this JetPack there (docs/jetson.md), or remove it; onnxruntime.library "+
				"chooses a library yourself",
		)
	}
}

// checkProviders probes each configured provider, in the config's order,
// the way a model load does: the first available one takes the model.
func (d *doctor) checkProviders() {
	rt, device := d.rt, d.device
	if rt == nil {
		d.skip("no library to ask (see library)")
		return
	}
	status := map[string]engine.ProviderStatus{}
	for _, p := range rt.Providers() {
		status[p.Name] = p
	}
	first := ""
	for _, name := range d.cfg.ONNXRuntime.Providers {
		p := status[name]
		switch {
		case p.Available && p.Name == engine.ProviderTensorRT:
			d.add(checkOK, p.ORTName+" available"+loadedTensorRT(rt), "")
		case p.Available:
			d.add(checkOK, p.ORTName+" available", "")
			if first == "" {
				first = p.Name
			}
		case p.Name == d.cfg.ONNXRuntime.Require:
			d.add(
				checkFail,
				fmt.Sprintf("%s unavailable and onnxruntime.require is %s: %s", p.ORTName, p.Name, oneLine(p.Reason)),
				"install an onnxruntime built with "+p.ORTName+" and its libraries (docs/jetson.md), or remove onnxruntime.require",
			)
		default:
			d.add(checkInfo, fmt.Sprintf("%s unavailable (skipped): %s", p.ORTName, oneLine(p.Reason)), "")
		}
	}
	if first == "" {
		first = engine.ProviderCPU // onnxruntime's last resort
	}
	what := "models run on " + engine.ORTProviderName(first)
	switch {
	case first == engine.ProviderCPU && device.Jetson:
		d.add(
			checkWarn,
			what+" although this is a Jetson: about 10-50x slower than TensorRT",
			"install a TensorRT-enabled onnxruntime ≥ 1.24 into /usr/local/lib, where hrmd finds it, or set "+
				"onnxruntime.library (docs/jetson.md)",
		)
	default:
		d.add(checkOK, what, "")
	}
}

// loadedTensorRT names the TensorRT library the provider loaded, whose
// version names the engine cache's folders.
func loadedTensorRT(rt *engine.Runtime) string {
	v, err := rt.TensorRTVersion()
	if err != nil {
		return " (which TensorRT it loaded is unknown: " + oneLine(err.Error()) + ")"
	}
	return " (TensorRT " + v + " loaded)"
}

// checkGPULibraries looks for what the GPU providers load: onnxruntime's
// provider libraries beside it, and NVIDIA's from JetPack or CUDA.
func (d *doctor) checkGPULibraries() {
	rt := d.rt
	wantTRT := slices.Contains(d.cfg.ONNXRuntime.Providers, engine.ProviderTensorRT)
	wantCUDA := slices.Contains(d.cfg.ONNXRuntime.Providers, engine.ProviderCUDA)
	if !wantTRT && !wantCUDA {
		d.skip("onnxruntime.providers lists no GPU provider")
		return
	}
	dirs := []string{"usr/lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu/nvidia", "usr/lib/x86_64-linux-gnu",
		"usr/local/cuda/lib64", "usr/local/cuda/targets/aarch64-linux/lib", "usr/lib"}
	var search []string
	if rt != nil {
		search = append(search, filepath.Dir(rt.LibraryPath()))
	}
	for _, p := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if p != "" {
			search = append(search, p)
		}
	}
	for _, dir := range dirs {
		search = append(search, filepath.Join(d.sysroot, dir))
	}
	find := func(pattern string) string {
		for _, dir := range search {
			if m, _ := filepath.Glob(filepath.Join(dir, pattern)); len(m) > 0 {
				return m[0]
			}
		}
		return ""
	}
	var missing []string
	check := func(provider, pattern string) {
		if (provider == engine.ProviderTensorRT && !wantTRT) || (provider == engine.ProviderCUDA && !wantCUDA && !wantTRT) {
			return
		}
		if path := find(pattern); path != "" {
			d.add(checkOK, path, "")
		} else {
			missing = append(missing, pattern)
		}
	}
	if rt != nil {
		check(engine.ProviderTensorRT, "libonnxruntime_providers_tensorrt.so")
		check(engine.ProviderCUDA, "libonnxruntime_providers_cuda.so")
		check(engine.ProviderCUDA, "libonnxruntime_providers_shared.so")
	}
	// NVIDIA's libraries that the provider libraries load.
	check(engine.ProviderTensorRT, "libnvinfer.so*")
	check(engine.ProviderTensorRT, "libnvonnxparser.so*")
	check(engine.ProviderCUDA, "libcudart.so*")
	check(engine.ProviderCUDA, "libcublas.so*")
	check(engine.ProviderCUDA, "libcudnn.so*")
	if len(missing) > 0 {
		d.add(checkInfo, "not found: "+strings.Join(missing, ", "),
			"for TensorRT and CUDA: JetPack's CUDA, cuDNN and TensorRT, and an onnxruntime built with them (docs/jetson.md)")
	}
}

// checkGPUNodes checks the GPU device nodes this user must open.
func (d *doctor) checkGPUNodes() {
	device := d.device
	nodes := jetson.NewFS(d.sysroot).GPUDeviceNodes()
	if len(nodes) == 0 {
		status := checkInfo
		if device.Jetson {
			status = checkWarn
		}
		d.add(status, "no GPU device nodes (/dev/nvmap, /dev/nvhost-*, /dev/nvidia0): CPU only", "")
		return
	}
	// Only those CUDA opens by name need to be open to this user: the
	// others may stay closed (jetson.FS.GPUNodesOpened says why).
	opened := jetson.NewFS(d.sysroot).GPUNodesOpened()
	var closed []string
	for _, n := range opened {
		if err := unix.Access(n, unix.R_OK|unix.W_OK); err != nil {
			closed = append(closed, n)
		}
	}
	if len(closed) == 0 {
		d.add(
			checkOK,
			fmt.Sprintf("the GPU device nodes CUDA opens are readable and writable: %s", strings.Join(opened, ", ")),
			"",
		)
		return
	}
	status := checkWarn
	if d.cfg.ONNXRuntime.Require == engine.ProviderTensorRT || d.cfg.ONNXRuntime.Require == engine.ProviderCUDA {
		status = checkFail
	}
	d.add(
		status,
		"this user cannot open "+strings.Join(closed, ", "),
		"the GPU nodes belong to the video and render groups: usermod -aG video,render USER (the unit has "+
			"SupplementaryGroups=video render)",
	)
}
