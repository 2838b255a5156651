package daemon

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"time"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/puzzles"
)

// row is one grid a task runs through the model: a test input (or one of
// its test-time variants), or a demonstration input when the demo check is on.
type row struct {
	test  bool
	index int // into task.Test or task.Train
	// variant is the test-time augmentation: 0 and the identity for the
	// input itself and for demonstrations.
	variant int
	aug     puzzles.Augmentation
}

// planTask lists the rows of a task: each test input in order, followed by
// its augmentations variants (inference.augmentations), then the
// demonstration inputs (demoCheck) that fit the model's grid. A test input
// too large for the model is an error: there would be no answer for it; a
// demonstration too large is only left out of the demo check. (A variant is
// the input turned or mirrored: on the model's square grid it fits too.)
func planTask(task puzzles.Task, prefix string, side int, demoCheck bool, augmentations int) ([]row, error) {
	augs := puzzles.Augmentations(augmentations)
	rows := make([]row, 0, len(task.Test)*len(augs)+len(task.Train))
	for i, p := range task.Test {
		if err := puzzles.CheckFits(p.Input, side, fmt.Sprintf("%stest[%d].input", prefix, i)); err != nil {
			return nil, err
		}
		for v, a := range augs {
			rows = append(rows, row{test: true, index: i, variant: v, aug: a})
		}
	}
	if demoCheck {
		for i, p := range task.Train {
			if puzzles.CheckFits(p.Input, side, "") == nil {
				rows = append(rows, row{index: i, aug: puzzles.Identity()})
			}
		}
	}
	return rows, nil
}

// grid is the row's input grid, in its variant's frame.
func (r row) grid(task puzzles.Task) puzzles.Grid {
	if r.test {
		return r.aug.Apply(task.Test[r.index].Input)
	}
	return task.Train[r.index].Input
}

// encodeRows turns a task's rows into the model's tokens.
func encodeRows(b *engine.Bundle, task puzzles.Task, rows []row) [][]int64 {
	side := b.Manifest.Grid
	out := make([][]int64, len(rows))
	for i, r := range rows {
		out[i] = make([]int64, side*side)
		b.Encoding.Encode(r.grid(task), side, out[i])
	}
	return out
}

// taskPrefix names a task in messages about a multi-task file.
func taskPrefix(file *puzzles.File, task puzzles.Task) string {
	if file.Bundle {
		return fmt.Sprintf("task %q ", task.ID)
	}
	return ""
}

// modelRun says which model computed a set of results, and how.
type modelRun struct {
	bundle    *engine.Bundle
	provider  string
	precision string
	device    string
	trace     bool // put each row's per-cycle trace into the answer
	// inputInvariant: the probe at load found the model's predictions do
	// not depend on its input; every answer says so.
	inputInvariant bool
}

func newModelRun(m *engine.Model, device string, trace bool) modelRun {
	return modelRun{bundle: m.Bundle(), provider: m.Provider(), precision: m.Precision(), device: device, trace: trace}
}

