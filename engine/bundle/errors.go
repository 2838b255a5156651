package bundle

import "fmt"

// Stable error codes for a bundle that cannot be used.
const (
	CodeBundleInvalid  = "bundle_invalid"  // hrm.yaml or a file it names is missing or wrong
	CodeBundleChecksum = "bundle_checksum" // a file's sha256 differs from the manifest's
)

// Error is a failure with a stable code and a message that says what to do
// about it. It is the engine's coded error too (engine.Error names this
// type), so a caller tells a bad bundle from a failed run by its code alone.
type Error struct {
	Code    string
	Message string
	Err     error // the underlying cause, if any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func (e *Error) Unwrap() error { return e.Err }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
