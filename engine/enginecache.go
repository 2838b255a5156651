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

	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/internal/atomicfile"
)

// engineBuild is everything besides the graph, the library and the GPU that
// TensorRT builds an engine from. The provider's options are made from it
// (tensorRTOptions) and the cache folder's name hashes it (EngineCacheKey),
// so no build option can change without a new folder: onnxruntime itself
// rebuilds only when the batch profile changes, and would silently reuse an
// engine built with another workspace or optimisation level.
type engineBuild struct {
	Precision         string `json:"precision"` // fp16, bf16 or fp32
	WorkspaceMB       int    `json:"workspace_mb"`
	OptimizationLevel int    `json:"builder_optimization_level"`
	MaxBatch          int    `json:"max_batch"` // the profile: batches 1..MaxBatch, tuned for MaxBatch
	TimingCache       bool   `json:"timing_cache"`
	LayerNormFP32     bool   `json:"layer_norm_fp32_fallback"`
	// TF32Override is NVIDIA_TF32_OVERRIDE as the build saw it: "0", which
	// hrmd sets before the library loads (tf32Env), keeps TensorRT from
	// running fp32 layers in TF32. In the key because engines built before
	// hrmd set it ran TF32 and must not be reused.
	TF32Override string `json:"nvidia_tf32_override"`
}

func (b engineBuild) hash() string {
	data, _ := json.Marshal(b) // a struct of plain fields always marshals
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:4])
}

// EngineCacheKey names the TensorRT engine folder of one model. An engine
// is only valid for the graph, the onnxruntime build, the GPU, the TensorRT
// library and the build options it was made with; each is in the name (the
// options as a hash, the precision and batch also in words), so a change of
// any makes a new folder instead of loading a stale engine. tensorRT is the
// loaded library's full version (TensorRTVersion), build number included:
// onnxruntime's own engine file name hashes getInferLibVersion(), which
// has none, so an engine of jetson-containers' TensorRT 10.3.0.26 would
// otherwise fail to load under JetPack's 10.3.0.30 in the same file. It is
// left out when unknown.
func EngineCacheKey(b *bundle.Bundle, ortVersion, tensorRT, device string, build engineBuild) string {
	if device == "" {
		device = "unknown-device"
	}
	if tensorRT != "" {
		device += "-trt" + tensorRT
	}
	return fmt.Sprintf("%s-%s-ort%s-%s-%s-b%d-%s", pathSafe(b.Manifest.Name), b.SHA256[:16], pathSafe(ortVersion),
		pathSafe(device), build.Precision, build.MaxBatch, build.hash())
}

// legacyEngineCacheKeys are the names an engine's folder had before the
// loaded TensorRT's version was in it: the device part ended in the newest
// TensorRT release installed ("-trt10.3.0", without the build number; on
// a plain JetPack the loaded one), or in nothing when none was found. Only
// those that differ from today's name.
func legacyEngineCacheKeys(b *bundle.Bundle, ortVersion, tensorRT, device string, build engineBuild) []string {
	current := EngineCacheKey(b, ortVersion, tensorRT, device, build)
	var keys []string
	if v, ok := nvinferSOVersion("libnvinfer.so." + tensorRT); ok && len(v) >= 3 {
		keys = append(keys, EngineCacheKey(b, ortVersion, fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]), device, build))
	}
	keys = append(keys, EngineCacheKey(b, ortVersion, "", device, build))
	return slices.DeleteFunc(keys, func(k string) bool { return k == current })
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
	// TensorRT is the version of the TensorRT library that built it
	// ("10.3.0.30"); "" when unknown.
	TensorRT string `json:"tensorrt,omitempty"`
	// Files are the folder's files as built (see engineFiles); none in a
	// record of an hrmd that did not keep them.
	Files []EngineFile `json:"files,omitempty"`
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
	r.Check = r.Check.withoutCycles()
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write the engine record: %w", err)
	}
	// A temporary file of its own: two processes checking one cached
	// engine must not rename each other's half-written record into place.
	if err := atomicfile.Write(dir, recordFile, append(data, '\n')); err != nil {
		return fmt.Errorf("write the engine record: %w", err)
	}
	return nil
}

