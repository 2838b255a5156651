package answer

import (
	"context"
	"errors"
	"io/fs"

	"github.com/hrmd/hrmd/internal/errcode"
)

// CodeInputInvariant is a model whose answers do not depend on its input,
// refused because inference.input_invariant is refuse.
const CodeInputInvariant = errcode.ModelInputInvariant

// Error is a failure of hrmd's own with a stable code: a refused model here,
// a configuration or spool the daemon cannot use, a doctor run that found
// problems. It is hrmd's one coded error (errcode.Error), as a task file's
// (package puzzles) and the model's and the library's (package engine) are.
type Error = errcode.Error

// Code is the stable code users and scripts see for err: in `error <code>:`
// lines, failed/<name>.error.json and the logs. A coded error anywhere in the
// chain gives its code (the outermost, where one wraps another); a missing
// file not_found; a cancelled context interrupted; anything else failed.
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
	var cerr *errcode.Error
	switch {
	// Before not_found: a missing file of a bundle, a config or a folder is theirs.
	case errors.As(err, &cerr):
		return cerr.Code, cerr.Message
	case errors.Is(err, fs.ErrNotExist):
		return errcode.NotFound, err.Error()
	case errors.Is(err, context.Canceled):
		return errcode.Interrupted, err.Error()
	}
	return errcode.Failed, err.Error()
}

// IsBadInput reports whether err is the user's input at fault (a task file
// or a file that is not there) rather than hrmd, the model or the machine:
// whether its code's exit status is errcode.ExitBadInput.
func IsBadInput(err error) bool { return errcode.Exit(Code(err)) == errcode.ExitBadInput }
