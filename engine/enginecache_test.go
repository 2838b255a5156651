package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hrmd/hrmd/internal/testenv"
)

// Anything that makes a built engine invalid (the graph, the library, the
// device, the precision) changes the folder name.
func TestEngineCacheKey(t *testing.T) {
	b, err := LoadBundle(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	base := EngineCacheKey(b, "1.30.0", "tegra234-l4t36.3.0", "fp16")
	if want := "nova-tiny-" + b.SHA256[:16] + "-ort1.30.0-tegra234-l4t36.3.0-fp16"; base != want {
		t.Fatalf("key %q, want %q", base, want)
	}
	other := *b
	other.SHA256 = "f" + b.SHA256[1:]
	for name, key := range map[string]string{
		"model":     EngineCacheKey(&other, "1.30.0", "tegra234-l4t36.3.0", "fp16"),
		"library":   EngineCacheKey(b, "1.24.1", "tegra234-l4t36.3.0", "fp16"),
		"device":    EngineCacheKey(b, "1.30.0", "tegra194-l4t35.4.1", "fp16"),
		"precision": EngineCacheKey(b, "1.30.0", "tegra234-l4t36.3.0", "fp32"),
	} {
		if key == base {
			t.Errorf("another %s gives the same folder %q", name, key)
		}
	}
	if got := EngineCacheKey(b, "1.30.0", "", "fp16"); got != "nova-tiny-"+b.SHA256[:16]+"-ort1.30.0-unknown-device-fp16" {
		t.Errorf("no device: %q", got)
	}
	// A manifest's name cannot lead the folder out of the cache.
	other.Manifest.Name = "../../etc/my model"
	if got := EngineCacheKey(&other, "1.30.0", "tegra234", "fp16"); got != "_.._etc_my_model-f"+b.SHA256[1:16]+"-ort1.30.0-tegra234-fp16" {
		t.Errorf("unsafe name: %q", got)
	}
}

func TestEngineBuiltSince(t *testing.T) {
	dir := t.TempDir()
	engine := filepath.Join(dir, "TensorrtExecutionProvider_TRTKernel_graph_1.engine")
	if err := os.WriteFile(engine, []byte("e"), 0o644); err != nil {
		t.Fatal(err)
	}
	written := time.Now().Add(-time.Hour)
	if err := os.Chtimes(engine, written, written); err != nil {
		t.Fatal(err)
	}
	if EngineBuiltSince(dir, written.Add(time.Minute)) {
		t.Error("an engine written before the load counts as built by it")
	}
	if !EngineBuiltSince(dir, written.Add(-time.Minute)) {
		t.Error("an engine written during the load does not count as built")
	}
	if EngineBuiltSince(filepath.Join(dir, "absent"), written) {
		t.Error("no folder, yet built")
	}
}

func TestListEngineCache(t *testing.T) {
	root := t.TempDir()
	write := func(rel, data string) { t.Helper(); testenv.WriteFile(t, root, rel, data) }
	write("b-model/TensorrtExecutionProvider_TRTKernel_graph_1.engine", "12345")
	write("b-model/TensorrtExecutionProvider_TRTKernel_graph_2.engine", "123")
	write("b-model/TensorrtExecutionProvider_TRTKernel_graph_2.profile", "1")
	write("a-model/notes.txt", "xx")
	write("timing/TensorrtExecutionProvider_cache_sm87.timing", "t")
	write("stray-file", "")
	got, err := ListEngineCache(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "a-model" || got[1].Name != "b-model" {
		t.Fatalf("entries %+v, want a-model and b-model", got)
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
