//go:build cgo

package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hrmd/hrmd/internal/testenv"
)

// A TensorRT build that cannot be loaded (here a file that is no library,
// as one for another machine is to dlopen) gives way to the library the
// search would have picked without it, and says which it passed over; a
// path set explicitly is the only one tried.
func TestLoadLibraryFallback(t *testing.T) {
	root := t.TempDir()
	trtDir, bundled := filepath.Join(root, "usr", "local", "lib"), filepath.Join(root, "usr", "lib", "hrmd")
	for _, d := range []string{trtDir, bundled} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	broken := filepath.Join(trtDir, "libonnxruntime.so.1")
	for path, data := range map[string]string{broken: "not a library", filepath.Join(trtDir, tensorRTProviderLib): ""} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cpu := filepath.Join(bundled, "libonnxruntime.so.1")
	if err := os.Symlink(testenv.ORTLibrary(t), cpu); err != nil {
		t.Fatal(err)
	}
	choice, err := LibrarySearch{Bundled: []string{bundled}, System: []string{trtDir}}.Find()
	if err != nil || choice.Path != broken || choice.Fallback == nil {
		t.Fatalf("Find: %+v, %v; want the TensorRT build with a fallback", choice, err)
	}
	core, logs := observer.New(zap.WarnLevel)
	got, version, err := loadLibrary(choice, zap.New(core))
	if err != nil || got.Path != cpu || checkVersion(cpu, version) != nil ||
		!strings.HasPrefix(got.Reason, "bundled CPU build") {
		t.Fatalf("loaded %+v, onnxruntime %q, %v; want the bundled CPU build", got, version, err)
	}
	if want := broken + " (beside " + tensorRTProviderLib + " in " + trtDir + "): " + CodeORTUnloadable + ": cannot " +
		"load"; !strings.HasPrefix(
		got.PassedOver,
		want,
	) {
		t.Errorf("PassedOver %q, want it to start %q", got.PassedOver, want)
	}
	if n := logs.FilterField(zap.String("passed_over", broken)).Len(); n != 1 {
		t.Errorf("%d warnings naming the library passed over, want 1: %v", n, logs.All())
	}

	_, _, err = loadLibrary(LibraryChoice{Path: broken, Reason: "onnxruntime.library"}, zap.NewNop())
	var eerr *Error
	if !errors.As(err, &eerr) || eerr.Code != CodeORTUnloadable {
		t.Errorf("an explicit library that cannot be loaded: %v, want %s", err, CodeORTUnloadable)
	}
}
