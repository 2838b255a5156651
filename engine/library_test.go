package engine

import (
	"errors"
	"os"
	"path/filepath"
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
	configured := mk("etc/lib.so")
	env := mk("env/libonnxruntime.so")
	cached := mk("cache/1.30.0/linux-x64/libonnxruntime.so.1")
	mk("cache/1.9.0/linux-x64/libonnxruntime.so.1")
	system := mk("usr/lib/libonnxruntime.so")
	empty := filepath.Join(root, "empty")

	cacheDirs := cachedLibraryDirs(filepath.Join(root, "cache"), "x64")
	if len(cacheDirs) != 2 || !strings.Contains(cacheDirs[0], "1.30.0") {
		t.Fatalf("cache folders %v: want 1.30.0 (newest) first", cacheDirs)
	}
	tests := []struct {
		name   string
		search LibrarySearch
		want   string
		code   string
	}{
		{"configured wins", LibrarySearch{Configured: configured, Env: env, Dirs: cacheDirs}, configured, ""},
		{"env next", LibrarySearch{Env: env, Dirs: cacheDirs}, env, ""},
		{"newest cached", LibrarySearch{Dirs: append([]string{empty}, cacheDirs...)}, cached, ""},
		{"system", LibrarySearch{Dirs: []string{empty, filepath.Join(root, "usr/lib")}}, system, ""},
		{"configured missing is not searched past", LibrarySearch{Configured: filepath.Join(root, "gone.so"), Dirs: cacheDirs}, "", CodeORTMissing},
		{"env missing", LibrarySearch{Env: filepath.Join(root, "gone.so"), Dirs: cacheDirs}, "", CodeORTMissing},
		{"nothing", LibrarySearch{Dirs: []string{empty}}, "", CodeORTMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.search.Find()
			if tt.code != "" {
				var eerr *Error
				if !errors.As(err, &eerr) || eerr.Code != tt.code || !strings.Contains(eerr.Message, "./build.sh deps") {
					t.Fatalf("got %q, %v; want a %s error with the fix", got, err, tt.code)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCheckVersion(t *testing.T) {
	for _, tt := range []struct {
		version string
		ok      bool
	}{{"1.30.0", true}, {"1.24.0", true}, {"1.24", true}, {"2.0.1", true}, {"1.23.2", false}, {"1.9.0", false}, {"1.3.0", false}} {
		err := checkVersion("/x/libonnxruntime.so", tt.version)
		var eerr *Error
		if tt.ok != (err == nil) || (!tt.ok && (!errors.As(err, &eerr) || eerr.Code != CodeORTTooOld || !strings.Contains(eerr.Message, "onnxruntime "+tt.version+"; hrmd needs 1.24 or newer"))) {
			t.Errorf("%s: %v", tt.version, err)
		}
	}
}
