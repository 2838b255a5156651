package engine

import (
	"path/filepath"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
)

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
