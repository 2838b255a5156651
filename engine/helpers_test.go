package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

const fixtureDir = "testdata/nova-tiny"

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
