package engine

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
)

// Anything that makes a built engine invalid (the graph, the library, the
// device, the precision, any build option) changes the folder name.
func TestEngineCacheKey(t *testing.T) {
	b, err := LoadBundle(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{cfg: DefaultConfig()}
	build := rt.engineBuild("fp16", 4)
	base := EngineCacheKey(b, "1.30.0", "tegra234-l4t36.3.0", build)
	if want := "nova-tiny-" + b.SHA256[:16] + "-ort1.30.0-tegra234-l4t36.3.0-fp16-b4-" + build.hash(); base != want {
		t.Fatalf("key %q, want %q", base, want)
	}
	other := *b
	other.SHA256 = "f" + b.SHA256[1:]
	with := func(change func(*engineBuild)) engineBuild { o := build; change(&o); return o }
	for name, key := range map[string]string{
		"model":        EngineCacheKey(&other, "1.30.0", "tegra234-l4t36.3.0", build),
		"library":      EngineCacheKey(b, "1.24.1", "tegra234-l4t36.3.0", build),
		"device":       EngineCacheKey(b, "1.30.0", "tegra194-l4t35.4.1", build),
		"precision":    EngineCacheKey(b, "1.30.0", "tegra234-l4t36.3.0", rt.engineBuild("fp32", 4)),
		"batch":        EngineCacheKey(b, "1.30.0", "tegra234-l4t36.3.0", rt.engineBuild("fp16", 8)),
		"workspace":    EngineCacheKey(b, "1.30.0", "tegra234-l4t36.3.0", with(func(o *engineBuild) { o.WorkspaceMB = 2048 })),
		"optimisation": EngineCacheKey(b, "1.30.0", "tegra234-l4t36.3.0", with(func(o *engineBuild) { o.OptimizationLevel = 5 })),
		"timing cache": EngineCacheKey(b, "1.30.0", "tegra234-l4t36.3.0", with(func(o *engineBuild) { o.TimingCache = false })),
		"layer norm":   EngineCacheKey(b, "1.30.0", "tegra234-l4t36.3.0", with(func(o *engineBuild) { o.LayerNormFP32 = false })),
	} {
		if key == base {
			t.Errorf("another %s gives the same folder %q", name, key)
		}
	}
	if got := EngineCacheKey(b, "1.30.0", "", build); !strings.Contains(got, "-ort1.30.0-unknown-device-fp16-") {
		t.Errorf("no device: %q", got)
	}
	// A manifest's name cannot lead the folder out of the cache.
	other.Manifest.Name = "../../etc/my model"
	if got := EngineCacheKey(&other, "1.30.0", "tegra234", build); !strings.HasPrefix(got, "_.._etc_my_model-f"+b.SHA256[1:16]+"-ort1.30.0-tegra234-fp16") {
		t.Errorf("unsafe name: %q", got)
	}
}

// Two configurations that differ only in the workspace or the optimisation
// level use different folders (onnxruntime would reuse the engine).
func TestEngineCacheDirFollowsTheConfig(t *testing.T) {
	b, err := LoadBundle(fixtureDir)
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

func TestListEngineCache(t *testing.T) {
	root := t.TempDir()
	write := func(rel, data string) { t.Helper(); testenv.WriteFile(t, root, rel, data) }
	write("b-model/TensorrtExecutionProvider_TRTKernel_graph_1.engine", "12345")
	write("b-model/TensorrtExecutionProvider_TRTKernel_graph_2.engine", "123")
	write("b-model/TensorrtExecutionProvider_TRTKernel_graph_2.profile", "1")
	write("a-model/notes.txt", "xx")
	write("c-model.broken-20261202T101010Z/TensorrtExecutionProvider_TRTKernel_graph_1.engine", "1")
	write(".build-c-model-0123/TensorrtExecutionProvider_TRTKernel_graph_1.engine", "1")
	write("timing/TensorrtExecutionProvider_cache_sm87.timing", "t")
	write("stray-file", "")
	got, err := ListEngineCache(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Name != "a-model" || got[1].Name != "b-model" || !got[2].Broken || got[1].Broken {
		t.Fatalf("entries %+v, want a-model, b-model and the broken c-model (not the build in progress)", got)
	}
	if got[0].Engines != 0 || got[0].Bytes != 2 || got[1].Engines != 2 || got[1].Bytes != 9 {
		t.Errorf("counts %+v", got)
	}
	if !hasEngine(got[1].Path) || hasEngine(got[0].Path) || hasEngine(filepath.Join(root, "missing")) {
		t.Error("hasEngine disagrees with the listing")
	}
	if entries, err := ListEngineCache(filepath.Join(root, "absent")); err != nil || entries != nil {
		t.Errorf("absent root: %v, %v; want an empty cache", entries, err)
	}
}
