// Package testenv finds what the tests of several packages share: the
// onnxruntime library, the full-size bundle that ./build.sh test exports, the
// committed ARC tasks and the golden files' schema.
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot is the repository's root folder.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot tell where the repository is")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ARCDir is the ARC-AGI-1 tasks committed for the tests, the exporter's
// golden inputs and the demo: testdata/arc/ARC-AGI-1, a small subset of the
// public set (its README says which).
func ARCDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), "testdata", "arc", "ARC-AGI-1")
}

// ORTLibrary is the onnxruntime library for tests: $HRMD_ORT_LIB (./build.sh
// test sets it), else the newest one ./build.sh deps fetched.
func ORTLibrary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HRMD_ORT_LIB"); p != "" {
		return p
	}
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	matches, _ := filepath.Glob(
		filepath.Join(RepoRoot(t), ".cache", "onnxruntime", "*", "linux-"+arch, "libonnxruntime.so.1"),
	)
	if len(matches) == 0 {
		t.Fatal("no onnxruntime library: run ./build.sh deps (or set HRMD_ORT_LIB)")
	}
	return matches[len(matches)-1]
}

// FullBundle is a full-size random nova bundle with a golden file, exported
// during this test run by ./build.sh test ($HRMD_FULL_BUNDLE). CI requires it
// ($HRMD_REQUIRE_FULL_BUNDLE); a machine without PyTorch skips what needs it.
func FullBundle(t testing.TB) string { return exported(t, "HRMD_FULL_BUNDLE", "nova") }

// FullActBundle is the same for act-v1 ($HRMD_ACT_FULL_BUNDLE).
func FullActBundle(t testing.TB) string { return exported(t, "HRMD_ACT_FULL_BUNDLE", "act-v1") }

// FullActSudokuBundle is a full-size random act-v1 Sudoku bundle with learned
// positions ($HRMD_ACT_SUDOKU_FULL_BUNDLE).
func FullActSudokuBundle(t testing.TB) string {
	return exported(t, "HRMD_ACT_SUDOKU_FULL_BUNDLE", "act-v1 Sudoku")
}

func exported(t testing.TB, env, family string) string {
	t.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		if os.Getenv("HRMD_REQUIRE_FULL_BUNDLE") != "" {
			t.Fatalf("HRMD_REQUIRE_FULL_BUNDLE is set but %s is not: ./build.sh test exports it", env)
		}
		t.Skipf("no full-size %s bundle: ./build.sh test writes it when python3-torch is installed (%s)", family, env)
	}
	return dir
}

// ProxyBundles is the folder of precision proxies ./build.sh test writes
// with engine/export/simulate_precision.py ($HRMD_PROXY_BUNDLES): one
// folder <bundle>-<format> each, for the committed bundles at fp16 and fp8,
// and the full-size random exports too. It needs Python's onnx, so it
// goes with the full-size bundles: required where they are.
func ProxyBundles(t testing.TB) string { return exported(t, "HRMD_PROXY_BUNDLES", "precision proxy") }

// BenchModels are the bundles benchmarks run on: the tiny fixture, and the
// full-size one ./build.sh bench exports ($HRMD_BENCH_FULL_MODEL).
func BenchModels(t testing.TB) [][2]string {
	models := [][2]string{{"tiny", filepath.Join(RepoRoot(t), "engine", "testdata", "nova-tiny")}}
	if full := os.Getenv("HRMD_BENCH_FULL_MODEL"); full != "" {
		models = append(models, [2]string{"full", full})
	}
	return models
}
