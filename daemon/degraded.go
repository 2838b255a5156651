package daemon

import (
	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/device"
	"github.com/hrmd/hrmd/engine"
)

// checkDegraded logs, as an error, why the model m just loaded with cfg runs
// on the CPU of a Jetson configured for its GPU, and returns it; nil when
// it does not.
func (d *daemon) checkDegraded(cfg config.Config, m *engine.Model) *device.Degradation {
	deg := device.CheckDegraded(d.device, cfg.ONNXRuntime.Providers, m.Provider(), d.rt.Providers)
	if deg != nil {
		d.log.Error(
			"degraded: the model runs on a slower provider than onnxruntime.providers asks for",
			zap.String("event", "degraded"),
			zap.String("reason", deg.Reason),
			zap.String(
				"code",
				deg.Code,
			),
			zap.String("fix", "docs/jetson.md, Degraded: a TensorRT onnxruntime for this JetPack, and hrmd doctor --deep"),
		)
	}
	return deg
}

// setDegraded makes deg (nil: not degraded) what /readyz, STATUS= and
// hrmd_degraded say: the model it belongs to is the one in use now.
func (d *daemon) setDegraded(deg *device.Degradation) {
	d.degraded.Store(deg)
	d.metrics.degraded.Reset()
	if deg == nil {
		d.metrics.degraded.WithLabelValues("none").Set(0)
		return
	}
	d.metrics.degraded.WithLabelValues(deg.Code).Set(1)
}