// cacheSlot is one model's place in the engine cache. An engine is built in
// a fresh hidden folder (".build-<key>-<random>") and renamed to <key> only
// once its sessions loaded and it was checked: onnxruntime writes engines
// with a plain stream, so a power cut during a build would otherwise leave
// a truncated engine that every later start fails to deserialize.
//
// Every build in the cache holds its lock (see lockCache).
type cacheSlot struct {
	root, key string
	tensorRT  string   // the loaded TensorRT's version, for the record; "" when unknown
	legacy    []string // the names an older hrmd gave this folder (legacyEngineCacheKeys)
}

func (s cacheSlot) final() string { return filepath.Join(s.root, s.key) }

// buildLock is the engine cache's lock file, in its root.
const buildLock = ".lock"

// lock takes the cache's build lock for this slot's build (see lockCache).
func (s cacheSlot) lock(waiting func()) (*os.File, error) { return lockCache(s.root, waiting) }

// lockCache takes the build lock of the engine cache at root, calling
// waiting first when another build (this process's or another hrmd's)
// holds it. One lock for the whole cache, not one per engine: every build
// rewrites the shared timing cache (onnxruntime writes it with a plain
// stream), and a small board has the memory for one build at a time. A
// second hrmd that needs the same engine waits here and then loads what
// the first built. The file is opened read-only (flock needs no more) and
// made 0644 whatever the umask, so that a root-run `hrmd doctor --deep`
// leaves none the service's user cannot open.
func lockCache(root string, waiting func()) (*os.File, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("tensorrt.engine_cache: %w", err)
	}
	path := filepath.Join(root, buildLock)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("tensorrt.engine_cache: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.Mode().Perm() != 0o644 {
		f.Chmod(0o644) // only its owner can; for anyone else it was made right
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		waiting()
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the engine cache %s: %w", path, err)
	}
	return f, nil
}

// begin makes a fresh build folder, and the shared timing cache's folder
// if it is missing, so that the timing cache has a folder whether or not
// onnxruntime makes one. The cache's lock must be held.
func (s cacheSlot) begin() (string, error) {
	if err := os.MkdirAll(filepath.Join(s.root, timingCacheDir), 0o755); err != nil {
		return "", fmt.Errorf("tensorrt.engine_cache: %w", err)
	}
	s.removeAbandoned()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	dir := filepath.Join(s.root, ".build-"+s.key+"-"+hex.EncodeToString(rnd[:]))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("tensorrt.engine_cache: %w", err)
	}
	return dir, nil
}

// removeAbandoned removes build folders nobody is building in: with the
// cache's lock held, every one but those of an older hrmd still running,
// which locked one key at a time (".lock-<key>", held while it builds).
func (s cacheSlot) removeAbandoned() {
	dirs, _ := filepath.Glob(filepath.Join(s.root, ".build-*"))
	for _, dir := range dirs {
		name := strings.TrimPrefix(filepath.Base(dir), ".build-")
		i := strings.LastIndex(name, "-")
		if i < 0 {
			continue
		}
		if f, err := os.Open(filepath.Join(s.root, ".lock-"+name[:i])); err == nil {
			held := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil
			f.Close()
			if held {
				continue
			}
		}
		os.RemoveAll(dir)
	}
}

// commit puts a finished build in place as the key's folder, with its
// record (completed with the loaded TensorRT's version and the folder's
// files), its files on disk first (a power cut just after the rename must
// not leave empty engine files under the final name). The cache's lock
// must be held. A record that cannot be written does not cost the engine:
// the next start checks it again. A folder already there without an engine
// is replaced.
func (s cacheSlot) commit(dir string, r EngineRecord) error {
	r.TensorRT = s.tensorRT
	files, filesErr := engineFiles(dir)
	r.Files = files
	recordErr := errors.Join(filesErr, writeEngineRecord(dir, r))
	syncFolder(dir)
	final := s.final()
	if hasEngine(final) {
		os.RemoveAll(dir)
		return recordErr
	}
	if err := os.Rename(dir, final); err != nil {
		os.RemoveAll(final) // not an engine: an empty folder, or an old layout
		if err := os.Rename(dir, final); err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("put the built engine in place: %w", err)
		}
	}
	syncFolder(s.root)
	return recordErr
}

