package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A profile in onnxruntime's format: a node counts once however many runs
// it was in, under the provider its kernel event names; session events and
// events without a provider do not count.
func TestReadPlacements(t *testing.T) {
	dir := t.TempDir()
	node := func(name, index, provider string) string {
		return `{"cat" : "Node","name" :"` + name + `_kernel_time",` +
			`"args" : {"op_name" : "X","provider" : "` + provider + `","node_index" : "` + index + `"}}`
	}
	step := "[\n" + strings.Join([]string{
		`{"cat" : "Session","name" :"session_initialization","args" : {}}`,
		node("TensorrtExecutionProvider_TRTKernel_graph_main_0", "0", "TensorrtExecutionProvider"),
		node("/Shape", "1", "CPUExecutionProvider"),
		node("/Gather", "2", "CPUExecutionProvider"),
		node("/MatMul", "3", "CUDAExecutionProvider"),
		`{"cat" : "Node","name" :"/MatMul_fence_before","args" : {"op_name" : "MatMul"}}`,
		node("TensorrtExecutionProvider_TRTKernel_graph_main_0", "0", "TensorrtExecutionProvider"), // a second run
		node("/Shape", "1", "CPUExecutionProvider"),
	}, ",\n") + "\n]\n"
	init := "[\n" + node("TensorrtExecutionProvider_TRTKernel_graph_init_0", "0", "TensorrtExecutionProvider") + "\n]\n"
	for name, data := range map[string]string{
		"step_2026-12-07_01-04-19_144.json": step,
		"init_2026-12-07_01-04-19_101.json": init,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readPlacements(dir, "init.onnx", "step.onnx")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"init.onnx: 1 node on TensorrtExecutionProvider",
		"step.onnx: 2 nodes on CPUExecutionProvider, 1 node on CUDAExecutionProvider, 1 node on TensorrtExecutionProvider",
	}
	if len(got) != 2 || got[0].String() != want[0] || got[1].String() != want[1] {
		t.Errorf("got %v, want %q", got, want)
	}
	if _, err := readPlacements(dir, "halt.onnx"); err == nil ||
		!strings.Contains(err.Error(), "no onnxruntime profile of halt.onnx in "+dir) {
		t.Errorf("a graph without a profile: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad_1.json"), []byte("[{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readPlacements(dir, "bad.onnx"); err == nil || !strings.Contains(err.Error(), "bad_1.json") {
		t.Errorf("a cut-short profile: %v", err)
	}
	if s := (GraphPlacement{Graph: "step.onnx"}).String(); s != "step.onnx: no node ran" {
		t.Errorf("no nodes: %q", s)
	}
}
