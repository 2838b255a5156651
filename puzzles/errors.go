// Package puzzles reads and checks ARC task files, turns grids into model
// tokens and model tokens back into grids, and writes answer files.
package puzzles

import "github.com/hrmd/hrmd/internal/errcode"

// Stable error codes: scripts match on these, so they never change meaning.
// internal/errcode/codes.yaml, the one table of codes, says what each means.
const (
	CodeTooBig       = errcode.TooBig
	CodeNotJSON      = errcode.NotJSON
	CodeBadTask      = errcode.BadTask
	CodeUnknownField = errcode.UnknownField
	CodeNoTasks      = errcode.NoTasks
	CodeNoTestInput  = errcode.NoTestInput
	CodeNoOutput     = errcode.MissingOutput
	CodeNotAGrid     = errcode.NotAGrid
	CodeEmptyGrid    = errcode.EmptyGrid
	CodeGridTooLarge = errcode.GridTooLarge
	CodeRaggedGrid   = errcode.RaggedGrid
	CodeBadColour    = errcode.BadColour
	CodeDuplicateKey = errcode.DuplicateKey

	// A grid that the model's encoding does not take (Encoding.CheckTask).
	CodeWrongForm      = errcode.WrongForm
	CodeWrongSize      = errcode.WrongSize
	CodeBadCell        = errcode.BadCell
	CodeBadMaze        = errcode.BadMaze
	CodeSudokuConflict = errcode.SudokuConflict

	// A file over one of the Limits: each names the count and the limit.
	CodeTooManyTasks      = errcode.TooManyTasks
	CodeTooManyTrainPairs = errcode.TooManyTrainPairs
	CodeTooManyTestInputs = errcode.TooManyTestInputs
	CodeTooManyRows       = errcode.TooManyRows
)

// Error is a problem with a task file that its author can fix: hrmd's one
// coded error (errcode.Error), with a code of bad input (exit status 2).
// Message names the place (`test[0].input row 3`) and, where there is one,
// the limit.
type Error = errcode.Error

func errorf(code, format string, args ...any) *Error { return errcode.Errorf(code, format, args...) }
