package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/engine/bundle"
)

// gatewayModel says why a gateway needs no model.
func (d *doctor) gatewayModel() {
	// A gateway loads no model and opens no onnxruntime (docs/fleet.md).
	d.add(checkInfo, "queue.role is gateway: no model and no onnxruntime needed here; the workers run the model", "")
}

// checkModel loads the bundle and, with a library, reads its graphs.
func (d *doctor) checkModel() {
	rt := d.rt
	b, err := bundle.Load(d.cfg.Model)
	if err != nil {
		d.add(
			checkFail,
			fmt.Sprintf("model %s: %s", d.cfg.Model, oneLine(answer.Message(err))),
			"point "+d.setting("model")+" at a readable bundle folder (hrm.yaml, init.onnx, step.onnx): "+
				"engine/export/hrm_export.py makes one, engine/models/demo is one",
		)
		return
	}
	if rt != nil {
		if err := rt.CheckBundle(b); err != nil {
			d.add(
				checkFail,
				fmt.Sprintf("model %s: %s", d.cfg.Model, oneLine(answer.Message(err))),
				"export the bundle again (engine/export/hrm_export.py)",
			)
			return
		}
	}
	d.add(checkOK, fmt.Sprintf("%s (%s, %dx%d grid, sha256 %s) at %s", b.Manifest.Name, b.Manifest.Family,
		b.Manifest.Grid, b.Manifest.Grid, b.SHA256[:12], d.cfg.Model), "")
	d.bundle = b
}

// checkPuzzleTable reports an act-v1 bundle's puzzle table and whether its
// sha256 is known good: a load checks it once and remembers (a stamp in
// the engine cache folder); --verify reads it through anyway.
func (d *doctor) checkPuzzleTable() {
	b := d.bundle
	if b == nil || b.Manifest.PuzzleEmbeddings == nil {
		d.skip("no model with a puzzle table (act-v1)")
		return
	}
	p := b.Manifest.PuzzleEmbeddings
	what := fmt.Sprintf(
		"%s: %d puzzle rows of %d values (%s, memory-mapped)",
		b.Path(p.File),
		b.Puzzles.Len(),
		b.Puzzles.Width(),
		humanBytes(uint64(p.Shape[0]*p.Shape[1]*4)),
	)
	read, err := bundle.VerifyPuzzleTable(b, bundle.StampDir(d.cfg.TensorRT.EngineCache), d.opts.verify)
	switch {
	case err != nil:
		d.add(
			checkFail,
			what+": "+oneLine(answer.Message(err)),
			"copy the bundle again, or export it again (engine/export/hrm_export.py --family act-v1)",
		)
	case read:
		d.add(checkOK, what+"; sha256 checked now", "")
	default:
		d.add(checkOK, what+"; sha256 checked before and the file unchanged since (--verify reads it again)", "")
	}
}

// checkInputInvariance runs the Agent Zero probe on the CPU (so that the
// doctor never builds a TensorRT engine): a model that gives one answer to
// every probe grid has learnt nothing about its input.
func (d *doctor) checkInputInvariance() {
	rt, b := d.rt, d.bundle
	if rt == nil || b == nil {
		d.skip("it needs the library and the model (see above)")
		return
	}
	cpu := d.engine
	cpu.Providers, cpu.Require = []string{engine.ProviderCPU}, ""
	if err := rt.Reconfigure(cpu); err != nil {
		d.add(checkWarn, "cannot run it: "+oneLine(answer.Message(err)), "")
		return
	}
	// The batch the daemon would run on the CPU, so the probe runs as there.
	m, err := rt.LoadModel(b, d.cfg.ModelOptions())
	if err != nil {
		d.add(
			checkFail,
			"the model does not load on the CPU: "+oneLine(answer.Message(err)),
			"export the bundle again (engine/export/hrm_export.py)",
		)
		return
	}
	defer m.Close()
	invariant, err := engine.ProbeInputInvariance(context.Background(), m)
	switch {
	case err != nil:
		d.add(
			checkFail,
			"the model does not run: "+oneLine(answer.Message(err)),
			"export the bundle again (engine/export/hrm_export.py)",
		)
	case !invariant:
		d.add(
			checkOK,
			fmt.Sprintf(
				"the model's answers depend on its input (%d probe grids, %d answers)",
				engine.ProbeCount,
				engine.ProbeCount,
			),
			"",
		)
	case d.cfg.Inference.InputInvariant == answer.InvariantRefuse:
		d.add(
			checkFail,
			fmt.Sprintf(
				"the model gives one identical answer to %d different grids: it ignores its input, and inference.input_invariant "+
					"is refuse",
				engine.ProbeCount,
			),
			"use a model that learnt its task (hrmd eval shows whether it beats the all-zeros baseline)",
		)
	default:
		d.add(
			checkWarn,
			fmt.Sprintf(
				"the model gives one identical answer to %d different grids: it ignores its input; every answer will be flagged "+
					"model_input_invariant",
				engine.ProbeCount,
			),
			"use a model that learnt its task; inference.input_invariant: refuse keeps hrmd from serving such a model",
		)
	}
}

