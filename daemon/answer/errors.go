package answer

import (
	"context"
	"errors"
	"io/fs"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/puzzles"
)

// CodeInputInvariant is a model whose answers do not depend on its input,
// refused because inference.input_invariant is refuse.
const CodeInputInvariant = "model_input_invariant"

// Error is a failure of hrmd's own with a stable code: a refused model here,
// a configuration or spool the daemon cannot use, a doctor run that found
// problems. A task file's codes are puzzles', the model's and the library's
// are engine's.
type Error struct {
	Code    string
	Message string
	Err     error // the cause, if any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func (e *Error) Unwrap() error { return e.Err }

// Code is the stable code users and scripts see for err: in `error <code>:`
// lines, failed/<name>.error.json and the logs. A coded error anywhere in the
// chain gives its code; a missing file not_found; a cancelled context
// interrupted; anything else failed.
func Code(err error) string {
	code, _ := classify(err)
	return code
}

// Message is err's message without its code, which is shown apart.
func Message(err error) string {
	_, message := classify(err)
	return message
}

func classify(err error) (code, message string) {
	var perr *puzzles.Error
	var eerr *engine.Error
	var aerr *Error
	switch {
	case errors.As(err, &perr):
		return perr.Code, perr.Message
	// Before not_found: a missing file of a bundle, a config or a folder is theirs.
	case errors.As(err, &eerr):
		return eerr.Code, eerr.Message
	case errors.As(err, &aerr):
		return aerr.Code, aerr.Message
	case errors.Is(err, fs.ErrNotExist):
		return "not_found", err.Error()
	case errors.Is(err, context.Canceled):
		return "interrupted", err.Error()
	}
	return "failed", err.Error()
}

// IsBadInput reports whether err is the user's input at fault (a task file
// or a file that is not there) rather than hrmd, the model or the machine.
func IsBadInput(err error) bool {
	var perr *puzzles.Error
	return errors.As(err, &perr) || Code(err) == "not_found"
}
