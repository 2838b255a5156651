package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// EngineCacheKey names the TensorRT engine folder of one model. A TensorRT
// engine is only valid for the graph, onnxruntime (and so TensorRT) build,
// GPU and precision it was built with; each of them is in the name, so a
// change of any makes a new folder instead of loading a stale engine.
func EngineCacheKey(b *Bundle, ortVersion, device, precision string) string {
	if device == "" {
		device = "unknown-device"
	}
	return fmt.Sprintf("%s-%s-ort%s-%s-%s", pathSafe(b.Manifest.Name), b.SHA256[:16], pathSafe(ortVersion), pathSafe(device), precision)
}

// pathSafe keeps a name from the manifest or the library one folder name:
// no "/", no leading dot, nothing a shell would stumble on.
func pathSafe(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			out[i] = '_'
		}
	}
	return strings.TrimLeft(string(out), ".")
}

// EngineCacheEntry is one model's folder in tensorrt.engine_cache.
type EngineCacheEntry struct {
	Name     string
	Path     string
	Engines  int   // *.engine files: 0 means nothing was built there yet
	Bytes    int64 // all files in it
	Modified time.Time
}

// ListEngineCache lists the folders under the engine cache root, by name. A
// missing root is an empty cache. The "timing" folder is TensorRT's timing
// cache, shared by all engines, and is not an entry.
func ListEngineCache(root string) ([]EngineCacheEntry, error) {
	dirs, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list the engine cache: %w", err) // the error names the folder
	}
	var out []EngineCacheEntry
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == timingCacheDir {
			continue
		}
		e, err := readEngineCacheEntry(filepath.Join(root, d.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b EngineCacheEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func readEngineCacheEntry(dir string) (EngineCacheEntry, error) {
	e := EngineCacheEntry{Name: filepath.Base(dir), Path: dir}
	files, err := os.ReadDir(dir)
	if err != nil {
		return e, fmt.Errorf("list an engine cache folder: %w", err) // the error names the folder
	}
	for _, f := range files {
		info, err := f.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		e.Bytes += info.Size()
		if info.ModTime().After(e.Modified) {
			e.Modified = info.ModTime()
		}
		if strings.HasSuffix(f.Name(), ".engine") {
			e.Engines++
		}
	}
	return e, nil
}

// hasEngine says whether a model's cache folder holds a built engine.
func hasEngine(dir string) bool {
	e, err := readEngineCacheEntry(dir)
	return err == nil && e.Engines > 0
}

// EngineBuiltSince says whether TensorRT wrote an engine into dir at or after
// t: a load that found an engine may still have rebuilt it (onnxruntime
// rebuilds when the batch profile differs from the .profile stored beside
// the engine; an engine it cannot deserialize fails the session instead).
func EngineBuiltSince(dir string, t time.Time) bool {
	e, err := readEngineCacheEntry(dir)
	return err == nil && e.Engines > 0 && !e.Modified.Before(t)
}

// timingCacheDir holds TensorRT's timing cache beside the engine folders:
// timings stay useful across models, so it is shared.
const timingCacheDir = "timing"
