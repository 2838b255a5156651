// Package errcode is hrmd's one coded error and its one table of codes.
// A code is what users and scripts see of a failure (`error <code>:`
// lines, failed/<name>.error.json, the log, hrmd_puzzle_failures_total), so
// it never changes meaning. The table, codes.yaml, gives each code its Go
// constant here, the exit status of a command that fails with it, and its
// line in docs/answers.md; codes_gen.go and that page's tables are written
// from it by go generate. Every package with codes of its own (puzzles,
// engine, daemon/answer, daemon/spool, daemon, the command) names them from
// here, and its Error is this one.
package errcode

import (
	"errors"
	"fmt"
	"io/fs"
)

//go:generate go run ./gen

// The exit statuses of the commands.
const (
	ExitFailure  = 1 // anything but bad input: the config, the model, the library, the machine
	ExitBadInput = 2 // the task file or the command line
)

// Error is a failure with a stable code and a message that says what to do
// about it: a problem with a task file its author can fix, with the model
// or the library, with hrmd's own configuration or folders.
type Error struct {
	Code    string
	Message string
	Err     error // the cause, if any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func (e *Error) Unwrap() error { return e.Err }

// PathCause drops an error's *fs.PathError wrapper, for a message that
// names the path itself; any other error is returned as it is.
func PathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Errorf is an Error with a formatted message and no cause.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Info is a code's row of the table.
type Info struct {
	Code string
	Exit int    // the status of a command that fails with it; 0: only in the daemon's error files
	Doc  string // its line in docs/answers.md
}

// Lookup is code's row of the table.
func Lookup(code string) (Info, bool) {
	for _, i := range table {
		if i.Code == code {
			return i, true
		}
	}
	return Info{}, false
}

// Exit is the status a command ends with when it fails with code: the
// table's, or ExitFailure for a code the commands do not end with.
func Exit(code string) int {
	if i, ok := Lookup(code); ok && i.Exit != 0 {
		return i.Exit
	}
	return ExitFailure
}

// Codes is the table, in its order.
func Codes() []Info { return append([]Info(nil), table...) }
