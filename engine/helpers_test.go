package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

const fixtureDir = "testdata/nova-tiny"

// testLibrary is the onnxruntime library the tests load: $HRMD_ORT_LIB (set by
// ./build.sh test), else the one ./build.sh deps fetched.
func testLibrary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(LibraryEnv); p != "" {
		return p
	}
	dirs := cachedLibraryDirs(filepath.Join("..", ".cache", "onnxruntime"), "x64")
	if len(dirs) == 0 {
		t.Fatal("no onnxruntime library: run ./build.sh deps (or set HRMD_ORT_LIB)")
	}
	return filepath.Join(dirs[0], "libonnxruntime.so.1")
}

type goldenFile struct {
	Halting struct {
		Threshold float64
		MinCycles int `json:"min_cycles"`
		MaxCycles int `json:"max_cycles"`
	}
	LogitCells []int `json:"logit_cells"`
	Cases      []goldenCase
}

type goldenCase struct {
	Source    string
	Tokens    []int64
	HaltCycle int    `json:"halt_cycle"`
	HaltedBy  string `json:"halted_by"`
	Cycles    []struct {
		Halt   float64
		Argmax []int64
		Logits map[string][]float64
	}
}

func readGolden(t testing.TB, dir string) goldenFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatalf("%s/golden.json has no cases", dir)
	}
	return g
}

// fullBundle is a full-size random nova bundle with a golden file, exported
// during this test run by ./build.sh test ($HRMD_FULL_BUNDLE). CI requires it
// ($HRMD_REQUIRE_FULL_BUNDLE); a machine without PyTorch skips what needs it.
func fullBundle(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("HRMD_FULL_BUNDLE")
	if dir == "" {
		if os.Getenv("HRMD_REQUIRE_FULL_BUNDLE") != "" {
			t.Fatal("HRMD_REQUIRE_FULL_BUNDLE is set but HRMD_FULL_BUNDLE is not: ./build.sh test exports it")
		}
		t.Skip("no full-size bundle: ./build.sh test exports one when python3-torch is installed (HRMD_FULL_BUNDLE)")
	}
	return dir
}

// copyBundle copies the fixture into a temporary folder so a test can edit it.
func copyBundle(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"hrm.yaml", "init.onnx", "step.onnx"} {
		data, err := os.ReadFile(filepath.Join(fixtureDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
