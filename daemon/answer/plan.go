// Package answer is hrmd's answering core, shared by the daemon and the
// commands: which rows a task runs through the model (its test inputs, their
// test-time variants, its demonstrations), and the answer file built from
// the model's results for them (decoded grids, the vote, confidence, flags).
// The daemon batches rows across files; Solver answers one file at a time.
package answer

import (
	"cmp"
	"fmt"

	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/puzzles"
)

// Options are how tasks are planned and answered (inference.demo_check,
// inference.augmentations, answers.trace).
type Options struct {
	DemoCheck     bool // also run the demonstration inputs and count exact matches
	Augmentations int  // test-time variants per test input; 0 = off
	Trace         bool // put each test input's per-cycle trace into its answer
	RawTrace      bool // and in it each cycle's raw tokens and halt output (engine.TraceRaw)
	MaxRows       int  // rows one file may run through the model; 0 = DefaultMaxRows
}

// DefaultMaxRows is watch.max_rows' default. It lets through the whole
// ARC-AGI-1 training or evaluation challenges file (400 tasks: about 420
// test inputs and 1,360 demonstrations) with all 15 test-time variants
// (8,067 rows at most), and ARC-AGI-2's training file (1,000 tasks) without
// them (4,308); each row is one grid through the model, about 33 ms of a
// small model on a Jetson's CPU, and a kilobyte kept until its file is answered.
const DefaultMaxRows = 8192

// Row is one grid a task runs through the model: a test input (or one of
// its test-time variants), or a demonstration input when the demo check is on.
type Row struct {
	test  bool
	index int // into task.Test or task.Train
	// variant is the test-time augmentation: 0 and the identity for the
	// input itself and for demonstrations.
	variant int
	aug     puzzles.Augmentation
	// puzzle is the row of the bundle's puzzle table the row runs with
	// (act-v1): the task's own, a variant's own, or 0, the blank row.
	puzzle int
}

// Puzzle is the row's row of the bundle's puzzle table (0 without one).
func (r Row) Puzzle() int { return r.puzzle }

// PuzzleRows are the rows' puzzle table rows, for Model.RunPuzzles.
func PuzzleRows(rows []Row) []int {
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = r.puzzle
	}
	return out
}

// PuzzleOf is the task's row of the bundle's puzzle table: the dataset
// builder names a puzzle by its "name" field, else its file name, which is
// the task's ID (a multi-task file's key). known is false when the bundle
// has a table and no row for the task: it runs with the blank row, out of
// the model's distribution. A table of the blank row alone (sapient's Sudoku
// and maze datasets: num_puzzle_identifiers 1) names no puzzle: every task
// runs with the blank row, as the model was trained, and is known.
func PuzzleOf(b *bundle.Bundle, task puzzles.Task) (row int, known bool) {
	if b.Puzzles == nil || b.Puzzles.Len() == 1 {
		return 0, true
	}
	r, ok := b.Puzzles.Row(puzzleID(task))
	return r, ok
}

// UnknownPuzzles are the puzzle names of file's tasks that the bundle's
// puzzle table has no row for, in order: each runs with the blank row.
func UnknownPuzzles(b *bundle.Bundle, file *puzzles.File) []string {
	var names []string
	for _, task := range file.Tasks {
		if _, known := PuzzleOf(b, task); !known {
			names = append(names, puzzleID(task))
		}
	}
	return names
}

// puzzleID is what the dataset builder names a task's puzzle: its "name"
// field when it has one (and then only that), else its file name as
// dropped, or its key.
func puzzleID(task puzzles.Task) string {
	switch {
	case task.Name != "":
		return task.Name
	case task.DroppedAs != "":
		return task.DroppedAs
	}
	return task.ID
}

// variants are the test-time variants of a task besides the input itself:
// for a task the model has table rows for, its own augmentations (each with
// its row, as it was trained); else the encoding's (Encoding.Augmentations).
func variants(b *bundle.Bundle, task puzzles.Task, n int) (augs []puzzles.Augmentation, rows []int) {
	own, known := PuzzleOf(b, task)
	if b.Puzzles != nil && b.Puzzles.Len() > 1 && known && n > 0 {
		augs, rows = []puzzles.Augmentation{puzzles.Identity()}, []int{own}
		for _, v := range b.Puzzles.Variants(puzzleID(task)) {
			if len(augs) > n {
				break
			}
			augs, rows = append(augs, v.Augmentation()), append(rows, int(v.Row))
		}
		return augs, rows
	}
	augs = b.Encoding.Augmentations(n)
	rows = make([]int, len(augs))
	for i := range rows {
		rows[i] = own
	}
	return augs, rows
}

