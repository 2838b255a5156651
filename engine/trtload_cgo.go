//go:build cgo

package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/engine/bundle"
)

// trtLoad loads a model on TensorRT: it takes the engine from the cache or
// builds it (into a fresh folder, moved into place once it works), repairs
// a cached engine that cannot be read back, and holds every engine to the
// bundle's check set, building again with fp16 off when an fp16 engine
// misses (tensorrt.fp16_check).
type trtLoad struct {
	rt    *Runtime
	b     *bundle.Bundle
	io    *bundleIO
	chain []string
	opts  ModelOptions
}

func (l *trtLoad) run() (*Model, error) {
	cfg := l.rt.cfg.TensorRT
	cs, err := l.checkSet()
	if err != nil {
		return nil, err
	}
	precisions := []string{cfg.Precision}
	if cfg.Precision != PrecisionFP32 {
		precisions = append(precisions, PrecisionFP32)
	}
	var rejected *PrecisionCheck
	for _, prec := range precisions {
		m, failed, err := l.load(prec, cs)
		if err != nil {
			return nil, err
		}
		if failed == nil {
			m.engineCache.Rejected = rejected
			return m, nil
		}
		if failed.stored && cfg.FP16Check != CheckRefuse {
			// Its verdict was logged as an error when it was built; the
			// daemon says once, as information, which engine runs instead.
			l.rt.log.Debug(
				"this engine failed its check when it was built; not loading it",
				zap.String("check", failed.Summary()),
			)
		} else {
			l.rt.log.Error("the TensorRT engine's answers differ from the bundle's fp32 reference",
				zap.String("model", l.b.Manifest.Name), zap.String("check", failed.Summary()))
		}
		switch {
		case cfg.FP16Check == CheckRefuse:
			return nil, errorf(
				CodePrecisionCheck,
				"the TensorRT %s engine for %s fails the bundle's check set: %s; tensorrt.fp16_check is refuse (fallback builds "+
					"it again in fp32)",
				prec,
				l.b.Manifest.Name,
				failed.Summary(),
			)
		case prec != PrecisionFP32:
			if !failed.stored {
				l.rt.log.Warn(
					"building the engine again in fp32 (tensorrt.fp16_check: fallback)",
					zap.String("model", l.b.Manifest.Name),
				)
			}
			rejected = failed.withoutCycles()
		default:
			return nil, errorf(
				CodePrecisionCheck,
				"the TensorRT %s engine for %s fails the bundle's check set: %s; the next provider takes the model",
				prec,
				l.b.Manifest.Name,
				failed.Summary(),
			)
		}
	}
	return nil, errorf(CodePrecisionCheck, "no precision left to build %s with", l.b.Manifest.Name)
}

// refused says whether err must stop a load rather than fall back to the
// next provider: a check that misses under tensorrt.fp16_check: refuse.
func (rt *Runtime) refused(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodePrecisionCheck && rt.cfg.TensorRT.FP16Check == CheckRefuse
}

// load returns the model on an engine of this precision, or the check it
// failed (now, or when it was built: that engine is not loaded again).
func (l *trtLoad) load(prec string, cs *bundle.CheckSet) (*Model, *PrecisionCheck, error) {
	build := l.rt.engineBuild(prec, max(l.opts.MaxBatch, 1))
	slot := l.slot(build)
	if hasEngine(slot.final()) {
		m, failed, err := l.fromCache(slot, build, cs)
		if !isDeserializeFailure(err) {
			return m, failed, err
		}
	}
	unlock, err := l.lock(slot)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	if old := slot.adoptLegacy(); old != "" {
		l.rt.log.Info(
			"took the engine an older hrmd built under another name",
			zap.String("from", old),
			zap.String("engine_cache", slot.final()),
		)
	}
	if !hasEngine(slot.final()) {
		return l.build(slot, build, cs)
	}
	// Another hrmd may have built or repaired it while this one waited.
	m, failed, err := l.fromCache(slot, build, cs)
	if !isDeserializeFailure(err) {
		return m, failed, err
	}
	return l.repair(slot, build, cs, err)
}

