package jetson

import (
	"bufio"
	"bytes"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// tensorRTVersion is the newest libnvinfer.so.X.Y.Z installed, "10.3.0", or
// "" when there is none: on JetPack 6 TensorRT can be upgraded without a new
// L4T release, so the device's description says which is there. It is not
// necessarily the one hrmd loads (a container, another install), and it has
// no build number: the engine cache asks the loaded library instead
// (engine's TensorRTVersion).
func (f FS) tensorRTVersion() string {
	var best []int
	// Where JetPack, NVIDIA's Debian packages and tarball installs put it.
	for _, dir := range []string{
		"usr/lib/aarch64-linux-gnu", "usr/lib/x86_64-linux-gnu",
		"usr/local/cuda/lib64", "usr/local/tensorrt/lib", "usr/lib64",
	} {
		matches, _ := filepath.Glob(filepath.Join(f.resolve(dir), "libnvinfer.so.*.*.*"))
		for _, m := range matches {
			v, ok := parseVersion(strings.TrimPrefix(filepath.Base(m), "libnvinfer.so."))
			if ok && slices.Compare(v, best) > 0 {
				best = v
			}
		}
	}
	parts := make([]string, len(best))
	for i, n := range best {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ".")
}

// parseVersion reads "10.3.0" (digits and dots only).
func parseVersion(s string) ([]int, bool) {
	var v []int
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, len(v) > 0
}

// discreteGPU is the first NVIDIA GPU the driver lists in
// /proc/driver/nvidia/gpus/*/information ("Model: Tesla T4"), or "". A
// Jetson's GPU is part of the SoC and not listed there.
func (f FS) discreteGPU() string {
	dirs, _ := filepath.Glob(filepath.Join(f.resolve("proc/driver/nvidia/gpus"), "*"))
	slices.Sort(dirs)
	for _, dir := range dirs {
		b, err := readSmall(filepath.Join(dir, "information"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			key, value, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(key) == "Model" && strings.TrimSpace(value) != "" {
				return strings.TrimSpace(value)
			}
		}
	}
	return ""
}
