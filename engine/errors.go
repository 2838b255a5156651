// Package engine runs HRM model bundles through ONNX Runtime: it finds and
// loads the shared library, builds the execution-provider chain (TensorRT
// fp16, then CUDA, then CPU), checks a bundle against its manifest, and runs
// the recurrent reasoning cycles with per-row halting. cgo lives here only.
package engine

import (
	"strings"

	"github.com/hrmd/hrmd/internal/errcode"
)

// Stable error codes for what stops the engine; internal/errcode/codes.yaml,
// the one table of codes, says what each means.
const (
	CodeORTMissing          = errcode.ORTMissing
	CodeORTUnloadable       = errcode.ORTUnloadable
	CodeORTTooOld           = errcode.ORTTooOld
	CodeProviderUnavailable = errcode.ProviderUnavailable
	CodeProviderFailed      = errcode.ProviderFailed
	CodeBundleInvalid       = errcode.BundleInvalid
	CodeBundleChecksum      = errcode.BundleChecksum
	CodeBundleMismatch      = errcode.BundleMismatch
	CodeInference           = errcode.InferenceFailed
	CodeNoCgo               = errcode.NoCgo
	CodeConfig              = errcode.ConfigInvalid
	CodePrecisionCheck      = errcode.PrecisionCheck
	CodeLowMemory           = errcode.LowMemory
)

// Error is an engine failure with a stable code and a message that says what
// to do about it: hrmd's one coded error (errcode.Error).
type Error = errcode.Error

func errorf(code, format string, args ...any) *Error { return errcode.Errorf(code, format, args...) }

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