// lock takes the engine cache's build lock, saying so when it has to wait
// for another build.
func (l *trtLoad) lock(slot cacheSlot) (unlock func(), err error) {
	f, err := slot.lock(func() {
		l.rt.log.Info(
			"another TensorRT engine build (of this hrmd or another) holds the engine cache; waiting for it",
			zap.String("engine_cache", slot.final()),
		)
		l.stage("waiting for another TensorRT build to finish", "")
	})
	if err != nil {
		return nil, &Error{Code: CodeConfig, Message: err.Error(), Err: err}
	}
	return func() { f.Close() }, nil
}

// fromCache loads the key's cached engine.
func (l *trtLoad) fromCache(slot cacheSlot, build engineBuild, cs *bundle.CheckSet) (*Model, *PrecisionCheck, error) {
	rec, err := ReadEngineRecord(slot.final())
	if err != nil {
		l.rt.log.Warn("the engine's record cannot be read; checking the engine again", zap.Error(err))
	}
	if cs != nil && rec != nil && rec.Check != nil && !rec.Check.Passed {
		rec.Check.stored = true
		return nil, rec.Check, nil
	}
	m, err := l.rt.newModel(l.b, l.io, l.chain, l.opts, build, slot.final(), nil)
	if err != nil {
		return nil, nil, err
	}
	return l.cached(m, slot, build, l.completeRecord(slot, build, rec), cs)
}

// repair deals with a cached engine onnxruntime cannot read back; the
// cache's lock is held. One whose files are as they were built is not
// broken: TensorRT refuses it for a reason of the moment or of this
// process, and it stays for the next start (intactUnloadable). One changed
// since, or without a record of its files, is moved aside and built again,
// unless an engine of this key was moved aside less than brokenExpiry ago:
// building again is then unlikely to help, and the next provider takes the
// model.
func (l *trtLoad) repair(
	slot cacheSlot,
	build engineBuild,
	cs *bundle.CheckSet,
	loadErr error,
) (*Model, *PrecisionCheck, error) {
	reason := ortReason(loadErr)
	rec, _ := ReadEngineRecord(slot.final())
	changed := rec.filesChanged(slot.final())
	if changed == "" {
		return nil, nil, l.intactUnloadable(slot, rec, reason)
	}
	now := time.Now()
	recent, expired := slot.brokenSince(now)
	if len(recent) > 0 {
		return nil, nil, errorf(
			CodeProviderFailed,
			"onnxruntime cannot read back the TensorRT engine in %s (%s; %s), and an engine of this model, library, device "+
				"and build was moved aside for the same reason less than %d hours ago (%s): building it again is unlikely to "+
				"help; look at them and report it; delete them to build it again now, or hrmd builds it again at a start once "+
				"they are %d hours old",
			slot.final(),
			reason,
			changed,
			int(brokenExpiry.Hours()),
			strings.Join(recent, ", "),
			int(brokenExpiry.Hours()),
		)
	}
	aside, qerr := slot.quarantine(now)
	if qerr != nil {
		return nil, nil, errors.Join(loadErr, qerr)
	}
	for _, dir := range expired {
		os.RemoveAll(dir) // replaced by the newer one just moved aside
	}
	l.rt.log.Warn(
		"the cached TensorRT engine cannot be read back and its files are not as they were built (cut short by a power "+
			"loss, or damaged); moved it aside and building it again",
		zap.String(
			"moved_to",
			aside,
		),
		zap.String("changed", changed),
		zap.String("reason", reason),
		zap.Strings("removed_older", expired),
	)
	return l.build(slot, build, cs)
}

