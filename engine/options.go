package engine

import (
	"fmt"
	"time"
)

// ModelOptions size a loaded model and let the caller follow a long load.
type ModelOptions struct {
	// MaxBatch is the rows run together on TensorRT or CUDA; larger runs
	// are split (0 = 1). A TensorRT engine is built for batches 1..MaxBatch.
	MaxBatch int
	// CPUMaxBatch is the rows run together when the model ends up on the
	// CPU provider (0 = MaxBatch): batching does not pay on a CPU.
	CPUMaxBatch int
	// Progress, when set, hears each stage of a load that can take minutes
	// (a TensorRT engine build, the fp16 check), and a zero LoadStage when
	// the load is over. It is called on the loading goroutine.
	Progress func(LoadStage)
	// MemAvailable, when set, is asked before a TensorRT engine build how
	// many bytes the system can still give (MemAvailable in
	// /proc/meminfo); a build that needs more is refused (CodeLowMemory)
	// rather than let a small board run out of memory.
	MemAvailable func() (int64, error)
	// StampDir keeps the stamps that say a bundle's puzzle table was
	// checked against its sha256 (gigabytes: checked once, not at every
	// start). "" checks at every load.
	StampDir string
	// NoCPUFallback makes a session that TensorRT heads fail when nodes
	// would be left to the CPU (session.disable_cpu_ep_fallback=1), so
	// that a graph TensorRT did not take whole is an error rather than a
	// silent CPU placement (hrmd doctor --deep). It leaves CUDA and CPU
	// sessions as they are: onnxruntime's CUDA provider hands shape
	// computations to the CPU on purpose (GetCpuPreferredNodes in
	// cuda_execution_provider.cc), so that a CUDA session the daemon runs
	// fine would fail, and a CPU-only session with it set fails outright.
	NoCPUFallback bool
	// ProfileDir, when set, has onnxruntime profile the model's sessions
	// into a folder of their own below it, for Model.Placements: which
	// provider ran each node.
	ProfileDir string
	// OnFallback, when set, hears each provider that failed to take the
	// model, with why, before the next one in the chain is tried.
	OnFallback func(provider string, err error)
}

// LoadStage is a step of a model load that takes long enough to report.
type LoadStage struct {
	What  string    // "building TensorRT engine", "checking fp16 against fp32"; "" = the load is over
	Graph string    // the bundle's file the stage works on ("step.onnx"), if one
	Since time.Time // when the stage started
}

// String reads "building TensorRT engine for step.onnx".
func (s LoadStage) String() string {
	if s.Graph == "" {
		return s.What
	}
	return fmt.Sprintf("%s for %s", s.What, s.Graph)
}

// EngineCacheUse says which TensorRT engine folder a model uses, whether it
// held a built engine when the model was loaded (else TensorRT builds one,
// which takes minutes on a Jetson), and what checking that engine found.
type EngineCacheUse struct {
	Dir       string // "" when TensorRT is not the provider (Check may still be the CUDA provider's)
	Found     bool
	Built     bool          // an engine was built during this load
	BuildTook time.Duration // how long the build took, when Built
	// Check is the check's verdict on what runs the model: the TensorRT
	// engine (from this load or stored beside the engine by the load that
	// built it) or the CUDA provider (from this load); nil when there was
	// nothing to check (tensorrt.fp16_check off, no check set, the CPU).
	Check *PrecisionCheck
	// Rejected is the check an fp16 or bf16 engine failed before this fp32
	// one replaced it (tensorrt.fp16_check: fallback); nil when none did.
	Rejected *PrecisionCheck
}

// RejectedStored says the Rejected verdict was read from that engine's
// record (it failed when it was built, at an earlier start) rather than
// made by this load.
func (c EngineCacheUse) RejectedStored() bool { return c.Rejected != nil && c.Rejected.stored }
