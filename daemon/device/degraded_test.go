package device

import (
	"testing"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/jetson"
)

// Degraded is a Jetson configured for its GPU whose model runs on the
// CPU, or on CUDA where TensorRT came first; nothing else is.
func TestCheckDegraded(t *testing.T) {
	orin, pc := jetson.Device{Jetson: true}, jetson.Device{}
	cpu, trt, cuda := engine.ORTProviderName(engine.ProviderCPU), engine.ORTProviderName(engine.ProviderTensorRT), engine.ORTProviderName(engine.ProviderCUDA)
	missing := func() []engine.ProviderStatus {
		return []engine.ProviderStatus{
			{Name: "tensorrt", Reason: "Failed to load library\nlibonnxruntime_providers_tensorrt.so"},
			{Name: "cuda", Reason: "Failed to load library libonnxruntime_providers_cuda.so"},
			{Name: "cpu", Available: true},
		}
	}
	failing := func() []engine.ProviderStatus {
		return []engine.ProviderStatus{{Name: "tensorrt", Available: true}, {Name: "cuda", Available: true}, {Name: "cpu", Available: true}}
	}
	for _, tt := range []struct {
		name      string
		dev       jetson.Device
		providers []string
		running   string
		probe     func() []engine.ProviderStatus
		code      string // "" = not degraded
		reason    string
	}{
		{"orin, default chain, GPU providers missing", orin, []string{"tensorrt", "cuda", "cpu"}, cpu, missing, DegradedGPUUnavailable,
			"running on the CPU although onnxruntime.providers starts with tensorrt: TensorrtExecutionProvider unavailable: Failed to load library libonnxruntime_providers_tensorrt.so; " +
				"CUDAExecutionProvider unavailable: Failed to load library libonnxruntime_providers_cuda.so"},
		{"orin, cuda first, failing on the model", orin, []string{"cuda", "cpu"}, cpu, failing, DegradedGPUFailed,
			"running on the CPU although onnxruntime.providers starts with cuda: CUDAExecutionProvider loads but failed to take the model (the log line before says why)"},
		{"orin on TensorRT", orin, []string{"tensorrt", "cuda", "cpu"}, trt, missing, "", ""},
		{"orin on CUDA, TensorRT failing on the model", orin, []string{"tensorrt", "cuda", "cpu"}, cuda, failing, DegradedTensorRTFailed,
			"running on CUDA although onnxruntime.providers starts with tensorrt: TensorrtExecutionProvider loads but failed to take the model (the log line before says why)"},
		{"orin on CUDA, TensorRT missing", orin, []string{"tensorrt", "cuda", "cpu"}, cuda, missing, DegradedTensorRTUnavailable,
			"running on CUDA although onnxruntime.providers starts with tensorrt: TensorrtExecutionProvider unavailable: Failed to load library libonnxruntime_providers_tensorrt.so"},
		{"orin configured for CUDA", orin, []string{"cuda", "cpu"}, cuda, missing, "", ""},
		{"a PC on CUDA", pc, []string{"tensorrt", "cuda", "cpu"}, cuda, failing, "", ""},
		{"orin configured for the CPU", orin, []string{"cpu"}, cpu, missing, "", ""},
		{"orin, cpu first", orin, []string{"cpu", "tensorrt"}, cpu, missing, "", ""},
		{"a PC without a GPU", pc, []string{"tensorrt", "cuda", "cpu"}, cpu, missing, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckDegraded(tt.dev, tt.providers, tt.running, tt.probe)
			switch {
			case tt.code == "" && got != nil:
				t.Errorf("degraded: %+v", *got)
			case tt.code != "" && got == nil:
				t.Error("not degraded")
			case got != nil && (got.Code != tt.code || got.Reason != tt.reason):
				t.Errorf("got %s %q\nwant %s %q", got.Code, got.Reason, tt.code, tt.reason)
			}
		})
	}
}
