// Package puzzles reads and checks ARC task files, turns grids into model
// tokens and model tokens back into grids, and writes answer files.
package puzzles

import "fmt"

// Stable error codes: scripts match on these, so they never change meaning.
const (
	CodeTooBig       = "too_big"        // the file is over the size limit
	CodeNotJSON      = "not_json"       // the bytes are not one JSON value
	CodeBadTask      = "bad_task"       // JSON, but not shaped like an ARC task
	CodeUnknownField = "unknown_field"  // a key the ARC format does not have
	CodeNoTasks      = "no_tasks"       // a multi-task bundle with no task in it
	CodeNoTestInput  = "no_test_input"  // "test" missing or empty
	CodeNoOutput     = "missing_output" // a train pair without its output
	CodeNotAGrid     = "not_a_grid"     // not a list of lists of integers
	CodeEmptyGrid    = "empty_grid"     // no rows, or a row with no cells
	CodeGridTooLarge = "grid_too_large" // more rows or columns than allowed
	CodeRaggedGrid   = "ragged_grid"    // rows of different lengths
	CodeBadColour    = "bad_colour"     // a cell outside 0-9
	CodeDuplicateKey = "duplicate_key"  // a key twice in one object (JSON would keep the last silently)

	// A file over one of the Limits: each names the count and the limit.
	CodeTooManyTasks      = "too_many_tasks"       // tasks in a multi-task file
	CodeTooManyTrainPairs = "too_many_train_pairs" // demonstration pairs in a task
	CodeTooManyTestInputs = "too_many_test_inputs" // test inputs in a task
	CodeTooManyRows       = "too_many_rows"        // rows through the model for one file (test inputs with their variants, demonstrations)
)

// Error is a problem with a task file that its author can fix. Message names
// the place (`test[0].input row 3`) and, where there is one, the limit.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
