package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// MinORTVersion is the oldest onnxruntime hrmd runs with: onnxruntime_go
// v1.27.0 asks for C API version 24, which onnxruntime 1.24 introduced.
const MinORTVersion = "1.24"

// LibraryEnv names the environment variable that points at the library.
const LibraryEnv = "HRMD_ORT_LIB"

// The environment variables that keep onnxruntime's telemetry off. Its Linux
// builds since 1.29 (the bundled 1.30.0 included) start an uploader in
// OrtCreateEnv: a device id and an SQLite event store under
// $XDG_CACHE_HOME or $HOME/.cache/Microsoft/DeveloperTools, a read of
// /etc/machine-id, a mat-debug-<pid>.log in $TMPDIR, and DNS look-ups of
// Microsoft's events host every few seconds. 1.29 and 1.30 read the first
// name, once, when the environment is created; onnxruntime's main branch reads
// the second instead, so a newer library pointed at with onnxruntime.library
// stays quiet too.
const (
	telemetryEnv     = "ORT_DISABLE_TELEMETRY"
	telemetryEnvNext = "ORT_TELEMETRY_DISABLED"
)

// tf32Env turns TF32 off in NVIDIA's libraries: TensorRT's builder flag
// kTF32 is on by default ("rounding the inputs to 10-bit mantissas",
// NvInfer.h) and onnxruntime never clears it, so an "fp32" engine on an
// Ampere GPU (Orin's) would run TF32. TensorRT's developer guide: setting
// it to 0 "when building an engine disables the use of TF32, despite
// setting BuilderFlag::kTF32", and it is best the same when the engine
// runs; cuBLAS and cuDNN (the CUDA provider) honour it too. It is set
// before any of them is loaded, for the whole process.
const (
	tf32Env = "NVIDIA_TF32_OVERRIDE"
	tf32Off = "0"
)

// disableTF32 sets tf32Env to tf32Off, saying so when the environment
// asked for something else.
func disableTF32(log *zap.Logger) error {
	if old, set := os.LookupEnv(tf32Env); set && old != tf32Off {
		log.Warn(
			"TF32 stays off: hrmd's fp32 is fp32, and its engines are checked as such; ignoring the environment's setting",
			zap.String("variable", tf32Env),
			zap.String("value", old),
		)
	}
	if err := os.Setenv(tf32Env, tf32Off); err != nil {
		return fmt.Errorf("turn off TF32 (%s=%s): %w", tf32Env, tf32Off, err)
	}
	return nil
}

// disableTelemetry sets the variables that turn onnxruntime's telemetry off in
// this process's environment, where the library's getenv reads them: with cgo
// linked, os.Setenv also sets the C environment. It runs before the library is
// loaded, when no onnxruntime thread can be reading the environment.
//
// hrmd sends nothing anywhere unasked, and a device on a customer's network
// must not depend on what its service manager or shell happens to export, so
// a value that asks for telemetry (ORT_DISABLE_TELEMETRY=0) is overridden,
// and the log says so.
func disableTelemetry(log *zap.Logger) error {
	for _, name := range []string{telemetryEnv, telemetryEnvNext} {
		old, set := os.LookupEnv(name)
		if quiet := slices.Contains([]string{"1", "true", "yes", "on", "y"}, strings.ToLower(strings.TrimSpace(old))); set &&
			!quiet {
			log.Warn("onnxruntime's telemetry stays off: hrmd sends nothing; ignoring the environment's setting",
				zap.String("event", "telemetry_off"), zap.String("variable", name), zap.String("value", old))
		}
		if err := os.Setenv(name, "1"); err != nil {
			return fmt.Errorf("turn off onnxruntime's telemetry (%s=1): %w", name, err)
		}
	}
	return nil
}

// LibrarySearch says where to look for libonnxruntime, in order.
type LibrarySearch struct {
	Configured string // onnxruntime.library: when set, the only place looked
	Env        string // $HRMD_ORT_LIB: when set (and nothing configured), the only place looked
	// Bundled are the folders of the CPU build hrmd ships or ./build.sh
	// deps fetched; System those of an onnxruntime installed on the
	// machine. Each folder's libonnxruntime.so.1, else libonnxruntime.so,
	// counts.
	Bundled []string
	System  []string
}

// tensorRTProviderLib is the TensorRT provider library that onnxruntime
// loads from its own folder (provider_bridge_ort.cc): a libonnxruntime with
// it beside is a TensorRT build.
const tensorRTProviderLib = "libonnxruntime_providers_tensorrt.so"

// LibraryChoice is the library a search picked, and why that one.
type LibraryChoice struct {
	Path string
	// Reason says why this library: "onnxruntime.library", "$HRMD_ORT_LIB",
	// "beside libonnxruntime_providers_tensorrt.so in /usr/local/lib", ...
	Reason string
	// Fallback is what the search picks without the TensorRT build it
	// preferred: the library to load when that one cannot be loaded. nil
	// for a path set explicitly, which is the only one tried.
	Fallback *LibraryChoice
	// PassedOver, once loaded, names the TensorRT build that was preferred
	// but could not be loaded, and why ("" when none was).
	PassedOver string
}

