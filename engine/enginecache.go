package engine

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// engineBuild is everything besides the graph, the library and the GPU that
// TensorRT builds an engine from. The provider's options are made from it
// (tensorRTOptions) and the cache folder's name hashes it (EngineCacheKey),
// so no build option can change without a new folder: onnxruntime itself
// rebuilds only when the batch profile changes, and would silently reuse an
// engine built with another workspace or optimisation level.
type engineBuild struct {
	Precision         string `json:"precision"` // fp16 or fp32
	WorkspaceMB       int    `json:"workspace_mb"`
	OptimizationLevel int    `json:"builder_optimization_level"`
	MaxBatch          int    `json:"max_batch"` // the profile: batches 1..MaxBatch, tuned for MaxBatch
	TimingCache       bool   `json:"timing_cache"`
	LayerNormFP32     bool   `json:"layer_norm_fp32_fallback"`
}

func (b engineBuild) hash() string {
	data, _ := json.Marshal(b) // a struct of plain fields always marshals
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:4])
}

// EngineCacheKey names the TensorRT engine folder of one model. An engine
// is only valid for the graph, the onnxruntime (and so TensorRT) build, the
// GPU and the build options it was made with; each is in the name (the
// options as a hash, the precision and batch also in words), so a change of
// any makes a new folder instead of loading a stale engine.
func EngineCacheKey(b *Bundle, ortVersion, device string, build engineBuild) string {
	if device == "" {
		device = "unknown-device"
	}
	return fmt.Sprintf("%s-%s-ort%s-%s-%s-b%d-%s", pathSafe(b.Manifest.Name), b.SHA256[:16], pathSafe(ortVersion),
		pathSafe(device), build.Precision, build.MaxBatch, build.hash())
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

// EngineRecord is what hrmd writes beside a built engine (recordFile): how
// it was built, and the precision check's verdict, so the check runs once
// per engine and doctor can show it.
type EngineRecord struct {
	Build     engineBuild     `json:"build"`
	Built     time.Time       `json:"built"`
	BuildTook float64         `json:"build_s"`
	Check     *PrecisionCheck `json:"check"` // nil: not checked (tensorrt.fp16_check off, or no check set)
}

const recordFile = "hrmd-engine.json"

// ReadEngineRecord reads dir's record; (nil, nil) when it has none.
func ReadEngineRecord(dir string) (*EngineRecord, error) {
	data, err := os.ReadFile(filepath.Join(dir, recordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the engine record: %w", err)
	}
	var r EngineRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, recordFile), err)
	}
	return &r, nil
}

func writeEngineRecord(dir string, r EngineRecord) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, recordFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write the engine record: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write the engine record: %w", err)
	}
	return nil
}

// cacheSlot is one model's place in the engine cache. An engine is built in
// a fresh hidden folder (".build-<key>-<random>", locked while in use) and
// renamed to <key> only once its sessions loaded and it passed the check:
// onnxruntime writes engines with a plain stream, so a power cut during a
// build would otherwise leave a truncated engine that every later start
// fails to deserialize.
type cacheSlot struct {
	root, key string
}

func (s cacheSlot) final() string { return filepath.Join(s.root, s.key) }

// building is a build in progress: its folder and the lock that tells a
// later start it is not abandoned.
type building struct {
	dir  string
	lock *os.File
}

// begin makes a fresh build folder, after removing this key's build
// folders that nobody holds (left by a crash or a power cut).
func (s cacheSlot) begin() (*building, error) {
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		return nil, fmt.Errorf("tensorrt.engine_cache: %w", err)
	}
	s.removeAbandoned()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	dir := filepath.Join(s.root, ".build-"+s.key+"-"+hex.EncodeToString(rnd[:]))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tensorrt.engine_cache: %w", err)
	}
	lock, err := lockFolder(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &building{dir: dir, lock: lock}, nil
}

const buildLock = ".hrmd-building.lock"

func lockFolder(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, buildLock), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("tensorrt.engine_cache: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}

func (s cacheSlot) removeAbandoned() {
	old, _ := filepath.Glob(filepath.Join(s.root, ".build-"+s.key+"-*"))
	for _, dir := range old {
		if lock, err := lockFolder(dir); err == nil {
			os.RemoveAll(dir) // its builder is gone: the lock was free
			lock.Close()
		}
	}
}

// abandon removes a build that failed.
func (b *building) abandon() {
	os.RemoveAll(b.dir)
	b.lock.Close()
}

// commit puts a finished build in place as the key's folder, with its
// record. A folder already there without an engine is replaced; one with an
// engine (another hrmd built the same key meanwhile) is kept, and this build
// dropped: both are the same engine. The lock is held until the folder has
// its final name, so no other start takes it for abandoned meanwhile.
func (s cacheSlot) commit(b *building, r EngineRecord) error {
	defer b.lock.Close()
	if err := writeEngineRecord(b.dir, r); err != nil {
		os.RemoveAll(b.dir)
		return err
	}
	final := s.final()
	if hasEngine(final) {
		os.RemoveAll(b.dir)
		return nil
	}
	os.RemoveAll(final) // empty, or an old layout without an engine
	if err := os.Rename(b.dir, final); err != nil {
		os.RemoveAll(b.dir)
		return fmt.Errorf("put the built engine in place: %w", err)
	}
	os.Remove(filepath.Join(final, buildLock))
	return nil
}

// quarantine moves the key's folder aside, as <key>.broken-<time>, for a
// person to look at; the cache listing shows it.
func (s cacheSlot) quarantine(now time.Time) (string, error) {
	aside := s.final() + ".broken-" + now.UTC().Format("20060102T150405Z")
	if err := os.Rename(s.final(), aside); err != nil {
		return "", fmt.Errorf("move the broken engine aside: %w", err)
	}
	return aside, nil
}

// isDeserializeFailure says whether err is onnxruntime's TensorRT provider
// failing on a cached engine it cannot read back (a truncated or foreign
// file): tensorrt_execution_provider.cc returns EP_FAIL "TensorRT EP could
// not deserialize engine from cache: <path>" (or "from encrypted cache")
// and does not build a new one itself.
func isDeserializeFailure(err error) bool {
	return err != nil && strings.Contains(err.Error(), "could not deserialize engine from")
}

// EngineCacheEntry is one model's folder in tensorrt.engine_cache.
type EngineCacheEntry struct {
	Name     string
	Path     string
	Engines  int   // *.engine files: 0 means nothing was built there yet
	Bytes    int64 // all files in it
	Modified time.Time
	Broken   bool          // moved aside after onnxruntime could not deserialize it
	Record   *EngineRecord // how it was built and checked; nil for none
}

// ListEngineCache lists the folders under the engine cache root, by name. A
// missing root is an empty cache. The "timing" folder is TensorRT's timing
// cache, shared by all engines, and is not an entry; nor are builds in
// progress (hidden folders).
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
		if !d.IsDir() || d.Name() == timingCacheDir || strings.HasPrefix(d.Name(), ".") {
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
	e := EngineCacheEntry{Name: filepath.Base(dir), Path: dir, Broken: strings.Contains(filepath.Base(dir), ".broken-")}
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
	e.Record, _ = ReadEngineRecord(dir) // a record that cannot be read is shown as none
	return e, nil
}

// hasEngine says whether a model's cache folder holds a built engine.
func hasEngine(dir string) bool {
	e, err := readEngineCacheEntry(dir)
	return err == nil && e.Engines > 0
}

// timingCacheDir holds TensorRT's timing cache beside the engine folders:
// timings stay useful across models, so it is shared.
const timingCacheDir = "timing"
