package engine

import (
	"fmt"
	"slices"
)

// Provider names as the config writes them.
const (
	ProviderTensorRT = "tensorrt"
	ProviderCUDA     = "cuda"
	ProviderCPU      = "cpu"
)

// KnownProviders returns the providers hrmd can configure, in the preferred order.
func KnownProviders() []string { return []string{ProviderTensorRT, ProviderCUDA, ProviderCPU} }

// ORTProviderName is ONNX Runtime's own name for a provider, as answers and
// logs report it ("TensorrtExecutionProvider").
func ORTProviderName(p string) string {
	switch p {
	case ProviderTensorRT:
		return "TensorrtExecutionProvider"
	case ProviderCUDA:
		return "CUDAExecutionProvider"
	case ProviderCPU:
		return "CPUExecutionProvider"
	}
	return p
}

// Config is what the engine needs from hrmd.yaml (`onnxruntime:` and `tensorrt:`).
type Config struct {
	Library   string   // path to libonnxruntime.so; "" = $HRMD_ORT_LIB, then the usual places
	Providers []string // tried in order; CPU is always the last resort
	Require   string   // a provider that must load, or loading fails
	Threads   int      // intra-op threads; 0 = ONNX Runtime's default, one per core
	TensorRT  TensorRTConfig
	// Device names the GPU and its software (jetson.Device.CacheKey): a
	// TensorRT engine built on one device is invalid on another.
	Device string
}

// TensorRT engine precisions (tensorrt.precision): the format an engine
// computes and stores tensors in. fp32 has TF32 off (NVIDIA_TF32_OVERRIDE=0).
const (
	PrecisionFP16 = "fp16"
	PrecisionBF16 = "bf16" // TensorRT 10 and later, on Ampere GPUs (Orin's included)
	PrecisionFP32 = "fp32"
)

// TensorRTConfig holds the TensorRT provider's settings for an engine cached on disk.
type TensorRTConfig struct {
	// Precision is the engine built first: fp16, bf16 or fp32. An fp16 or
	// bf16 engine that fails the check is replaced by an fp32 one
	// (FP16Check fallback).
	Precision                string
	EngineCache              string // folder; each model gets a subfolder keyed by what invalidates an engine
	WorkspaceMB              int
	BuilderOptimizationLevel int
	// FP16Check is what a TensorRT engine (of any precision) that fails the
	// bundle's check set leads to: fallback (build it again in fp32), refuse
	// (the load fails) or off (no check). The CUDA provider is held to the
	// check set too, unless it is off.
	FP16Check string
}

// tensorrt.fp16_check values.
const (
	CheckFallback = "fallback"
	CheckRefuse   = "refuse"
	CheckOff      = "off"
)

// DefaultConfig is the shipped configuration's engine part.
func DefaultConfig() Config {
	return Config{
		Providers: []string{ProviderTensorRT, ProviderCUDA, ProviderCPU},
		TensorRT: TensorRTConfig{
			Precision:                PrecisionFP16,
			EngineCache:              "/var/cache/hrmd/trt",
			WorkspaceMB:              1024,
			BuilderOptimizationLevel: 3,
			FP16Check:                CheckFallback,
		},
	}
}

// Validate checks the config; messages name the hrmd.yaml key.
func (c Config) Validate() error {
	if len(c.Providers) == 0 {
		return fmt.Errorf("onnxruntime.providers is empty; list at least cpu (known: %v)", KnownProviders())
	}
	for i, p := range c.Providers {
		if !slices.Contains(KnownProviders(), p) {
			return fmt.Errorf("onnxruntime.providers[%d] is %q; known providers are %v", i, p, KnownProviders())
		}
		if slices.Index(c.Providers, p) != i {
			return fmt.Errorf("onnxruntime.providers lists %q twice", p)
		}
	}
	if c.Require != "" && !slices.Contains(c.Providers, c.Require) {
		return fmt.Errorf("onnxruntime.require is %q but onnxruntime.providers %v does not list it", c.Require, c.Providers)
	}
	if c.Threads < 0 {
		return fmt.Errorf("onnxruntime.threads is %d; use 0 (one per core) or a positive count", c.Threads)
	}
	if c.TensorRT.WorkspaceMB <= 0 {
		return fmt.Errorf("tensorrt.workspace_mb is %d; it must be positive", c.TensorRT.WorkspaceMB)
	}
	if l := c.TensorRT.BuilderOptimizationLevel; l < 0 || l > 5 {
		return fmt.Errorf("tensorrt.builder_optimization_level is %d; TensorRT takes 0 to 5", l)
	}
	switch c.TensorRT.Precision {
	case PrecisionFP16, PrecisionBF16, PrecisionFP32:
	default:
		return fmt.Errorf(
			"tensorrt.precision is %q; use fp16 (the default), bf16 (TensorRT 10 and later) or fp32",
			c.TensorRT.Precision,
		)
	}
	switch c.TensorRT.FP16Check {
	case CheckFallback, CheckRefuse, CheckOff:
	default:
		return fmt.Errorf(
			"tensorrt.fp16_check is %q; use fallback (build again in fp32), refuse or off",
			c.TensorRT.FP16Check,
		)
	}
	if slices.Contains(c.Providers, ProviderTensorRT) && c.TensorRT.EngineCache == "" {
		return fmt.Errorf("tensorrt.engine_cache is empty; TensorRT needs a folder to keep its built engines in")
	}
	return nil
}
