package bundle

import "github.com/hrmd/hrmd/internal/errcode"

// Stable error codes for a bundle that cannot be used; internal/errcode/codes.yaml,
// the one table of codes, says what each means.
const (
	CodeBundleInvalid  = errcode.BundleInvalid
	CodeBundleChecksum = errcode.BundleChecksum
)

// Error is hrmd's one coded error (errcode.Error), so a caller tells a bad
// bundle from a failed run by its code alone.
type Error = errcode.Error

func errorf(code, format string, args ...any) *Error { return errcode.Errorf(code, format, args...) }
