package errcode

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

// A command ends with its code's exit status: 2 for bad input, 1 for the
// rest, and 1 for a code the table gives none (only in error files) or
// does not have.
func TestExit(t *testing.T) {
	for _, tt := range []struct {
		code string
		want int
	}{
		{Usage, ExitBadInput}, {NotFound, ExitBadInput}, {RaggedGrid, ExitBadInput}, {TooManyRows, ExitBadInput},
		{ConfigInvalid, ExitFailure}, {ProviderFailed, ExitFailure}, {Failed, ExitFailure},
		{Unreadable, ExitFailure}, {ModelMismatch, ExitFailure}, {"no_such_code", ExitFailure},
	} {
		if got := Exit(tt.code); got != tt.want {
			t.Errorf("Exit(%q) = %d, want %d", tt.code, got, tt.want)
		}
	}
	if i, ok := Lookup(DeliveryLimit); !ok || i.Exit != 0 {
		t.Errorf("Lookup(%q) = %+v, %v; want a code only in error files (exit 0)", DeliveryLimit, i, ok)
	}
}

// An Error shows its code before its message and unwraps to its cause.
func TestError(t *testing.T) {
	cause := fmt.Errorf("open x: %w", fs.ErrNotExist)
	err := fmt.Errorf("load: %w", &Error{Code: BundleInvalid, Message: "no step.onnx", Err: cause})
	var e *Error
	if !errors.As(err, &e) || e.Error() != "bundle_invalid: no step.onnx" || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v", err)
	}
	if got := Errorf(BadColour, "cell %d", 10).Error(); got != "bad_colour: cell 10" {
		t.Errorf("Errorf: %q", got)
	}
}
