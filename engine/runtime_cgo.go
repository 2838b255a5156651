//go:build cgo

package engine

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
	"go.uber.org/zap"

	"github.com/hrmd/hrmd/engine/bundle"
)

// Runtime is the loaded onnxruntime library. ONNX Runtime allows one
// environment per process, so only one Runtime may be open at a time.
type Runtime struct {
	cfg     Config
	log     *zap.Logger
	lib     LibraryChoice
	version string
	// probe and open stand in for the library's provider check and session
	// creation when set: tests use them to play a TensorRT this machine
	// lacks, failing the way the real provider fails.
	probe func(provider string) error
	open  func(sessionSpec) (*ort.DynamicAdvancedSession, error)
	// readTensorRT stands in for reading the loaded TensorRT's version
	// (TensorRTVersion) when set: tests play any TensorRT with it.
	readTensorRT func() (string, error)
}

// Open finds, checks and loads the onnxruntime library.
func Open(cfg Config, log *zap.Logger) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, &Error{Code: CodeConfig, Message: err.Error(), Err: err}
	}
	if err := disableTelemetry(log); err != nil {
		return nil, &Error{Code: CodeORTUnloadable, Message: err.Error(), Err: err}
	}
	if err := disableTF32(log); err != nil {
		return nil, &Error{Code: CodeORTUnloadable, Message: err.Error(), Err: err}
	}
	lib, err := DefaultLibrarySearch(cfg.Library).Find()
	if err != nil {
		return nil, err
	}
	lib, version, err := loadLibrary(lib, log)
	if err != nil {
		return nil, err
	}
	ort.SetSharedLibraryPath(lib.Path)
	// onnxruntime would print provider failures on stderr itself; hrmd
	// reports them, once, through its own log.
	if err := ort.InitializeEnvironment(ort.WithLogLevelFatal()); err != nil {
		return nil, &Error{
			Code:    CodeORTUnloadable,
			Message: fmt.Sprintf("initialise onnxruntime %s from %s: %v", version, lib.Path, err),
			Err:     err,
		}
	}
	log.Info(
		"onnxruntime loaded",
		zap.String("library", lib.Path),
		zap.String("version", version),
		zap.String("chosen", lib.Reason),
	)
	return &Runtime{cfg: cfg, log: log, lib: lib, version: version}, nil
}

// loadLibrary probes the library the search chose. A TensorRT build that
// cannot be used (older than MinORTVersion: JetPack 6.0's 1.17, say) gives
// way to the library the search would have picked without it, with a
// warning, rather than stop an hrmd that ran on that library before.
func loadLibrary(lib LibraryChoice, log *zap.Logger) (LibraryChoice, string, error) {
	version, err := probeLibrary(lib.Path)
	if err == nil || lib.Fallback == nil {
		return lib, version, err
	}
	passedOver := fmt.Sprintf("%s (%s): %s", lib.Path, lib.Reason, err.Error())
	log.Warn("the TensorRT onnxruntime found cannot be used; loading another instead, without TensorRT",
		zap.String("passed_over", lib.Path), zap.String("reason", err.Error()), zap.String("library", lib.Fallback.Path))
	next := *lib.Fallback
	next.PassedOver = passedOver
	version, err = probeLibrary(next.Path)
	return next, version, err
}

// Reconfigure replaces the settings later LoadModel calls use (a reload of
// hrmd.yaml). A running process cannot switch to another library.
func (rt *Runtime) Reconfigure(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return &Error{Code: CodeConfig, Message: err.Error(), Err: err}
	}
	if cfg.Library != rt.cfg.Library {
		return errorf(
			CodeConfig,
			"onnxruntime.library changed from %q to %q; a running hrmd cannot load another library: restart it",
			rt.cfg.Library,
			cfg.Library,
		)
	}
	rt.cfg = cfg
	return nil
}

// Close unloads the environment. Models must be closed first.
func (rt *Runtime) Close() error {
	if err := ort.DestroyEnvironment(); err != nil {
		return fmt.Errorf("close onnxruntime: %w", err)
	}
	return nil
}

// Version is the library's version string ("1.30.0").
func (rt *Runtime) Version() string { return rt.version }

// LibraryPath is the library file in use.
func (rt *Runtime) LibraryPath() string { return rt.lib.Path }

