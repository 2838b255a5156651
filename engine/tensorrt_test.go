//go:build cgo

package engine

import (
	"maps"
	"path/filepath"
	"testing"
)

// The TensorRT provider gets the options of an fp16 engine cached on disk, in
// a folder keyed by everything that makes an engine stale, with a batch
// profile from 1 to max_batch. (The CPU-only library here refuses the
// provider itself, so the options are checked as they are handed over.)
func TestTensorRTOptions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TensorRT.EngineCache = "/var/cache/hrmd/trt"
	cfg.TensorRT.WorkspaceMB = 512
	cfg.TensorRT.BuilderOptimizationLevel = 5
	cfg.Device = "tegra234-l4t36.3.0"
	rt := &Runtime{cfg: cfg, version: "1.30.0"}
	b, err := LoadBundle(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	cacheDir := rt.EngineCacheDir(b, "fp16")
	if want := filepath.Join("/var/cache/hrmd/trt", "nova-tiny-"+b.SHA256[:16]+"-ort1.30.0-tegra234-l4t36.3.0-fp16"); cacheDir != want {
		t.Errorf("engine cache %s, want %s", cacheDir, want)
	}
	state := []int64{900, 32}
	got := rt.tensorRTOptions([]tensorShape{{name: "h", row: state}, {name: "l", row: state}}, cacheDir, 4)
	want := map[string]string{
		"device_id":                      "0",
		"trt_fp16_enable":                "1",
		"trt_engine_cache_enable":        "1",
		"trt_engine_cache_path":          cacheDir,
		"trt_timing_cache_enable":        "1",
		"trt_timing_cache_path":          "/var/cache/hrmd/trt/timing",
		"trt_max_workspace_size":         "536870912",
		"trt_builder_optimization_level": "5",
		"trt_layer_norm_fp32_fallback":   "1",
		"trt_profile_min_shapes":         "h:1x900x32,l:1x900x32",
		"trt_profile_opt_shapes":         "h:4x900x32,l:4x900x32",
		"trt_profile_max_shapes":         "h:4x900x32,l:4x900x32",
	}
	if !maps.Equal(got, want) {
		t.Errorf("options\n%v\nwant\n%v", got, want)
	}
	rt.cfg.TensorRT.FP16 = false
	if got := rt.tensorRTOptions(nil, "", 1); got["trt_fp16_enable"] != "0" || got["trt_profile_min_shapes"] != "" {
		t.Errorf("fp32 without a profile: %v", got)
	}
}
