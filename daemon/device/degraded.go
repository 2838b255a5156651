package device

import (
	"fmt"
	"strings"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/jetson"
)

// The reasons hrmd_degraded gives: short and fixed, for alerts to match;
// the words are in the log, /readyz and STATUS=.
const (
	DegradedGPUUnavailable      = "gpu_provider_unavailable"      // the library cannot load the GPU providers
	DegradedGPUFailed           = "gpu_provider_failed"           // it loads them, and they failed to take the model
	DegradedTensorRTUnavailable = "tensorrt_provider_unavailable" // CUDA runs the model: the library cannot load TensorRT
	DegradedTensorRTFailed      = "tensorrt_provider_failed"      // CUDA runs the model: TensorRT failed to take it
)

// Degradation says why a Jetson configured for its GPU runs the model on a
// slower provider than it asked for: the CPU, tens of times slower, or CUDA
// where TensorRT was asked for (no engine: several times slower, fp32).
// Nothing else would show it, as every answer still comes.
type Degradation struct {
	Code   string // one of the Degraded* codes
	Reason string // in words, with the library's own reasons
}

// CheckDegraded returns why hrmd is degraded, or nil: on a Jetson whose
// onnxruntime.providers starts with tensorrt or cuda, the model running on
// provider (engine.Model.Provider) is the CPU's; or, when it starts with
// tensorrt, CUDA's. Anywhere else (a PC, a chain that starts with cpu) the
// provider running is what was asked for or all there is. probe is
// engine.Runtime.Providers, only called when degraded.
func CheckDegraded(
	dev jetson.Device,
	providers []string,
	provider string,
	probe func() []engine.ProviderStatus,
) *Degradation {
	if !dev.Jetson || len(providers) == 0 {
		return nil
	}
	first := providers[0]
	var on, unavailable, failed string
	switch {
	case provider == engine.ORTProviderName(engine.ProviderCPU) &&
		(first == engine.ProviderTensorRT || first == engine.ProviderCUDA):
		on, unavailable, failed = "the CPU", DegradedGPUUnavailable, DegradedGPUFailed
	case provider == engine.ORTProviderName(engine.ProviderCUDA) && first == engine.ProviderTensorRT:
		on, unavailable, failed = "CUDA", DegradedTensorRTUnavailable, DegradedTensorRTFailed
	default:
		return nil
	}
	status := map[string]engine.ProviderStatus{}
	for _, s := range probe() {
		status[s.Name] = s
	}
	// The code follows the provider wanted first; the words name each
	// passed over, up to the one running.
	code := failed
	if !status[first].Available {
		code = unavailable
	}
	var why []string
	for _, p := range providers {
		if engine.ORTProviderName(p) == provider {
			break
		}
		s := status[p]
		if s.Available {
			why = append(why, engine.ORTProviderName(p)+" loads but failed to take the model (the log line before says why)")
			continue
		}
		why = append(why, fmt.Sprintf("%s unavailable: %s", engine.ORTProviderName(p), oneLineReason(s.Reason)))
	}
	return &Degradation{Code: code, Reason: fmt.Sprintf("running on %s although onnxruntime.providers starts with %s: %s",
		on, first, strings.Join(why, "; "))}
}

// oneLineReason keeps a library's multi-line message on one line (a STATUS=
// line and a /readyz body are read as one).
func oneLineReason(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