// assemble builds a task's answer file from the results of its rows.
func (mr modelRun) assemble(task puzzles.Task, rows []row, results []engine.RowResult, latency time.Duration, demoCheck bool) (puzzles.AnswerFile, error) {
	b := mr.bundle
	side := b.Manifest.Grid
	out := puzzles.AnswerFile{
		Task:    task.ID,
		Answers: make([]puzzles.Answer, len(task.Test)),
		Model:   puzzles.ModelInfo{Name: b.Manifest.Name, Family: b.Manifest.Family, SHA256: b.SHA256},
		Runtime: puzzles.RuntimeInfo{
			Provider:  mr.provider,
			Precision: mr.precision,
			Device:    mr.device,
			LatencyMS: math.Round(float64(latency.Microseconds())/100) / 10,
		},
	}
	if demoCheck {
		out.DemoCheck = &puzzles.DemoCheck{}
	}
	// The demonstrations first: every test answer's confidence uses them.
	for i, r := range results {
		k := rows[i]
		if k.test {
			continue
		}
		demo := task.Train[k.index]
		got, _, err := b.Encoding.Decode(r.Tokens, side, demo.Input, task.Train)
		out.DemoCheck.Pairs++
		if err == nil && got.Equal(demo.Output) {
			out.DemoCheck.Solved++
		}
	}
	demo := out.DemoCheck // nil without a demo check
	// Each test input's variants: the identity's run gives the cycles, the
	// shape rule and the trace; with augmentations the answers, mapped back,
	// vote.
	type variant struct {
		grid puzzles.Grid
		halt float64
	}
	variants := make([][]variant, len(task.Test))
	for i, r := range results {
		k := rows[i]
		if !k.test {
			continue
		}
		vt := task
		if k.variant > 0 {
			vt = k.aug.ApplyTask(task) // the raw encoding's shape rules read the demonstrations
		}
		in := vt.Test[k.index].Input
		grid, rule, err := b.Encoding.Decode(r.Tokens, side, in, vt.Train)
		if err != nil {
			return out, fmt.Errorf("%s test[%d] (%v): %w", task.ID, k.index, k.aug, err)
		}
		variants[k.index] = append(variants[k.index], variant{k.aug.Invert(grid), r.Halt})
		if k.variant > 0 {
			continue
		}
		a := puzzles.Answer{
			Attempt1: grid, Attempt2: grid,
			Cycles: r.Cycles, HaltedBy: r.HaltedBy,
			Halt:  math.Round(r.Halt*1e4) / 1e4,
			Flags: []string{},
			Shape: rule,
		}
		if mr.trace {
			for _, c := range r.Trace {
				ct := puzzles.CycleTrace{Cycle: c.Cycle, Halt: math.Round(c.Halt*1e4) / 1e4, Changed: c.Changed}
				if c.Tokens != nil {
					ct.Grid, _, _ = b.Encoding.Decode(c.Tokens, side, in, task.Train)
				}
				a.Trace = append(a.Trace, ct)
			}
		}
		out.Answers[k.index] = a
	}
	for i := range out.Answers {
		a := &out.Answers[i]
		if vs := variants[i]; len(vs) > 1 {
			grids, halts := make([]puzzles.Grid, len(vs)), make([]float64, len(vs))
			for j, v := range vs {
				grids[j], halts[j] = v.grid, v.halt
			}
			a.Votes = &puzzles.Votes{Variants: len(vs)}
			if cands := puzzles.Vote(grids, halts); len(cands) > 0 {
				a.Attempt1, a.Attempt2 = cands[0].Grid, cands[0].Grid
				a.Votes.Attempt1 = cands[0].Votes
				if len(cands) > 1 {
					a.Attempt2, a.Votes.Attempt2 = cands[1].Grid, cands[1].Votes
				}
				a.Halt = math.Round(cands[0].MeanHalt*1e4) / 1e4
			}
		}
		a.Confidence = puzzles.Confidence(a.Halt, demo, a.Votes)
	}
	// Flags last: same_as_other_test compares the task's answers.
	for i := range out.Answers {
		a := &out.Answers[i]
		var others, otherInputs []puzzles.Grid
		for j, o := range out.Answers {
			if j != i {
				others, otherInputs = append(others, o.Attempt1), append(otherInputs, task.Test[j].Input)
			}
		}
		if a.Attempt1.Rows() == 0 {
			a.Flags = append(a.Flags, puzzles.FlagNoGrid)
		}
		a.Flags = append(a.Flags, puzzles.AnswerFlags(a.Attempt1, task.Test[i].Input, others, otherInputs)...)
		if a.Shape != puzzles.ShapeEOS && a.Attempt1.Rows() > 0 {
			a.Flags = append(a.Flags, puzzles.FlagShapeInferred)
		}
		if puzzles.IsLowConfidence(a.Confidence, demo) {
			a.Flags = append(a.Flags, puzzles.FlagLowConfidence)
		}
		if mr.inputInvariant {
			a.Flags = append(a.Flags, puzzles.FlagModelInputInvariant)
		}
	}
	return out, nil
}

// maxPicturePixels bounds a picture: 16 Mpx is 64 MiB while it is drawn,
// which a 4 GB Jetson can spare; a challenges file with hundreds of tasks
// (and full traces) would need gigabytes.
const maxPicturePixels = 4096 * 4096

// answerPicture draws a file's tasks and answers, one after the other, as
// one PNG (puzzles.AnswerPicture).
func answerPicture(file *puzzles.File, answers []puzzles.AnswerFile) ([]byte, error) {
	var rows [][]puzzles.Grid
	for i, task := range file.Tasks {
		rows = append(rows, puzzles.AnswerPicture(task, answers[i])...)
	}
	if _, w, h := puzzles.Layout(rows); w*h > maxPicturePixels {
		return nil, fmt.Errorf("the picture of %d task(s) would be %dx%d pixels, over the %d-pixel limit: draw fewer tasks (or no full trace)", len(file.Tasks), w, h, maxPicturePixels)
	}
	var buf bytes.Buffer
	if err := puzzles.WritePNG(&buf, rows); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Solver answers task files one at a time with one loaded model: what
// `hrmd solve` does. The daemon batches across files instead.
type Solver struct {
	Model     *engine.Model
	Device    string // runtime.device in answers
	DemoCheck bool   // also run the demonstration inputs and count exact matches
	Run       engine.RunOptions
	// InputInvariant: the probe found the model ignores its input; every
	// answer is flagged.
	InputInvariant bool
	Augmentations  int // test-time variants per test input (inference.augmentations)
}

// Solve answers every task of a file, in order. Every task is checked
// before any runs, so a bad one fails the file at once.
func (s *Solver) Solve(ctx context.Context, file *puzzles.File) ([]puzzles.AnswerFile, error) {
	b := s.Model.Bundle()
	plans := make([][]row, len(file.Tasks))
	for i, task := range file.Tasks {
		var err error
		if plans[i], err = planTask(task, taskPrefix(file, task), b.Manifest.Grid, s.DemoCheck, s.Augmentations); err != nil {
			return nil, err
		}
	}
	mr := newModelRun(s.Model, s.Device, s.Run.Trace != "")
	mr.inputInvariant = s.InputInvariant
	answers := make([]puzzles.AnswerFile, 0, len(file.Tasks))
	for i, task := range file.Tasks {
		started := time.Now()
		results, err := s.Model.Run(ctx, encodeRows(b, task, plans[i]), s.Run)
		if err != nil {
			return nil, err
		}
		a, err := mr.assemble(task, plans[i], results, time.Since(started), s.DemoCheck)
		if err != nil {
			return nil, err
		}
		answers = append(answers, a)
	}
	return answers, nil
}
