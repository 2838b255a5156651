//go:build cgo

package engine

import (
	"go.uber.org/zap"
)

// slot is build's cache slot on the TensorRT loaded now (the provider
// chain has appended the TensorRT provider, whose library loads it). A
// version that cannot be read is logged and left out of the folder's name,
// as before hrmd read it.
func (l *trtLoad) slot(build engineBuild) cacheSlot {
	trt, err := l.rt.TensorRTVersion()
	if err != nil {
		l.rt.log.Warn("cannot tell which TensorRT is loaded; its engine folder is named without its version", zap.Error(err))
	}
	return l.rt.slotOn(l.b, build, trt)
}

// intactUnloadable is the answer to an engine onnxruntime cannot read back
// although its files are as they were built. TensorRT's deserializeCudaEngine
// fails then for a reason outside the files: too little free GPU memory
// (another process on a 4 or 8 GB board, `hrmd doctor --deep` beside the
// daemon), or a TensorRT build other than the one that built it. Moving it
// aside would cost a build and, the second time, TensorRT altogether; so
// it stays, the next provider takes the model for this start, and the next
// start tries the engine again.
func (l *trtLoad) intactUnloadable(slot cacheSlot, rec *EngineRecord, reason string) error {
	built, loaded := orUnknown(rec.TensorRT), orUnknown(slot.tensorRT)
	fields := []zap.Field{
		zap.String(
			"engine_cache",
			slot.final(),
		), zap.String("built_with_tensorrt", built), zap.String("loaded_tensorrt", loaded),
		zap.String("reason", reason),
	}
	if l.opts.MemAvailable != nil {
		if avail, err := l.opts.MemAvailable(); err == nil {
			fields = append(fields, zap.Int64("mem_available_mib", avail>>20))
		}
	}
	l.rt.log.Warn(
		"intact engine could not be loaded (GPU memory, or another TensorRT build); it stays in place for the next start, "+
			"and the next provider takes the model now",
		fields...)
	return errorf(
		CodeProviderFailed,
		"onnxruntime cannot load the TensorRT engine in %s (%s), although its files are as they were built: too little "+
			"free GPU memory, or another TensorRT build (built with TensorRT %s, this process has %s); it stays in place and "+
			"the next start tries it again",
		slot.final(),
		reason,
		built,
		loaded,
	)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// completeRecord gives an engine that loaded a record with its files and
// its TensorRT when it lacks them (an engine of an older hrmd, one taken
// from a legacy name, a record that could not be written at the build):
// an engine TensorRT loads is intact and of the TensorRT loaded, since
// TensorRT checks all four figures of its version.
func (l *trtLoad) completeRecord(slot cacheSlot, build engineBuild, rec *EngineRecord) *EngineRecord {
	if rec != nil && len(rec.Files) > 0 && (rec.TensorRT != "" || slot.tensorRT == "") {
		return rec
	}
	files, err := engineFiles(slot.final())
	if err != nil {
		l.rt.log.Warn("the engine's files cannot be read for its record", zap.Error(err))
		return rec
	}
	done := EngineRecord{Build: build}
	if rec != nil {
		done = *rec
	}
	done.Files, done.TensorRT = files, slot.tensorRT
	if err := writeEngineRecord(slot.final(), done); err != nil {
		l.rt.log.Warn("the engine's files cannot be kept in its record", zap.Error(err))
		return rec
	}
	return &done
}
