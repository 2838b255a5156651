// Package device is the machine hrmd runs on, as the service and the
// commands see it alike: what it is (probed below a sysroot, package
// jetson), and whether the model runs on a slower execution provider than
// the configuration asks for there (degraded).
package device

import (
	"runtime"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/jetson"
)

// Probe is the device below sysroot ("/" but in tests and containers);
// its String is every answer's runtime.device and its CacheKey keys the
// TensorRT engine cache. A probe that fails is logged, not fatal: hrmd runs
// anywhere, it only describes the device less.
func Probe(sysroot string, log *zap.Logger) jetson.Device {
	d, err := At(sysroot)
	if err != nil {
		log.Warn("cannot identify the device", zap.String("sysroot", sysroot), zap.Error(err))
	}
	return d
}

// At probes the device below sysroot; what it could not read is in
// the error, and what it could is in the Device, named at least by its
// platform.
func At(sysroot string) (jetson.Device, error) {
	d, err := jetson.NewFS(sysroot).Probe()
	if d.Model == "" {
		d.Model = runtime.GOOS + "/" + runtime.GOARCH
	}
	return d, err
}
