package engine

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestLibrarySearchFind(t *testing.T) {
	root := t.TempDir()
	mk := func(rel string) string {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dir := func(rel string) string { return filepath.Join(root, rel) }
	configured := mk("etc/lib.so")
	env := mk("env/libonnxruntime.so")
	cached := mk("cache/1.30.0/linux-x64/libonnxruntime.so.1")
	mk("cache/1.9.0/linux-x64/libonnxruntime.so.1")
	system := mk("usr/lib/libonnxruntime.so")
	// A TensorRT build as jetson-containers' tarball installs it, and a
	// second one further down the search.
	trt := mk("usr/local/lib/libonnxruntime.so.1")
	mk("usr/local/lib/" + tensorRTProviderLib)
	mk("opt/trt/libonnxruntime.so")
	mk("opt/trt/" + tensorRTProviderLib)
	// A provider library with no libonnxruntime beside it is no build.
	mk("stray/" + tensorRTProviderLib)
	empty := dir("empty")

	cacheDirs := cachedLibraryDirs(dir("cache"), "x64")
	if len(cacheDirs) != 2 || !strings.Contains(cacheDirs[0], "1.30.0") {
		t.Fatalf("cache folders %v: want 1.30.0 (newest) first", cacheDirs)
	}
	bundled := append([]string{empty}, cacheDirs...)
	noTRT := "no " + tensorRTProviderLib + " beside a libonnxruntime in " + strings.Join(
		slices.Concat(bundled, []string{dir("stray"), dir("usr/lib")}),
		", ",
	)
	bundledCPU := &LibraryChoice{Path: cached, Reason: "bundled CPU build (" + noTRT + ")"}
	tests := []struct {
		name   string
		search LibrarySearch
		want   LibraryChoice
		code   string
	}{
		{"configured wins", LibrarySearch{Configured: configured, Env: env, System: []string{dir("usr/local/lib")}},
			LibraryChoice{Path: configured, Reason: "onnxruntime.library"}, ""},
		{"env next", LibrarySearch{Env: env, Bundled: cacheDirs, System: []string{dir("usr/local/lib")}},
			LibraryChoice{Path: env, Reason: "$HRMD_ORT_LIB"}, ""},
		{
			"a TensorRT build wins over the bundled one",
			LibrarySearch{Bundled: bundled, System: []string{dir("usr/local/lib"), dir("usr/lib")}},
			LibraryChoice{
				Path:   trt,
				Reason: "beside libonnxruntime_providers_tensorrt.so in " + dir("usr/local/lib"),
				Fallback: &LibraryChoice{
					Path: cached, Reason: "bundled CPU build (no " + tensorRTProviderLib + " beside a libonnxruntime in " +
						strings.Join(slices.Concat(bundled, []string{dir("usr/local/lib"), dir("usr/lib")}), ", ") + ")"},
			},
			"",
		},
		{"the first TensorRT build in order", LibrarySearch{System: []string{dir("opt/trt"), dir("usr/local/lib")}},
			LibraryChoice{
				Path:   dir("opt/trt/libonnxruntime.so"),
				Reason: "beside libonnxruntime_providers_tensorrt.so in " + dir("opt/trt"),
			}, ""},
		{"newest cached", LibrarySearch{Bundled: bundled, System: []string{dir("stray"), dir("usr/lib")}}, *bundledCPU, ""},
		{"system", LibrarySearch{Bundled: []string{empty}, System: []string{dir("usr/lib")}},
			LibraryChoice{Path: system, Reason: "the first found, in " + dir("usr/lib") + " (no " + tensorRTProviderLib +
				" beside a libonnxruntime in " + empty + ", " + dir("usr/lib") + ")"}, ""},
		{
			"configured missing is not searched past",
			LibrarySearch{Configured: dir("gone.so"), Bundled: cacheDirs, System: []string{dir("usr/local/lib")}},
			LibraryChoice{},
			CodeORTMissing,
		},
		{"env missing", LibrarySearch{Env: dir("gone.so"), Bundled: cacheDirs}, LibraryChoice{}, CodeORTMissing},
		{"nothing", LibrarySearch{Bundled: []string{empty}, System: []string{dir("stray")}}, LibraryChoice{}, CodeORTMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.search.Find()
			if tt.code != "" {
				var eerr *Error
				if !errors.As(err, &eerr) || eerr.Code != tt.code || !strings.Contains(eerr.Message, "./build.sh deps") {
					t.Fatalf("got %+v, %v; want a %s error with the fix", got, err, tt.code)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v (fallback %+v), %v\nwant %+v (fallback %+v)", got, got.Fallback, err, tt.want, tt.want.Fallback)
			}
		})
	}
}

func TestCheckVersion(t *testing.T) {
	for _, tt := range []struct {
		version string
		ok      bool
	}{
		{"1.30.0", true}, {"1.24.0", true}, {"1.24", true}, {"2.0.1", true},
		{"1.23.2", false}, {"1.9.0", false}, {"1.3.0", false},
	} {
		err := checkVersion("/x/libonnxruntime.so", tt.version)
		var eerr *Error
		tooOld := "onnxruntime " + tt.version + "; hrmd needs 1.24 or newer"
		if tt.ok != (err == nil) ||
			(!tt.ok && (!errors.As(err, &eerr) || eerr.Code != CodeORTTooOld || !strings.Contains(eerr.Message, tooOld))) {
			t.Errorf("%s: %v", tt.version, err)
		}
	}
}