// Library is the library in use and why the search chose it.
func (rt *Runtime) Library() LibraryChoice { return rt.lib }

// ProviderStatus says whether the library can use an execution provider.
type ProviderStatus struct {
	Name      string // tensorrt, cuda, cpu
	ORTName   string // TensorrtExecutionProvider, ...
	Available bool
	Reason    string // why not, in the library's words
}

// Providers probes every provider hrmd knows by appending it to a throwaway
// session configuration, which is what a model load does too. (The C API's
// GetAvailableProviders lists what the library was compiled with, even when
// the CUDA or TensorRT libraries it needs are missing.)
func (rt *Runtime) Providers() []ProviderStatus {
	var out []ProviderStatus
	for _, p := range KnownProviders() {
		st := ProviderStatus{Name: p, ORTName: ORTProviderName(p), Available: true}
		if err := rt.tryProvider(p); err != nil {
			st.Available, st.Reason = false, ortReason(err)
		}
		out = append(out, st)
	}
	return out
}

func (rt *Runtime) tryProvider(p string) error {
	if rt.probe != nil {
		return rt.probe(p)
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return err
	}
	defer so.Destroy()
	return rt.appendProvider(so, p, nil, "", rt.engineBuild("fp32", 1))
}

// appendProvider adds provider p to so. For TensorRT, profile lists each
// input's per-row shape (for a batch profile of 1 to build.MaxBatch) and
// cacheDir is the folder the engine is read from or built into.
func (rt *Runtime) appendProvider(
	so *ort.SessionOptions,
	p string,
	profile []tensorShape,
	cacheDir string,
	build engineBuild,
) error {
	switch p {
	case ProviderCPU:
		return nil
	case ProviderCUDA:
		opts, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return err
		}
		defer opts.Destroy()
		if err := opts.Update(cudaOptions()); err != nil {
			return err
		}
		return so.AppendExecutionProviderCUDA(opts)
	case ProviderTensorRT:
		opts, err := ort.NewTensorRTProviderOptions()
		if err != nil {
			return err
		}
		defer opts.Destroy()
		if err := opts.Update(rt.tensorRTOptions(build, profile, cacheDir)); err != nil {
			return err
		}
		return so.AppendExecutionProviderTensorRT(opts)
	}
	return fmt.Errorf("unknown provider %q", p)
}

// cudaOptions are the CUDA provider's settings. use_tf32 defaults to 1
// (cuda_provider_options.h): fp32 matrix products in TF32, 10-bit mantissas,
// on Ampere GPUs like Orin's, while answers would say fp32. Off, what runs
// is fp32, and the check the CUDA provider is held to judges that.
func cudaOptions() map[string]string {
	return map[string]string{"device_id": "0", "use_tf32": "0"}
}

// engineBuild is what a TensorRT engine of this precision and batch is
// built with under the current configuration.
func (rt *Runtime) engineBuild(precision string, maxBatch int) engineBuild {
	t := rt.cfg.TensorRT
	return engineBuild{
		Precision: precision, WorkspaceMB: t.WorkspaceMB, OptimizationLevel: t.BuilderOptimizationLevel,
		MaxBatch: maxBatch, TimingCache: true, LayerNormFP32: true, TF32Override: tf32Off,
	}
}

