//go:build cgo

package engine

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/engine/bundle"
)

// What the TensorRT provider gets that hrmd computes (the fixed switches,
// such as engine caching on, are read from the code, not repeated here):
// one engine profile for every batch from 1 to max_batch, built from the
// graph's own row shapes; the workspace in bytes; fp16 or bf16 as
// configured (bf16 named only when asked for: an onnxruntime before 1.23
// refuses the key); the engine in its keyed folder and the timing cache
// beside those folders, shared by them. (The CPU-only library here refuses
// the provider itself, so the options are checked as they are handed over.)
func TestTensorRTOptions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TensorRT.EngineCache = "/var/cache/hrmd/trt"
	cfg.TensorRT.WorkspaceMB = 512
	rt := &Runtime{cfg: cfg, version: "1.30.0"}
	cacheDir := "/var/cache/hrmd/trt/nova-tiny-0123456789abcdef-ort1.30.0-tegra234-fp16"
	profile := []tensorShape{{name: "h", row: []int64{900, 32}}, {name: "l", row: []int64{900, 32}}}
	for _, tt := range []struct {
		precision string
		maxBatch  int
		want      map[string]string
	}{
		{PrecisionFP16, 4, map[string]string{
			"trt_fp16_enable":        "1",
			"trt_max_workspace_size": "536870912",
			"trt_engine_cache_path":  cacheDir,
			"trt_timing_cache_path":  filepath.Join("/var/cache/hrmd/trt", timingCacheDir),
			"trt_profile_min_shapes": "h:1x900x32,l:1x900x32",
			"trt_profile_opt_shapes": "h:4x900x32,l:4x900x32",
			"trt_profile_max_shapes": "h:4x900x32,l:4x900x32",
		}},
		{PrecisionFP32, 16, map[string]string{
			"trt_fp16_enable":        "0",
			"trt_bf16_enable":        "",
			"trt_profile_min_shapes": "h:1x900x32,l:1x900x32",
			"trt_profile_max_shapes": "h:16x900x32,l:16x900x32",
		}},
		{PrecisionBF16, 4, map[string]string{
			"trt_fp16_enable": "0",
			"trt_bf16_enable": "1",
		}},
	} {
		got := rt.tensorRTOptions(rt.engineBuild(tt.precision, tt.maxBatch), profile, cacheDir)
		for key, want := range tt.want {
			if got[key] != want {
				t.Errorf("%s, max_batch %d: %s = %q, want %q", tt.precision, tt.maxBatch, key, got[key], want)
			}
		}
	}
	// A graph without dynamic inputs gets no profile.
	if got := rt.tensorRTOptions(rt.engineBuild("fp16", 4), nil, cacheDir); got["trt_profile_min_shapes"] != "" {
		t.Errorf("a profile without shapes: %q", got["trt_profile_min_shapes"])
	}
}

// Anything that makes a built engine invalid (the graph, the library, the
// device, the precision, any build option) changes the folder name.
func TestEngineCacheKey(t *testing.T) {
	b, err := bundle.Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{cfg: DefaultConfig()}
	build := rt.engineBuild("fp16", 4)
	base := EngineCacheKey(b, "1.30.0", "10.3.0.30", "tegra234-l4t36.3.0", build)
	want := "nova-tiny-" + b.SHA256[:16] + "-ort1.30.0-tegra234-l4t36.3.0-trt10.3.0.30-fp16-b4-" + build.hash()
	if base != want {
		t.Fatalf("key %q, want %q", base, want)
	}
	other := *b
	other.SHA256 = "f" + b.SHA256[1:]
	// built is the key of the base's model, library, TensorRT and device,
	// with build changed by change.
	built := func(change func(*engineBuild)) string {
		o := build
		change(&o)
		return EngineCacheKey(b, "1.30.0", "10.3.0.30", "tegra234-l4t36.3.0", o)
	}
	for name, key := range map[string]string{
		"model":        EngineCacheKey(&other, "1.30.0", "10.3.0.30", "tegra234-l4t36.3.0", build),
		"library":      EngineCacheKey(b, "1.24.1", "10.3.0.30", "tegra234-l4t36.3.0", build),
		"tensorrt":     EngineCacheKey(b, "1.30.0", "10.3.0.26", "tegra234-l4t36.3.0", build),
		"device":       EngineCacheKey(b, "1.30.0", "10.3.0.30", "tegra194-l4t35.4.1", build),
		"precision":    EngineCacheKey(b, "1.30.0", "10.3.0.30", "tegra234-l4t36.3.0", rt.engineBuild("fp32", 4)),
		"batch":        EngineCacheKey(b, "1.30.0", "10.3.0.30", "tegra234-l4t36.3.0", rt.engineBuild("fp16", 8)),
		"workspace":    built(func(o *engineBuild) { o.WorkspaceMB = 2048 }),
		"optimisation": built(func(o *engineBuild) { o.OptimizationLevel = 5 }),
		"timing cache": built(func(o *engineBuild) { o.TimingCache = false }),
		"layer norm":   built(func(o *engineBuild) { o.LayerNormFP32 = false }),
		"bf16":         EngineCacheKey(b, "1.30.0", "10.3.0.30", "tegra234-l4t36.3.0", rt.engineBuild(PrecisionBF16, 4)),
		// An engine built before hrmd set NVIDIA_TF32_OVERRIDE=0 ran TF32.
		"tf32": built(func(o *engineBuild) { o.TF32Override = "" }),
	} {
		if key == base {
			t.Errorf("another %s gives the same folder %q", name, key)
		}
	}
	if got := EngineCacheKey(b, "1.30.0", "", "", build); !strings.Contains(got, "-ort1.30.0-unknown-device-fp16-") {
		t.Errorf("no device, no TensorRT: %q", got)
	}
	// A manifest's name cannot lead the folder out of the cache.
	other.Manifest.Name = "../../etc/my model"
	if got := EngineCacheKey(&other, "1.30.0", "10.3.0.30", "tegra234", build); !strings.HasPrefix(
		got,
		"_.._etc_my_model-f"+b.SHA256[1:16]+"-ort1.30.0-tegra234-trt10.3.0.30-fp16",
	) {
		t.Errorf("unsafe name: %q", got)
	}
}