// DefaultLibrarySearch is the production search: the configured path, then
// $HRMD_ORT_LIB, then the library fetched by ./build.sh deps (next to the
// executable's folder, or the working folder) or installed with hrmd, then
// the system's folders.
func DefaultLibrarySearch(configured string) LibrarySearch {
	s := LibrarySearch{Configured: configured, Env: os.Getenv(LibraryEnv)}
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	var roots []string
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		s.Bundled = append(s.Bundled, dir, filepath.Join(dir, "..", "lib", "hrmd"))
		roots = append(roots, filepath.Join(dir, ".."))
	}
	if wd, err := os.Getwd(); err == nil {
		roots = append(roots, wd)
	}
	for _, root := range roots {
		s.Bundled = append(s.Bundled, cachedLibraryDirs(filepath.Join(root, ".cache", "onnxruntime"), arch)...)
	}
	s.Bundled = append(s.Bundled, "/usr/lib/hrmd")
	triple := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[runtime.GOARCH]
	// /usr/local/lib is where jetson-containers' onnxruntime-gpu tarball
	// lands (its tarpack script unpacks into /usr/local).
	s.System = []string{"/usr/local/lib", filepath.Join("/usr/lib", triple), "/usr/lib"}
	return s
}

// cachedLibraryDirs lists .cache/onnxruntime/<version>/linux-<arch>, newest version first.
func cachedLibraryDirs(cache, arch string) []string {
	entries, err := os.ReadDir(cache)
	if err != nil || arch == "" {
		return nil
	}
	var versions []string
	for _, e := range entries {
		if e.IsDir() {
			versions = append(versions, e.Name())
		}
	}
	slices.SortFunc(versions, func(a, b string) int { return compareVersions(b, a) })
	dirs := make([]string, len(versions))
	for i, v := range versions {
		dirs[i] = filepath.Join(cache, v, "linux-"+arch)
	}
	return dirs
}

// Find picks the library: an explicit path (onnxruntime.library, else
// $HRMD_ORT_LIB) wins over everything; then the first libonnxruntime with
// libonnxruntime_providers_tensorrt.so beside it, in any folder searched;
// then the first libonnxruntime at all, the bundled CPU build before the
// system's. It returns an ort_missing error listing every place looked when
// there is none.
//
// The TensorRT build wins on every machine, not only on a Jetson: nobody
// installs a GPU build of onnxruntime next to hrmd by accident, the
// same holds for a PC with an NVIDIA GPU and onnxruntime's linux-x64 GPU
// release in /usr/local/lib, and where its CUDA libraries are missing it
// still runs the CPU provider like the bundled build. (The engine cannot
// tell a Jetson anyway: that is the jetson package's.) One that cannot be
// loaded (too old, another machine's) gives way to Fallback.
func (s LibrarySearch) Find() (LibraryChoice, error) {
	fix := "run ./build.sh deps (it fetches onnxruntime into .cache/), or set onnxruntime.library in hrmd.yaml or " +
		"$" + LibraryEnv + " to the library's path"
	for _, explicit := range []struct{ path, what string }{
		{s.Configured, "onnxruntime.library"},
		{s.Env, "$" + LibraryEnv},
	} {
		if explicit.path == "" {
			continue
		}
		if _, err := os.Stat(explicit.path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return LibraryChoice{}, errorf(
					CodeORTMissing,
					"%s is %s, which does not exist; %s",
					explicit.what,
					explicit.path,
					fix,
				)
			}
			return LibraryChoice{}, &Error{
				Code:    CodeORTUnloadable,
				Message: fmt.Sprintf("%s is %s: %v", explicit.what, explicit.path, err),
				Err:     err,
			}
		}
		return LibraryChoice{Path: explicit.path, Reason: explicit.what}, nil
	}
	var looked []string // each folder once, in order
	for _, dir := range append(slices.Clip(s.Bundled), s.System...) {
		if !slices.Contains(looked, dir) {
			looked = append(looked, dir)
		}
	}
	plain := s.firstPlain(looked)
	for _, dir := range looked {
		if path := libraryIn(dir); path != "" && isFile(filepath.Join(dir, tensorRTProviderLib)) {
			choice := LibraryChoice{Path: path, Reason: "beside " + tensorRTProviderLib + " in " + dir}
			if plain != nil && plain.Path != path {
				choice.Fallback = plain
			}
			return choice, nil
		}
	}
	if plain == nil {
		return LibraryChoice{}, errorf(CodeORTMissing, "no libonnxruntime.so in %s; %s", strings.Join(looked, ", "), fix)
	}
	return *plain, nil
}

// firstPlain is the first libonnxruntime in the bundled folders, else in
// the system's, saying that none of looked holds a TensorRT build; nil when
// there is none.
func (s LibrarySearch) firstPlain(looked []string) *LibraryChoice {
	noTensorRT := "no " + tensorRTProviderLib + " beside a libonnxruntime in " + strings.Join(looked, ", ")
	for _, dir := range s.Bundled {
		if path := libraryIn(dir); path != "" {
			return &LibraryChoice{Path: path, Reason: "bundled CPU build (" + noTensorRT + ")"}
		}
	}
	for _, dir := range s.System {
		if path := libraryIn(dir); path != "" {
			return &LibraryChoice{Path: path, Reason: "the first found, in " + dir + " (" + noTensorRT + ")"}
		}
	}
	return nil
}

// libraryIn is dir's libonnxruntime.so.1, else its libonnxruntime.so, else "".
func libraryIn(dir string) string {
	for _, name := range []string{"libonnxruntime.so.1", "libonnxruntime.so"} {
		if path := filepath.Join(dir, name); isFile(path) {
			return path
		}
	}
	return ""
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// compareVersions orders dotted version strings numerically ("1.9" < "1.24").
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// checkVersion turns a library's version string into an ort_too_old error when
// it is older than MinORTVersion.
func checkVersion(path, version string) error {
	if compareVersions(version, MinORTVersion) < 0 {
		return errorf(
			CodeORTTooOld,
			"%s is onnxruntime %s; hrmd needs %s or newer (C API 24): run ./build.sh deps for 1.30.0, or point "+
				"onnxruntime.library at a newer build",
			path,
			version,
			MinORTVersion,
		)
	}
	return nil
}
