// Package engine runs HRM model bundles through ONNX Runtime: it finds and
// loads the shared library, builds the execution-provider chain (TensorRT
// fp16, then CUDA, then CPU), checks a bundle against its manifest, and runs
// the recurrent reasoning cycles with per-row halting. cgo lives here only.
package engine

import (
	"fmt"
	"strings"

	"github.com/hrmd/hrmd/engine/bundle"
)

// Stable error codes for what stops the engine.
const (
	CodeORTMissing          = "ort_missing"          // no onnxruntime library where we looked
	CodeORTUnloadable       = "ort_unloadable"       // the file is there but cannot be loaded
	CodeORTTooOld           = "ort_too_old"          // onnxruntime older than MinORTVersion
	CodeProviderUnavailable = "provider_unavailable" // a required execution provider is not there
	CodeProviderFailed      = "provider_failed"      // a GPU provider could not take the model (an engine build failed, a graph TensorRT cannot take whole)
	CodeBundleMismatch      = "bundle_mismatch"      // an ONNX graph disagrees with the manifest
	CodeInference           = "inference_failed"     // ONNX Runtime failed while running
	CodeNoCgo               = "no_cgo"               // built without cgo: no ONNX Runtime at all
	CodeConfig              = "config_invalid"       // an engine setting is out of range
	CodePrecisionCheck      = "precision_check"      // a TensorRT engine's answers differ from the bundle's fp32 reference
	CodeLowMemory           = "low_memory"           // too little memory left to build a TensorRT engine
)

// A bundle's codes, which engine/bundle reports.
const (
	CodeBundleInvalid  = bundle.CodeBundleInvalid  // hrm.yaml or a file it names is missing or wrong
	CodeBundleChecksum = bundle.CodeBundleChecksum // a file's sha256 differs from the manifest's
)

// Error is an engine failure with a stable code and a message that says what
// to do about it: one type with the bundle's errors, which engine/bundle
// reports without cgo.
type Error = bundle.Error

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ortReason shortens an onnxruntime error to what a person acts on: it drops
// the source location and status code ONNX Runtime puts before the message
// ("/onnxruntime_src/...cc:1988 ... [ONNXRuntimeError] : 1 : FAIL : ").
func ortReason(err error) string {
	msg := err.Error()
	const marker = "[ONNXRuntimeError] : "
	if i := strings.LastIndex(msg, marker); i >= 0 {
		rest := msg[i+len(marker):]
		// Skip the numeric status and its name: "1 : FAIL : ".
		for range 2 {
			if j := strings.Index(rest, " : "); j >= 0 {
				rest = rest[j+3:]
			}
		}
		msg = rest
	}
	return strings.TrimSpace(msg)
}