// The names an older hrmd gave an engine's folder, without the loaded
// TensorRT's version: the device part ended in the release installed, or
// in nothing when none was found.
func TestLegacyEngineCacheKeys(t *testing.T) {
	b, err := bundle.Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	build := (&Runtime{cfg: DefaultConfig()}).engineBuild("fp16", 4)
	head, tail := "nova-tiny-"+b.SHA256[:16]+"-ort1.30.0-tegra234-l4t36.4.3", "-fp16-b4-"+build.hash()
	for _, tt := range []struct {
		tensorRT string
		want     []string
	}{
		{"10.3.0.30", []string{head + "-trt10.3.0" + tail, head + tail}},
		// TensorRT 8 reports no build number: today's name is the old one.
		{"8.6.2", []string{head + tail}},
		{"", nil},
	} {
		got := legacyEngineCacheKeys(b, "1.30.0", tt.tensorRT, "tegra234-l4t36.4.3", build)
		if !slices.Equal(got, tt.want) {
			t.Errorf("TensorRT %q: legacy names %q, want %q", tt.tensorRT, got, tt.want)
		}
	}
}

// Two configurations that differ only in the workspace or the optimisation
// level use different folders (onnxruntime would reuse the engine).
func TestEngineCacheDirFollowsTheConfig(t *testing.T) {
	b, err := bundle.Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := func(change func(*Config)) string {
		cfg := DefaultConfig()
		change(&cfg)
		return (&Runtime{cfg: cfg, version: "1.30.0"}).EngineCacheDir(b, "fp16", 4)
	}
	base := dir(func(*Config) {})
	for name, other := range map[string]string{
		"workspace_mb":               dir(func(c *Config) { c.TensorRT.WorkspaceMB = 512 }),
		"builder_optimization_level": dir(func(c *Config) { c.TensorRT.BuilderOptimizationLevel = 5 }),
	} {
		if other == base {
			t.Errorf("tensorrt.%s changed but the engine folder did not: %s", name, base)
		}
	}
	if again := dir(func(*Config) {}); again != base {
		t.Errorf("the same configuration gives %s and %s", base, again)
	}
}

// The CUDA provider runs fp32 as fp32: use_tf32 (on by default in
// onnxruntime) is off, and every engine build records that TF32 was off.
func TestTF32IsOff(t *testing.T) {
	if got := cudaOptions(); got["use_tf32"] != "0" || got["device_id"] != "0" {
		t.Errorf("CUDA options %v", got)
	}
	rt := &Runtime{cfg: DefaultConfig()}
	for _, p := range []string{PrecisionFP16, PrecisionBF16, PrecisionFP32} {
		if b := rt.engineBuild(p, 4); b.TF32Override != "0" {
			t.Errorf("%s engine build: NVIDIA_TF32_OVERRIDE %q", p, b.TF32Override)
		}
	}
}
