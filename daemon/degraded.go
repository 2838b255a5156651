package daemon

import (
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/jetson"
)

// The reasons hrmd_degraded gives: short and fixed, for alerts to match;
// the words are in the log, /readyz and STATUS=.
const (
	DegradedGPUUnavailable = "gpu_provider_unavailable" // the library cannot load the GPU providers
	DegradedGPUFailed      = "gpu_provider_failed"      // it loads them, and they failed to take the model
)

// Degradation says why a Jetson configured for its GPU runs the model on
// the CPU: tens of times slower, which nothing else would show, as every
// answer still comes.
type Degradation struct {
	Code   string // DegradedGPUUnavailable or DegradedGPUFailed
	Reason string // in words, with the library's own reasons
}

// CheckDegraded returns why hrmd is degraded, or nil: on a Jetson whose
// onnxruntime.providers starts with tensorrt or cuda, the model running on
// provider (engine.Model.Provider) is the CPU's. Anywhere else (a PC, a
// chain that starts with cpu) the CPU is what was asked for or all there
// is. probe is engine.Runtime.Providers, only called when degraded.
func CheckDegraded(dev jetson.Device, providers []string, provider string, probe func() []engine.ProviderStatus) *Degradation {
	if !dev.Jetson || len(providers) == 0 || provider != engine.ORTProviderName(engine.ProviderCPU) {
		return nil
	}
	if providers[0] != engine.ProviderTensorRT && providers[0] != engine.ProviderCUDA {
		return nil
	}
	status := map[string]engine.ProviderStatus{}
	for _, s := range probe() {
		status[s.Name] = s
	}
	// The code follows the provider wanted first; the words name each.
	code := DegradedGPUFailed
	if !status[providers[0]].Available {
		code = DegradedGPUUnavailable
	}
	var why []string
	for _, p := range providers {
		if p == engine.ProviderCPU {
			break
		}
		s := status[p]
		if s.Available {
			why = append(why, engine.ORTProviderName(p)+" loads but failed to take the model (the log line before says why)")
			continue
		}
		why = append(why, fmt.Sprintf("%s unavailable: %s", engine.ORTProviderName(p), oneLineReason(s.Reason)))
	}
	return &Degradation{Code: code, Reason: fmt.Sprintf("running on the CPU although onnxruntime.providers starts with %s: %s",
		providers[0], strings.Join(why, "; "))}
}

// oneLineReason keeps a library's multi-line message on one line (a STATUS=
// line and a /readyz body are read as one).
func oneLineReason(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// checkDegraded logs, as an error, why the model m just loaded with cfg runs
// on the CPU of a Jetson configured for its GPU, and returns it; nil when
// it does not.
func (d *daemon) checkDegraded(cfg Config, m *engine.Model) *Degradation {
	deg := CheckDegraded(d.device, cfg.ONNXRuntime.Providers, m.Provider(), d.rt.Providers)
	if deg != nil {
		d.log.Error("degraded: the model runs on the CPU, tens of times slower than on the GPU", zap.String("reason", deg.Reason),
			zap.String("code", deg.Code), zap.String("fix", "docs/jetson.md, Degraded: a TensorRT onnxruntime for this JetPack, and hrmd doctor --deep"))
	}
	return deg
}

// setDegraded makes deg (nil: not degraded) what /readyz, STATUS= and
// hrmd_degraded say: the model it belongs to is the one in use now.
func (d *daemon) setDegraded(deg *Degradation) {
	d.degraded.Store(deg)
	d.metrics.degraded.Reset()
	if deg == nil {
		d.metrics.degraded.WithLabelValues("none").Set(0)
		return
	}
	d.metrics.degraded.WithLabelValues(deg.Code).Set(1)
}