// Own reports whether the row is a test input as given, not a variant or a
// demonstration: its cycles and its trace are the answer's.
func (r Row) Own() bool { return r.test && r.variant == 0 }

// Plan lists the rows of a task: each test input in order, followed by its
// variants, then the demonstration inputs (with the demo check) that fit the
// model's grid. A test input too large for the model is an error: there
// would be no answer for it; a demonstration too large is only left out of
// the demo check. (A variant is the input turned or mirrored: on the model's
// square grid it fits too.) A grid the model's encoding does not take (a
// Sudoku for an ARC model, a maze without a goal) is an error
// (Encoding.CheckTask). prefix names the task in messages about a
// multi-task file.
func Plan(task puzzles.Task, prefix string, b *bundle.Bundle, opts Options) ([]Row, error) {
	side := b.Manifest.Grid
	if err := b.Encoding.CheckTask(task, prefix); err != nil {
		return nil, err
	}
	augs, puzzleRows := variants(b, task, opts.Augmentations)
	rows := make([]Row, 0, len(task.Test)*len(augs)+len(task.Train))
	for i, p := range task.Test {
		if err := puzzles.CheckFits(p.Input, side, fmt.Sprintf("%stest[%d].input", prefix, i)); err != nil {
			return nil, err
		}
		for v, a := range augs {
			rows = append(rows, Row{test: true, index: i, variant: v, aug: a, puzzle: puzzleRows[v]})
		}
	}
	if opts.DemoCheck {
		// The demonstrations run under the task's own row: they are its puzzle.
		for i, p := range task.Train {
			if puzzles.CheckFits(p.Input, side, "") == nil {
				rows = append(rows, Row{index: i, aug: puzzles.Identity(), puzzle: puzzleRows[0]})
			}
		}
	}
	return rows, nil
}

// PlanFile plans every task of a file (Plan), refusing a file whose rows
// together are over opts.MaxRows before listing any.
func PlanFile(file *puzzles.File, b *bundle.Bundle, opts Options) ([][]Row, error) {
	side := b.Manifest.Grid
	variants := len(b.Encoding.Augmentations(opts.Augmentations))
	tests, demos := 0, 0
	for _, task := range file.Tasks {
		tests += len(task.Test)
		for _, p := range task.Train {
			if opts.DemoCheck && puzzles.CheckFits(p.Input, side, "") == nil {
				demos++
			}
		}
	}
	limit := cmp.Or(opts.MaxRows, DefaultMaxRows)
	if rows := tests*variants + demos; rows > limit {
		return nil, &puzzles.Error{Code: puzzles.CodeTooManyRows, Message: fmt.Sprintf(
			"the file needs %d rows through the model (%d test inputs × %d, each with its inference.augmentations variants, + "+
				"%d demonstrations for inference.demo_check); the limit is %d rows a file (watch.max_rows in hrmd.yaml): split "+
				"the file",
			rows,
			tests,
			variants,
			demos,
			limit,
		)}
	}
	plans := make([][]Row, len(file.Tasks))
	for i, task := range file.Tasks {
		var err error
		if plans[i], err = Plan(task, TaskPrefix(file, task), b, opts); err != nil {
			return nil, err
		}
	}
	return plans, nil
}

// grid is the row's input grid, in its variant's frame.
func (r Row) grid(task puzzles.Task) puzzles.Grid {
	if r.test {
		return r.aug.Apply(task.Test[r.index].Input)
	}
	return task.Train[r.index].Input
}

// Encode turns a task's rows into the model's tokens.
func Encode(b *bundle.Bundle, task puzzles.Task, rows []Row) [][]int64 {
	side := b.Manifest.Grid
	out := make([][]int64, len(rows))
	for i, r := range rows {
		out[i] = make([]int64, side*side)
		EncodeRow(b, task, r, out[i])
	}
	return out
}

// EncodeRow writes one row's tokens into dst (grid × grid of them), so that
// a row is encoded only when its batch runs.
func EncodeRow(b *bundle.Bundle, task puzzles.Task, r Row, dst []int64) {
	b.Encoding.Encode(r.grid(task), b.Manifest.Grid, dst)
}

// TaskPrefix names a task in messages about a multi-task file ("" for a
// file of one task, whose messages need no name).
func TaskPrefix(file *puzzles.File, task puzzles.Task) string {
	if file.Bundle {
		return fmt.Sprintf("task %q ", task.ID)
	}
	return ""
}