// cached finishes a model whose engine came from the cache: the check's
// stored verdict stands; an engine without one is checked now. Under
// tensorrt.fp16_check off, an engine that failed its check when it was
// built is used, and says so.
func (l *trtLoad) cached(
	m *Model,
	slot cacheSlot,
	build engineBuild,
	rec *EngineRecord,
	cs *bundle.CheckSet,
) (*Model, *PrecisionCheck, error) {
	m.engineCache = EngineCacheUse{Dir: slot.final(), Found: true}
	if rec != nil && rec.Check != nil {
		m.engineCache.Check = rec.Check
		if !rec.Check.Passed { // reached only with the check off
			l.rt.log.Warn(
				"this TensorRT engine failed its check when it was built; tensorrt.fp16_check is off, so it is used anyway",
				zap.String("check", rec.Check.Summary()),
			)
		}
		return m, nil, nil
	}
	if cs == nil {
		return m, nil, nil // the check is off, or there is nothing to check with
	}
	check, err := l.check(m, cs)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	m.engineCache.Check = check.withoutCycles()
	if rec == nil {
		rec = &EngineRecord{Build: build}
	}
	rec.Check = check
	if err := writeEngineRecord(slot.final(), *rec); err != nil {
		l.rt.log.Warn("the check's verdict cannot be kept beside the engine; it runs again next time", zap.Error(err))
	}
	return l.verdict(m, check)
}

