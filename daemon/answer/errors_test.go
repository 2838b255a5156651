package answer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/puzzles"
)

// Every failure has one stable code, its message apart, and whether it is
// the user's input at fault (its code's exit status): a coded error wins
// over what it wraps.
func TestCode(t *testing.T) {
	notFound := fmt.Errorf("open task.json: %w", fs.ErrNotExist)
	for _, tt := range []struct {
		name     string
		err      error
		code     string
		message  string
		badInput bool
	}{
		{"task file", fmt.Errorf("read: %w", &puzzles.Error{Code: puzzles.CodeRaggedGrid, Message: "row 1"}),
			puzzles.CodeRaggedGrid, "row 1", true},
		{"missing file", notFound, "not_found", notFound.Error(), true},
		{"bundle file missing", &engine.Error{Code: engine.CodeBundleInvalid, Message: "no step.onnx", Err: notFound},
			engine.CodeBundleInvalid, "no step.onnx", false},
		{"hrmd's own", &Error{Code: CodeInputInvariant, Message: "same answer", Err: notFound},
			CodeInputInvariant, "same answer", false},
		{"interrupted", fmt.Errorf("run: %w", context.Canceled), "interrupted", "run: context canceled", false},
		{"one coded error around another", &engine.Error{Code: engine.CodeBundleInvalid, Message: "check set",
			Err: &puzzles.Error{Code: puzzles.CodeRaggedGrid, Message: "row 1"}}, engine.CodeBundleInvalid, "check set", false},
		{"anything else", errors.New("disk on fire"), "failed", "disk on fire", false},
	} {
		if got := Code(tt.err); got != tt.code {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.code)
		}
		if got := Message(tt.err); got != tt.message {
			t.Errorf("%s: message %q, want %q", tt.name, got, tt.message)
		}
		if got := IsBadInput(tt.err); got != tt.badInput {
			t.Errorf("%s: bad input %v, want %v", tt.name, got, tt.badInput)
		}
	}
}
