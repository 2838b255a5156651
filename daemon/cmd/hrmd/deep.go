package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/jetson"
	"github.com/hrmd/hrmd/puzzles"
)

// checkDeep is `hrmd doctor --deep`: what the other checks infer, it
// does. It loads the model as the daemon does (the configured provider
// chain and batch: the same TensorRT engine, built if none is cached:
// minutes on a Jetson), runs one step on one row (batch 1), and says in one line each which provider took the model, how
// its engine came about and what the fp16 check found. A Jetson configured
// for its GPU that ends up on the CPU is a FAIL: the daemon would run
// degraded.
func (d *doctor) checkDeep(rt *engine.Runtime, b *engine.Bundle, device jetson.Device, progress io.Writer) {
	if rt == nil || b == nil {
		d.add(checkFail, "deep", "not run: it needs the library and the model (see above)", "")
		return
	}
	// The batch the daemon loads with: its TensorRT engine is keyed by it,
	// so this builds (or loads) the very engine hrmd run uses.
	opts := d.cfg.ModelOptions()
	opts.MemAvailable = jetson.NewFS(d.sysroot).MemAvailable
	opts.Progress = func(s engine.LoadStage) {
		if s.What != "" {
			fmt.Fprintf(progress, "hrmd doctor: %s (minutes on a Jetson the first time) ...\n", s)
		}
	}
	m, err := rt.LoadModel(b, opts)
	if err != nil {
		d.add(checkFail, "deep", fmt.Sprintf("no session with onnxruntime.providers %v: %s", d.cfg.ONNXRuntime.Providers, oneLine(answer.Message(err))),
			"docs/jetson.md, Degraded, says what each provider needs; onnxruntime.require refuses to fall back")
		return
	}
	defer m.Close()
	took, err := runOneStep(m)
	if err != nil {
		d.add(checkFail, "deep", fmt.Sprintf("the model loaded on %s but its step failed: %s", m.Provider(), oneLine(answer.Message(err))),
			"export the bundle again (engine/export/hrm_export.py)")
		return
	}
	d.deepProvider(rt, m, device, took)
	d.deepEngine(m.EngineCache())
	d.deepCheck(m.EngineCache())
}

// runOneStep runs one cycle on one encoded grid, as a warm-up does.
func runOneStep(m *engine.Model) (time.Duration, error) {
	b := m.Bundle()
	side := b.Manifest.Grid
	row := make([]int64, side*side)
	b.Encoding.Encode(puzzles.Grid{{0, 1}, {2, 3}}, side, row)
	started := time.Now()
	_, err := m.Run(context.Background(), [][]int64{row}, engine.RunOptions{Halting: engine.HaltFixed, MaxCycles: 1})
	return time.Since(started), err
}

// deepProvider says which provider took the model, and whether that is
// what the configuration asked for.
func (d *doctor) deepProvider(rt *engine.Runtime, m *engine.Model, device jetson.Device, took time.Duration) {
	providers := d.cfg.ONNXRuntime.Providers
	what := fmt.Sprintf("the model ran one step on %s (%s) in %s", m.Provider(), m.Precision(), took.Round(time.Millisecond))
	cpu := m.Provider() == engine.ORTProviderName(engine.ProviderCPU)
	deg := daemon.CheckDegraded(device, providers, m.Provider(), rt.Providers)
	switch {
	case deg != nil:
		d.add(checkFail, "deep", what+"; hrmd run would be degraded: "+deg.Reason,
			"install a TensorRT onnxruntime for this JetPack and set onnxruntime.library (docs/jetson.md, Degraded), or set onnxruntime.providers: [cpu] to mean it")
	case cpu && len(providers) > 0 && providers[0] != engine.ProviderCPU:
		d.add(checkWarn, "deep", what+fmt.Sprintf(": no GPU provider of onnxruntime.providers %v works here (not a Jetson, so not degraded)", providers),
			"for a GPU: an onnxruntime built with CUDA and TensorRT, and set onnxruntime.library (docs/models.md)")
	case cpu:
		d.add(checkOK, "deep", what+fmt.Sprintf(", as configured (onnxruntime.providers %v): no GPU in use", providers), "")
	default:
		d.add(checkOK, "deep", what, "")
	}
}

// deepEngine says where the TensorRT engine came from, and how long a
// build took.
func (d *doctor) deepEngine(c engine.EngineCacheUse) {
	switch {
	case c.Dir == "":
		d.add(checkInfo, "deep", "no TensorRT engine: TensorRT did not take the model", "")
	case c.Built:
		d.add(checkOK, "deep", fmt.Sprintf("TensorRT engine built in %s into %s; hrmd run loads it from there", c.BuildTook.Round(time.Second), c.Dir), "")
	case c.Found:
		d.add(checkOK, "deep", "TensorRT engine loaded from the cache "+c.Dir, "")
	default:
		d.add(checkInfo, "deep", "TensorRT engine in "+c.Dir+": neither found there nor reported built", "")
	}
}

// deepCheck says what the fp16 check found, if it ran.
func (d *doctor) deepCheck(c engine.EngineCacheUse) {
	if r := c.Rejected; r != nil {
		d.add(checkWarn, "deep", r.Summary()+"; that engine is not used",
			"tensorrt.fp16_check: fallback built an fp32 engine instead (below); tensorrt.precision: fp32 builds only that")
	}
	switch {
	case c.Check == nil:
		d.add(checkInfo, "deep", "fp16 check: not run (the model is not on TensorRT, the check is off, or the bundle has no check set)", "")
	case c.Check.Passed:
		d.add(checkOK, "deep", c.Check.Summary(), "")
	default:
		d.add(checkWarn, "deep", c.Check.Summary(), "tensorrt.precision: fp32 runs the model in fp32 (docs/models.md, The fp16 check)")
	}
}
