//go:build cgo

package engine

import (
	"path/filepath"
	"testing"
)

// What the TensorRT provider gets that hrmd computes (the fixed switches,
// such as engine caching on, are read from the code, not repeated here):
// one engine profile for every batch from 1 to max_batch, built from the
// graph's own row shapes; the workspace in bytes; fp16 as configured; the
// engine in its keyed folder and the timing cache beside those folders,
// shared by them. (The CPU-only library here refuses the provider itself,
// so the options are checked as they are handed over.)
func TestTensorRTOptions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TensorRT.EngineCache = "/var/cache/hrmd/trt"
	cfg.TensorRT.WorkspaceMB = 512
	rt := &Runtime{cfg: cfg, version: "1.30.0"}
	cacheDir := "/var/cache/hrmd/trt/nova-tiny-0123456789abcdef-ort1.30.0-tegra234-fp16"
	profile := []tensorShape{{name: "h", row: []int64{900, 32}}, {name: "l", row: []int64{900, 32}}}
	for _, tt := range []struct {
		fp16     bool
		maxBatch int
		want     map[string]string
	}{
		{true, 4, map[string]string{
			"trt_fp16_enable":        "1",
			"trt_max_workspace_size": "536870912",
			"trt_engine_cache_path":  cacheDir,
			"trt_timing_cache_path":  filepath.Join("/var/cache/hrmd/trt", timingCacheDir),
			"trt_profile_min_shapes": "h:1x900x32,l:1x900x32",
			"trt_profile_opt_shapes": "h:4x900x32,l:4x900x32",
			"trt_profile_max_shapes": "h:4x900x32,l:4x900x32",
		}},
		{false, 16, map[string]string{
			"trt_fp16_enable":        "0",
			"trt_profile_min_shapes": "h:1x900x32,l:1x900x32",
			"trt_profile_max_shapes": "h:16x900x32,l:16x900x32",
		}},
	} {
		precision := "fp32"
		if tt.fp16 {
			precision = "fp16"
		}
		got := rt.tensorRTOptions(rt.engineBuild(precision, tt.maxBatch), profile, cacheDir)
		for key, want := range tt.want {
			if got[key] != want {
				t.Errorf("fp16 %v, max_batch %d: %s = %q, want %q", tt.fp16, tt.maxBatch, key, got[key], want)
			}
		}
	}
	// A graph without dynamic inputs gets no profile.
	if got := rt.tensorRTOptions(rt.engineBuild("fp16", 4), nil, cacheDir); got["trt_profile_min_shapes"] != "" {
		t.Errorf("a profile without shapes: %q", got["trt_profile_min_shapes"])
	}
}
