// Package answer is hrmd's answering core, shared by the daemon and the
// commands: which rows a task runs through the model (its test inputs, their
// test-time variants, its demonstrations), and the answer file built from
// the model's results for them (decoded grids, the vote, confidence, flags).
// The daemon batches rows across files; Solver answers one file at a time.
package answer

import (
	"fmt"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/puzzles"
)

// Options are how tasks are planned and answered (inference.demo_check,
// inference.augmentations, answers.trace).
type Options struct {
	DemoCheck     bool // also run the demonstration inputs and count exact matches
	Augmentations int  // test-time variants per test input; 0 = off
	Trace         bool // put each test input's per-cycle trace into its answer
}

// Row is one grid a task runs through the model: a test input (or one of
// its test-time variants), or a demonstration input when the demo check is on.
type Row struct {
	test  bool
	index int // into task.Test or task.Train
	// variant is the test-time augmentation: 0 and the identity for the
	// input itself and for demonstrations.
	variant int
	aug     puzzles.Augmentation
}

// Own reports whether the row is a test input as given, not a variant or a
// demonstration: its cycles and its trace are the answer's.
func (r Row) Own() bool { return r.test && r.variant == 0 }

// Plan lists the rows of a task: each test input in order, followed by its
// variants, then the demonstration inputs (with the demo check) that fit the
// model's grid. A test input too large for the model is an error: there
// would be no answer for it; a demonstration too large is only left out of
// the demo check. (A variant is the input turned or mirrored: on the model's
// square grid it fits too.) prefix names the task in messages about a
// multi-task file.
func Plan(task puzzles.Task, prefix string, side int, opts Options) ([]Row, error) {
	augs := puzzles.Augmentations(opts.Augmentations)
	rows := make([]Row, 0, len(task.Test)*len(augs)+len(task.Train))
	for i, p := range task.Test {
		if err := puzzles.CheckFits(p.Input, side, fmt.Sprintf("%stest[%d].input", prefix, i)); err != nil {
			return nil, err
		}
		for v, a := range augs {
			rows = append(rows, Row{test: true, index: i, variant: v, aug: a})
		}
	}
	if opts.DemoCheck {
		for i, p := range task.Train {
			if puzzles.CheckFits(p.Input, side, "") == nil {
				rows = append(rows, Row{index: i, aug: puzzles.Identity()})
			}
		}
	}
	return rows, nil
}

// grid is the row's input grid, in its variant's frame.
func (r Row) grid(task puzzles.Task) puzzles.Grid {
	if r.test {
		return r.aug.Apply(task.Test[r.index].Input)
	}
	return task.Train[r.index].Input
}

// Encode turns a task's rows into the model's tokens.
func Encode(b *engine.Bundle, task puzzles.Task, rows []Row) [][]int64 {
	side := b.Manifest.Grid
	out := make([][]int64, len(rows))
	for i, r := range rows {
		out[i] = make([]int64, side*side)
		b.Encoding.Encode(r.grid(task), side, out[i])
	}
	return out
}

// TaskPrefix names a task in messages about a multi-task file ("" for a
// file of one task, whose messages need no name).
func TaskPrefix(file *puzzles.File, task puzzles.Task) string {
	if file.Bundle {
		return fmt.Sprintf("task %q ", task.ID)
	}
	return ""
}
