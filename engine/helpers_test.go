package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
)

const fixtureDir = "testdata/nova-tiny"

// actFixtureDir is the tiny act-v1 bundle, with a puzzle table.
const actFixtureDir = "testdata/act-v1-tiny"

// copyBundle copies the fixture into a temporary folder so a test can edit it.
func copyBundle(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"hrm.yaml", "init.onnx", "step.onnx", "golden.json"} {
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

func setManifestField(t testing.TB, dir, old, new string) {
	t.Helper()
	testenv.ReplaceInFile(t, filepath.Join(dir, "hrm.yaml"), old, new)
}