// engineBuilt reports the engine in use and its fp16 check's stored verdict.
func (d *doctor) engineBuilt(e engine.EngineCacheEntry) {
	built := fmt.Sprintf("%s: built (%d engines, %s)", e.Path, e.Engines, humanBytes(uint64(e.Bytes)))
	if e.Record != nil && e.Record.TensorRT != "" {
		built = fmt.Sprintf(
			"%s: built by TensorRT %s (%d engines, %s)",
			e.Path,
			e.Record.TensorRT,
			e.Engines,
			humanBytes(uint64(e.Bytes)),
		)
	}
	switch {
	case e.Record == nil || e.Record.Check == nil:
		d.add(checkOK, built+"; not checked against the bundle's fp32 reference", "")
	case e.Record.Check.Passed:
		d.add(checkOK, built+"; "+e.Record.Check.Summary(), "")
	case d.cfg.TensorRT.FP16Check == engine.CheckOff:
		d.add(checkWarn, built+"; "+e.Record.Check.Summary()+"; tensorrt.fp16_check is off, so hrmd uses it anyway",
			"tensorrt.fp16_check: fallback runs an fp32 engine instead")
	default:
		d.add(checkWarn, built+"; "+e.Record.Check.Summary()+"; hrmd does not use it",
			"tensorrt.fp16_check: fallback runs an fp32 engine instead; tensorrt.precision: fp32 builds only that")
	}
}

// checkEngineCache says whether this model's TensorRT engine is built and
// lists the folders no current combination uses any more.
func (d *doctor) checkEngineCache() {
	rt, b := d.rt, d.bundle
	if !slices.Contains(d.cfg.ONNXRuntime.Providers, engine.ProviderTensorRT) {
		d.skip("onnxruntime.providers does not list tensorrt")
		return
	}
	root := d.cfg.TensorRT.EngineCache
	entries, err := engine.ListEngineCache(root)
	if err != nil {
		d.add(checkWarn, err.Error(), "let the hrmd user read and write it (chown -R hrmd:hrmd "+root+")")
		return
	}
	current := d.currentEngines(rt, b, entries)
	seen := map[string]bool{}
	for _, e := range entries {
		inUse := slices.Contains(current, e.Name)
		seen[e.Name] = true
		switch {
		case inUse && e.Engines > 0:
			d.engineBuilt(e)
		case e.Broken:
			d.add(
				checkWarn,
				fmt.Sprintf(
					"%s: moved aside because onnxruntime could not read the engine back and its files were not as built (%s); for "+
						"24 hours after that, another such engine of this model makes hrmd fall back instead of building it again",
					e.Path,
					humanBytes(uint64(e.Bytes)),
				),
				"look at it if you like, then rm -r "+e.Path,
			)
		case inUse:
			d.add(checkInfo, e.Path+": no engine built yet; the next start builds it (minutes on a Jetson)", "")
		case len(current) == 0:
			// Without the library or the model, which folder is in use is
			// unknown: nothing is called old.
			d.add(checkInfo, fmt.Sprintf("%s (%s)", e.Path, humanBytes(uint64(e.Bytes))), "")
		default:
			d.add(checkInfo, fmt.Sprintf("old: %s (%s, last written %s) is for another model, library, device or build",
				e.Path, humanBytes(uint64(e.Bytes)), e.Modified.Format("2006-01-02")), "rm -r "+e.Path+" frees it")
		}
	}
	for _, c := range current {
		if !seen[c] {
			d.add(
				checkInfo,
				filepath.Join(root, c)+": not built yet; the first start with TensorRT builds it (minutes on a Jetson)",
				"",
			)
		}
	}
}

// currentEngines names the cache folders this configuration uses: the
// engine of the configured precision and, when that is an fp16 or bf16
// engine that failed its check and tensorrt.fp16_check falls back, the fp32
// engine that replaced it. None without the library or the model.
func (d *doctor) currentEngines(rt *engine.Runtime, b *bundle.Bundle, entries []engine.EngineCacheEntry) []string {
	if rt == nil || b == nil {
		return nil
	}
	batch := d.cfg.ModelOptions().MaxBatch
	prec := d.cfg.TensorRT.EnginePrecision()
	first := filepath.Base(rt.EngineCacheDir(b, prec, batch))
	if prec == engine.PrecisionFP32 {
		return []string{first}
	}
	for _, e := range entries {
		if e.Name == first && e.Record != nil && e.Record.Check != nil && !e.Record.Check.Passed &&
			d.cfg.TensorRT.FP16Check == engine.CheckFallback {
			return []string{first, filepath.Base(rt.EngineCacheDir(b, engine.PrecisionFP32, batch))}
		}
	}
	return []string{first}
}