// adoptLegacy gives an engine an older hrmd built under another name of
// this key (legacyEngineCacheKeys) today's name, so that the upgrade costs
// no build; it returns the folder it took, "" for none. Loaded, the engine
// gets a full record; when it cannot be read back (another TensorRT build),
// its record has no files to vouch for it, and it is moved aside and built
// again like any other. The cache's lock must be held.
func (s cacheSlot) adoptLegacy() string {
	if hasEngine(s.final()) {
		return ""
	}
	for _, key := range s.legacy {
		old := filepath.Join(s.root, key)
		if !hasEngine(old) {
			continue
		}
		os.RemoveAll(s.final()) // not an engine: an empty folder
		if err := os.Rename(old, s.final()); err != nil {
			return ""
		}
		syncFolder(s.root)
		return old
	}
	return ""
}

// syncFolder flushes a folder's files and the folder itself to disk. It
// is best effort: a filesystem that cannot sync has nothing better to offer.
func syncFolder(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type().IsRegular() {
			if f, err := os.Open(filepath.Join(dir, e.Name())); err == nil {
				f.Sync()
				f.Close()
			}
		}
	}
	atomicfile.SyncDirs(dir)
}

// brokenExpiry is how long an engine moved aside holds back the next
// rebuild of its key. A second unreadable engine soon after the first says
// that building again does not help (a disk that damages what it is given,
// a TensorRT that cannot read back its own engines), and each build costs
// minutes of a board's memory; a day later it may well help (the disk or
// the libraries were fixed in the meantime), and nobody has to delete
// anything for that.
const brokenExpiry = 24 * time.Hour

// brokenSince sorts the key's folders moved aside into those moved less
// than brokenExpiry before now, which hold back a rebuild, and the older
// ones, which no longer count. When a folder was moved aside is in its
// name (quarantine); its modification time for a name that does not say.
func (s cacheSlot) brokenSince(now time.Time) (recent, expired []string) {
	dirs, _ := filepath.Glob(s.final() + ".broken-*")
	for _, dir := range dirs {
		at, err := time.Parse(brokenTimeLayout, strings.TrimPrefix(filepath.Base(dir), s.key+".broken-"))
		if err != nil {
			st, err := os.Stat(dir)
			if err != nil {
				continue
			}
			at = st.ModTime()
		}
		if now.Sub(at) < brokenExpiry {
			recent = append(recent, dir)
		} else {
			expired = append(expired, dir)
		}
	}
	return recent, expired
}

const brokenTimeLayout = "20060102T150405Z"

// quarantine moves the key's folder aside, as <key>.broken-<time>, for a
// person to look at; the cache listing shows it.
func (s cacheSlot) quarantine(now time.Time) (string, error) {
	aside := s.final() + ".broken-" + now.UTC().Format(brokenTimeLayout)
	if err := os.Rename(s.final(), aside); err != nil {
		return "", fmt.Errorf("move the broken engine aside: %w", err)
	}
	return aside, nil
}

// isDeserializeFailure says whether err is onnxruntime's TensorRT provider
// failing on a cached engine it cannot read back: tensorrt_execution_provider.cc
// returns EP_FAIL "TensorRT EP could not deserialize engine from cache:
// <path>" (or "from encrypted cache") whenever deserializeCudaEngine
// returns nothing, and does not build a new one itself. That is a truncated
// file, but also an intact one TensorRT refuses: too little free GPU
// memory, or an engine of another TensorRT build.
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
// progress (hidden folders) and the puzzle tables' stamps ("verified").
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
		if !d.IsDir() || d.Name() == timingCacheDir || d.Name() == bundle.StampDirName || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		e, err := readEngineCacheEntry(filepath.Join(root, d.Name()))
		if err != nil {
			return nil, err
		}
		e.Record, _ = ReadEngineRecord(e.Path) // a record that cannot be read is shown as none
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
