package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/jetson"
)

// thermalGuard reads the device's temperatures for /metrics and holds the
// intake while the hottest watched zone is too hot: a Jetson that keeps
// running a model at its limit throttles its clocks, then shuts down. Files
// wait in the inbox meanwhile; nothing is lost.
type thermalGuard struct {
	fs      jetson.FS
	cfg     config.Thermal
	jetson  bool // the device is a Jetson: zones that match nothing are worth a warning
	log     *zap.Logger
	metrics *metrics

	mu       sync.Mutex
	open     gate      // open while files may be taken
	pausedAt time.Time // zero while open
	// Owned by the run goroutine.
	warned       bool // a read failure was logged (once until it recovers)
	gpuLoadShown bool
}

// newThermalGuard reads the temperatures once, so that a device that is hot
// at start takes no file before the first poll.
func newThermalGuard(fs jetson.FS, cfg config.Thermal, isJetson bool, log *zap.Logger, m *metrics) *thermalGuard {
	g := &thermalGuard{fs: fs, cfg: cfg, jetson: isJetson, log: log, metrics: m, open: newGate(true)}
	zones, err := fs.Thermals()
	g.describe(zones)
	g.apply(zones, err)
	return g
}

// opened is closed while work may go on. The intake waits on it before it
// claims a file and the worker before it starts a batch; it is replaced by
// a new one at every pause.
func (g *thermalGuard) opened() <-chan struct{} { return g.open.opened() }

// isOpen reports whether files may be taken now.
func (g *thermalGuard) isOpen() bool { return isClosed(g.opened()) }

// watched says whether the zone type is one thermal.zones names (a prefix,
// in any case); an empty list watches every zone.
func (g *thermalGuard) watched(zoneType string) bool {
	if len(g.cfg.Zones) == 0 {
		return true
	}
	t := strings.ToLower(zoneType)
	return slices.ContainsFunc(g.cfg.Zones, func(z string) bool { return strings.HasPrefix(t, strings.ToLower(z)) })
}

// run polls the temperatures until ctx ends.
func (g *thermalGuard) run(ctx context.Context) {
	t := time.NewTicker(time.Duration(g.cfg.Poll))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.poll()
		}
	}
}

// describe logs once what the guard watches, so a board whose zones have
// other names does not go unguarded without a word.
func (g *thermalGuard) describe(zones []jetson.Thermal) {
	var all, watched []string
	for _, z := range zones {
		all = append(all, z.Type)
		if g.watched(z.Type) {
			watched = append(watched, z.Type)
		}
	}
	switch {
	case g.cfg.PauseC == 0:
		g.log.Info("thermal back-pressure off (thermal.pause_c is 0)", zap.Strings("zones", all))
	case len(all) == 0:
		g.log.Info("thermal back-pressure off: no thermal zone could be read on this device")
	case len(watched) == 0 && !g.jetson:
		// An ordinary PC's zones (acpitz, x86_pkg_temp) are not what the
		// defaults name; that is expected, not a problem.
		g.log.Info("thermal back-pressure off: none of this device's zones matches thermal.zones",
			zap.Strings("zones", all), zap.Strings("thermal.zones", g.cfg.Zones))
	case len(watched) == 0:
		g.log.Warn("thermal back-pressure has no zone to watch: none of this Jetson's zones matches thermal.zones",
			zap.Strings("zones", all), zap.Strings("thermal.zones", g.cfg.Zones))
	default:
		g.log.Info("thermal back-pressure", zap.Strings("watching", watched), zap.Float64("pause_c", g.cfg.PauseC),
			zap.Float64("resume_c", g.cfg.ResumeC))
	}
}

func (g *thermalGuard) poll() { g.apply(g.fs.Thermals()) }

// apply takes one reading of the zones: the metrics, and a pause or a
// resume when the hottest watched zone crosses a threshold.
func (g *thermalGuard) apply(zones []jetson.Thermal, err error) {
	if err != nil {
		// The zones that could be read still count; the others are logged once.
		if !g.warned {
			g.log.Warn("cannot read some temperatures", zap.Int("zones_read", len(zones)), zap.Error(err))
			g.warned = true
		}
	} else {
		g.warned = false
	}
	hottest, hotZone, seen := 0.0, "", false
	for _, z := range zones {
		g.metrics.temperature.WithLabelValues(z.Zone, z.Type).Set(z.Celsius)
		if g.watched(z.Type) && (!seen || z.Celsius > hottest) {
			hottest, hotZone, seen = z.Celsius, z.Type, true
		}
	}
	if load, ok, err := g.fs.GPULoad(); err == nil && ok {
		// Registered on the first reading, so hosts without one do not
		// export a GPU load of 0.
		if !g.gpuLoadShown {
			g.metrics.registry.MustRegister(g.metrics.gpuLoad)
			g.gpuLoadShown = true
		}
		g.metrics.gpuLoad.Set(load)
	}
	if g.cfg.PauseC == 0 {
		return
	}
	if !seen {
		// Unknown is not hot: a guard that cannot see must not hold files forever.
		g.setOpen(true, "", 0, "no watched zone could be read")
		return
	}
	switch {
	case hottest >= g.cfg.PauseC:
		g.setOpen(false, hotZone, hottest, "")
	case hottest <= g.cfg.ResumeC:
		g.setOpen(true, hotZone, hottest, "")
	}
}

// setOpen changes the state with a log line and the counters; between
// resume_c and pause_c it stays as it is (hysteresis).
func (g *thermalGuard) setOpen(open bool, zone string, celsius float64, why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	paused := !g.pausedAt.IsZero()
	switch {
	case !open && !paused:
		g.open.set(false)
		g.pausedAt = time.Now()
		g.metrics.thermalPaused.Set(1)
		g.metrics.thermalPauses.Inc()
		g.log.Warn("too hot: taking no new files until it cools down; they wait in the inbox",
			zap.String("event", "too_hot"),
			zap.String("zone", zone), zap.String("celsius", fmt.Sprintf("%.1f", celsius)),
			zap.Float64("pause_c", g.cfg.PauseC), zap.Float64("resume_c", g.cfg.ResumeC))
	case open && paused:
		g.open.set(true)
		fields := []zap.Field{zap.Duration("paused_for", time.Since(g.pausedAt).Round(time.Second))}
		if why != "" {
			fields = append(fields, zap.String("reason", why))
		} else {
			fields = append(fields, zap.String("zone", zone), zap.String("celsius", fmt.Sprintf("%.1f", celsius)))
		}
		g.pausedAt = time.Time{}
		g.metrics.thermalPaused.Set(0)
		g.log.Info("cooled down: taking files again", append(fields, zap.String("event", "cooled"))...)
	}
}
