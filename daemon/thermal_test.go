package daemon

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/jetson"
)

// The guard pauses at pause_c, stays paused down to resume_c, resumes at
// resume_c and stays open up to pause_c (hysteresis); only watched zones
// count, and a reading with no watched zone in it opens: unknown is not hot.
func TestThermalGuardHysteresis(t *testing.T) {
	m := newMetrics()
	g := newThermalGuard(
		jetson.NewFS(t.TempDir()),
		config.Thermal{PauseC: 90, ResumeC: 80, Zones: []string{"cpu"}, Poll: config.Duration(time.Second)},
		true,
		zap.NewNop(),
		m,
	)
	if !g.isOpen() {
		t.Fatal("closed with no zone to read")
	}
	zones := func(cpu float64) []jetson.Thermal {
		return []jetson.Thermal{
			{Zone: "thermal_zone0", Type: "cpu-thermal", Celsius: cpu},
			{Zone: "thermal_zone1", Type: "gpu-thermal", Celsius: 99},
		}
	}
	for i, step := range []struct {
		readings []jetson.Thermal
		err      error
		open     bool
	}{
		{zones(70), nil, true}, // the gpu's 99 °C is not watched
		{zones(90), nil, false},
		{zones(85), nil, false},
		{zones(80), nil, true},
		{zones(85), nil, true},
		{zones(95), nil, false},
		{nil, errors.New("thermal_zone0: permission denied"), true},
	} {
		g.apply(step.readings, step.err)
		if g.isOpen() != step.open {
			t.Fatalf("step %d (%v): open %v, want %v", i, step.readings, g.isOpen(), step.open)
		}
		if paused := testutil.ToFloat64(m.thermalPaused); paused != map[bool]float64{true: 0, false: 1}[step.open] {
			t.Errorf("step %d: hrmd_thermal_paused %g", i, paused)
		}
	}
	if n := testutil.ToFloat64(m.thermalPauses); n != 2 {
		t.Errorf("hrmd_thermal_pauses_total %g, want 2", n)
	}
	if c := testutil.ToFloat64(m.temperature.WithLabelValues("thermal_zone0", "cpu-thermal")); c != 95 {
		t.Errorf("cpu-thermal in /metrics: %g, want the last reading 95", c)
	}
}