// build builds the engine in a fresh folder, checks it and puts it in
// place. The key's lock is held.
func (l *trtLoad) build(slot cacheSlot, build engineBuild, cs *bundle.CheckSet) (*Model, *PrecisionCheck, error) {
	if err := l.checkMemory(build); err != nil {
		return nil, nil, err
	}
	dir, err := slot.begin()
	if err != nil {
		return nil, nil, &Error{Code: CodeConfig, Message: err.Error(), Err: err}
	}
	started := time.Now()
	onBuild := func(graph string) { l.stage("building TensorRT engine", graph) }
	m, err := l.rt.newModel(l.b, l.io, l.chain, l.opts, build, dir, onBuild)
	if isTimingCacheFailure(err) && l.moveTimingCacheAside(err) {
		m, err = l.rt.newModel(l.b, l.io, l.chain, l.opts, build, dir, onBuild)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	took := time.Since(started)
	l.rt.log.Info(
		"TensorRT engine built",
		zap.String("model", l.b.Manifest.Name),
		zap.String("precision", build.Precision),
		zap.Duration("took", took),
	)
	check, err := l.check(m, cs)
	if err != nil {
		m.Close()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	// A failed engine is kept too, with its verdict, so that the next start
	// goes straight to the fallback instead of building it again.
	record := EngineRecord{Build: build, Built: time.Now().UTC(), BuildTook: took.Seconds(), Check: check}
	if err := slot.commit(dir, record); err != nil {
		l.rt.log.Warn(
			"the built engine or its verdict cannot be kept in the cache; the next start builds or checks it again",
			zap.Error(err),
		)
	}
	m.engineCache = EngineCacheUse{Dir: slot.final(), Built: true, BuildTook: took, Check: check.withoutCycles()}
	return l.verdict(m, check)
}

// isTimingCacheFailure says whether err is onnxruntime's TensorRT provider
// failing on the shared timing cache ("TensorRT EP could not create timing
// cache"): it is written with a plain stream too, and one cut short would
// otherwise fail every later build.
func isTimingCacheFailure(err error) bool {
	return err != nil && strings.Contains(err.Error(), "timing cache")
}

// moveTimingCacheAside moves the timing cache folder aside for the build to
// start a new one; false when it cannot.
func (l *trtLoad) moveTimingCacheAside(cause error) bool {
	dir := filepath.Join(l.rt.cfg.TensorRT.EngineCache, timingCacheDir)
	aside := dir + ".broken-" + time.Now().UTC().Format("20060102T150405Z")
	if err := os.Rename(dir, aside); err != nil {
		l.rt.log.Warn(
			"the TensorRT timing cache fails and cannot be moved aside",
			zap.String("reason", ortReason(cause)),
			zap.Error(err),
		)
		return false
	}
	l.rt.log.Warn(
		"the TensorRT timing cache cannot be read; moved it aside and building again",
		zap.String("moved_to", aside),
		zap.String("reason", ortReason(cause)),
	)
	return true
}

func (l *trtLoad) verdict(m *Model, check *PrecisionCheck) (*Model, *PrecisionCheck, error) {
	if check != nil && !check.Passed {
		m.Close()
		return nil, check, nil
	}
	return m, nil, nil
}

func (l *trtLoad) stage(what, graph string) {
	if l.opts.Progress != nil {
		l.opts.Progress(LoadStage{What: what, Graph: graph, Since: time.Now()})
	}
}

// checkSet is the bundle's check set, or nil when there is nothing to check
// with (tensorrt.fp16_check off, or a bundle exported without one).
func (l *trtLoad) checkSet() (*bundle.CheckSet, error) {
	return l.rt.checkSet(l.b, "its TensorRT engine")
}

// checkSet is b's check set for checking what runs it (what, in the
// warning), or nil when there is nothing to check with: tensorrt.fp16_check
// off, or a bundle exported without one (an error under refuse).
func (rt *Runtime) checkSet(b *bundle.Bundle, what string) (*bundle.CheckSet, error) {
	policy := rt.cfg.TensorRT.FP16Check
	if policy == CheckOff {
		return nil, nil
	}
	cs, err := bundle.LoadCheckSet(b)
	if err != nil || cs != nil {
		return cs, err
	}
	if policy == CheckRefuse {
		return nil, errorf(
			CodePrecisionCheck,
			"tensorrt.fp16_check is refuse, but the bundle %s has no check set (check: in hrm.yaml); export it again with "+
				"engine/export/hrm_export.py, or set fp16_check: fallback",
			b.Dir,
		)
	}
	rt.log.Warn(
		"the bundle has no check set: "+what+" cannot be checked against fp32; export it again "+
			"(engine/export/hrm_export.py) to have it checked",
		zap.String("model", b.Dir),
	)
	return nil, nil
}

// check runs the check set through m and compares it with the reference.
func (l *trtLoad) check(m *Model, cs *bundle.CheckSet) (*PrecisionCheck, error) {
	if cs == nil {
		return nil, nil
	}
	l.stage("checking "+m.precision+" against fp32", "")
	return m.Check(cs)
}

// buildOverheadMiB is what an engine build takes beyond its workspace and
// the weights: the CUDA context and the builder's own state, a few hundred
// MiB on a Jetson. It is a floor for refusing a build that cannot fit, not
// a forecast of the peak.
const buildOverheadMiB = 512

// checkMemory refuses a build the board cannot hold: a Jetson shares its
// memory between CPU and GPU, and one that runs out stalls or kills
// processes instead of failing the build.
func (l *trtLoad) checkMemory(build engineBuild) error {
	if l.opts.MemAvailable == nil {
		return nil
	}
	avail, err := l.opts.MemAvailable()
	if err != nil {
		l.rt.log.Warn("cannot tell how much memory is free; building without checking", zap.Error(err))
		return nil
	}
	weights := int64(0)
	for _, g := range []bundle.Graph{l.b.Manifest.Graphs.Init, l.b.Manifest.Graphs.Step} {
		if st, err := os.Stat(l.b.Path(g.File)); err == nil {
			weights += st.Size()
		}
	}
	need := int64(build.WorkspaceMB+buildOverheadMiB)<<20 + 2*weights
	if avail >= need {
		return nil
	}
	return errorf(
		CodeLowMemory,
		"building the TensorRT engine for %s needs at least %d MiB (tensorrt.workspace_mb %d, the weights twice, %d MiB "+
			"for CUDA and the builder: a floor, not a forecast; a build can take more), but only %d MiB is available "+
			"(MemAvailable); stop other programs, lower tensorrt.workspace_mb or inference.gpu_batch, or add swap",
		l.b.Manifest.Name,
		need>>20,
		build.WorkspaceMB,
		buildOverheadMiB,
		avail>>20,
	)
}