// tensorRTOptions are the TensorRT provider's settings for an engine built
// once and cached on disk (see onnxruntime's TensorRT provider docs). Every
// setting that shapes the engine comes from build, which names its folder.
func (rt *Runtime) tensorRTOptions(build engineBuild, profile []tensorShape, cacheDir string) map[string]string {
	o := map[string]string{
		"device_id":               "0",
		"trt_fp16_enable":         boolOption(build.Precision == PrecisionFP16),
		"trt_engine_cache_enable": "1",
		"trt_timing_cache_enable": boolOption(build.TimingCache),
		// Always explicit: recent onnxruntime passes no limit of its own, and
		// a build may then take what a small board needs for itself.
		"trt_max_workspace_size":         strconv.FormatInt(int64(build.WorkspaceMB)<<20, 10),
		"trt_builder_optimization_level": strconv.Itoa(build.OptimizationLevel),
		// Keeps an elementwise Pow followed by a Reduce in fp32 (onnxruntime's
		// TensorRT provider looks for exactly that pair of layers): the mean
		// of squares of an RMS norm exported from primitive ops, as in
		// act-v1, which overflows in fp16. It does not touch the
		// LayerNormalization nodes of an opset-17 export (nova's), which
		// TensorRT 8.6 and later computes in fp32 by itself.
		"trt_layer_norm_fp32_fallback": boolOption(build.LayerNormFP32),
	}
	if build.Precision == PrecisionBF16 {
		// onnxruntime 1.23 and later with TensorRT 10 (kBF16); an older
		// provider refuses the key ("Unknown provider option"), which fails
		// this provider and falls back, naming it.
		o["trt_bf16_enable"] = "1"
	}
	if cacheDir != "" {
		o["trt_engine_cache_path"] = cacheDir
		o["trt_timing_cache_path"] = filepath.Join(filepath.Dir(cacheDir), timingCacheDir)
	}
	if len(profile) > 0 {
		// One engine serves every batch size from 1 to maxBatch.
		o["trt_profile_min_shapes"] = profileShapes(profile, 1)
		o["trt_profile_opt_shapes"] = profileShapes(profile, build.MaxBatch)
		o["trt_profile_max_shapes"] = profileShapes(profile, build.MaxBatch)
	}
	return o
}

func profileShapes(profile []tensorShape, batch int) string {
	parts := make([]string, len(profile))
	for i, t := range profile {
		dims := []string{strconv.Itoa(batch)}
		for _, d := range t.row {
			dims = append(dims, strconv.FormatInt(d, 10))
		}
		parts[i] = t.name + ":" + strings.Join(dims, "x")
	}
	return strings.Join(parts, ",")
}

func boolOption(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// EngineCacheDir is the TensorRT engine folder for b on this library,
// TensorRT and device, at this precision and batch (see EngineCacheKey).
// The TensorRT is the one loaded (TensorRTVersion): call it after Providers.
func (rt *Runtime) EngineCacheDir(b *bundle.Bundle, precision string, maxBatch int) string {
	return rt.slot(b, rt.engineBuild(precision, maxBatch)).final()
}

func (rt *Runtime) slot(b *bundle.Bundle, build engineBuild) cacheSlot {
	trt, _ := rt.TensorRTVersion() // unknown: the name goes without it
	return rt.slotOn(b, build, trt)
}

// slotOn is build's cache slot on the TensorRT of version trt.
func (rt *Runtime) slotOn(b *bundle.Bundle, build engineBuild, trt string) cacheSlot {
	return cacheSlot{
		root: rt.cfg.TensorRT.EngineCache, key: EngineCacheKey(b, rt.version, trt, rt.cfg.Device, build),
		tensorRT: trt, legacy: legacyEngineCacheKeys(b, rt.version, trt, rt.cfg.Device, build),
	}
}

// providerChain returns the configured providers the library can use, in
// order, logging one line for each that it cannot; a required one that is
// missing is an error.
func (rt *Runtime) providerChain() ([]string, error) {
	var chain []string
	for _, p := range rt.cfg.Providers {
		if err := rt.tryProvider(p); err != nil {
			if p == rt.cfg.Require {
				return nil, &Error{Code: CodeProviderUnavailable, Err: err, Message: fmt.Sprintf(
					"onnxruntime.require is %s, but onnxruntime %s (%s) cannot use it: %v; install an onnxruntime built with %s and "+
						"its libraries, or remove require",
					p,
					rt.version,
					rt.lib.Path,
					ortReason(err),
					ORTProviderName(p),
				)}
			}
			rt.log.Info(
				"execution provider unavailable, falling back",
				zap.String("event", "provider_fallback"),
				zap.String("provider", p),
				zap.String("reason", ortReason(err)),
			)
			continue
		}
		chain = append(chain, p)
	}
	if !slices.Contains(chain, ProviderCPU) {
		chain = append(chain, ProviderCPU) // ONNX Runtime always keeps CPU as the last resort
	}
	return chain, nil
}

// CheckBundle reads the bundle's graphs and checks their inputs and outputs
// against the manifest, without creating sessions (no engine build).
func (rt *Runtime) CheckBundle(b *bundle.Bundle) error {
	_, err := inspectBundle(b)
	return err
}
