package answer

import (
	"fmt"
	"math"
	"time"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/puzzles"
)

// Assembler builds answer files from a model's results, and says in each
// which model computed them and how.
type Assembler struct {
	Bundle    *bundle.Bundle
	Provider  string
	Precision string
	Device    string // runtime.device
	// InputInvariant: the probe at load found the model's predictions do
	// not depend on its input; every answer is flagged.
	InputInvariant bool
}

// NewAssembler is the assembler for answers of a loaded model on device.
func NewAssembler(m *engine.Model, device string, inputInvariant bool) Assembler {
	return Assembler{
		Bundle:         m.Bundle(),
		Provider:       m.Provider(),
		Precision:      m.Precision(),
		Device:         device,
		InputInvariant: inputInvariant,
	}
}

// Assemble builds a task's answer file from the results of its rows, as
// Plan listed them; latency is the time the task's rows took.
func (as Assembler) Assemble(
	task puzzles.Task,
	rows []Row,
	results []engine.RowResult,
	latency time.Duration,
	opts Options,
) (puzzles.AnswerFile, error) {
	b := as.Bundle
	a := &assembly{as: as, task: task, rows: rows, results: results, opts: opts, side: b.Manifest.Grid}
	_, known := PuzzleOf(b, task)
	a.unknown = !known
	a.out = puzzles.AnswerFile{
		Task:    task.ID,
		Answers: make([]puzzles.Answer, len(task.Test)),
		Model:   puzzles.ModelInfo{Name: b.Manifest.Name, Family: b.Manifest.Family, SHA256: b.SHA256},
		Runtime: puzzles.RuntimeInfo{
			Provider:  as.Provider,
			Precision: as.Precision,
			Device:    as.Device,
			LatencyMS: math.Round(float64(latency.Microseconds())/100) / 10,
		},
	}
	// The demonstrations first: every test answer's confidence uses them.
	a.checkDemonstrations()
	if err := a.decodeTests(); err != nil {
		return a.out, err
	}
	a.vote()
	a.verify()
	a.flag()
	return a.out, nil
}

// assembly is one task's answer file under construction.
type assembly struct {
	as      Assembler
	task    puzzles.Task
	rows    []Row
	results []engine.RowResult
	opts    Options
	side    int
	out     puzzles.AnswerFile
	// variants holds each test input's decoded answers, mapped back to the
	// input's frame: the input's own first.
	variants [][]variant
	// unknown: the bundle has a puzzle table without a row for the task.
	unknown bool
	// pads counts, per test input, the cells its own row predicted PAD for
	// (Sudoku, maze: Encoding.Unfilled).
	pads []int
}

type variant struct {
	grid puzzles.Grid
	halt float64
}

// checkDemonstrations counts the demonstrations the model reproduces
// exactly (demo_check).
func (a *assembly) checkDemonstrations() {
	if !a.opts.DemoCheck {
		return
	}
	dc := &puzzles.DemoCheck{}
	for i, r := range a.results {
		k := a.rows[i]
		if k.test {
			continue
		}
		demo := a.task.Train[k.index]
		got, _, err := a.as.Bundle.Encoding.Decode(r.Tokens, a.side, demo.Input, a.task.Train)
		dc.Pairs++
		if err == nil && got.Equal(demo.Output) {
			dc.Solved++
		}
	}
	a.out.DemoCheck = dc
}

// decodeTests decodes every test row in its variant's frame. The input's
// own row gives the answer its cycles, shape rule and trace; every row,
// mapped back, is a variant for the vote.
func (a *assembly) decodeTests() error {
	a.variants = make([][]variant, len(a.task.Test))
	a.pads = make([]int, len(a.task.Test))
	for i, r := range a.results {
		k := a.rows[i]
		if !k.test {
			continue
		}
		vt := a.task
		if k.variant > 0 {
			vt = k.aug.ApplyTask(a.task) // the raw encoding's shape rules read the demonstrations
		}
		in := vt.Test[k.index].Input
		grid, rule, err := a.as.Bundle.Encoding.Decode(r.Tokens, a.side, in, vt.Train)
		if err != nil {
			return fmt.Errorf("%s test[%d] (%v): %w", a.task.ID, k.index, k.aug, err)
		}
		a.variants[k.index] = append(a.variants[k.index], variant{k.aug.Invert(grid), r.Halt})
		if k.Own() {
			a.pads[k.index], _, _ = a.as.Bundle.Encoding.Unfilled(r.Tokens, a.side)
			a.out.Answers[k.index] = a.answer(r, grid, rule, in)
		}
	}
	return nil
}

// answer is a test input's answer from its own row.
func (a *assembly) answer(
	r engine.RowResult,
	grid puzzles.Grid,
	rule puzzles.ShapeRule,
	in puzzles.Grid,
) puzzles.Answer {
	ans := puzzles.Answer{
		Attempt1: grid, Attempt2: grid,
		Cycles: r.Cycles, HaltedBy: r.HaltedBy,
		Halt:  round4(r.Halt),
		Flags: []string{},
		Shape: rule,
	}
	if a.opts.Trace {
		for _, c := range r.Trace {
			ct := puzzles.CycleTrace{Cycle: c.Cycle, Halt: round4(c.Halt), Changed: c.Changed}
			if c.Tokens != nil {
				ct.Grid, _, _ = a.as.Bundle.Encoding.Decode(c.Tokens, a.side, in, a.task.Train)
			}
			if a.opts.RawTrace {
				ct.Tokens, ct.HaltOutput = c.Tokens, c.HaltOut
			}
			ans.Trace = append(ans.Trace, ct)
		}
	}
	return ans
}

// vote lets the variants of each test input vote on its attempts (with
// test-time augmentation), and sets every answer's confidence.
func (a *assembly) vote() {
	for i := range a.out.Answers {
		ans := &a.out.Answers[i]
		if vs := a.variants[i]; len(vs) > 1 {
			grids, halts := make([]puzzles.Grid, len(vs)), make([]float64, len(vs))
			for j, v := range vs {
				grids[j], halts[j] = v.grid, v.halt
			}
			ans.Votes = &puzzles.Votes{Variants: len(vs)}
			if cands := puzzles.Vote(grids, halts); len(cands) > 0 {
				ans.Attempt1, ans.Attempt2 = cands[0].Grid, cands[0].Grid
				ans.Votes.Attempt1 = cands[0].Votes
				if len(cands) > 1 {
					ans.Attempt2, ans.Votes.Attempt2 = cands[1].Grid, cands[1].Votes
				}
				ans.Halt = round4(cands[0].MeanHalt)
			}
		}
		ans.Confidence = puzzles.Confidence(ans.Halt, a.out.DemoCheck, ans.Votes)
		if a.unknown {
			// Out of the model's distribution: its halt signal was learnt
			// with the puzzle's own embedding, and says less without it.
			ans.Confidence = round4(ans.Confidence / 2)
		}
	}
}

// verify checks each attempt_1 by the puzzle's rules (Sudoku, maze), writes
// the attempts as text where the input was, and sets the confidence an
// invalid answer has.
func (a *assembly) verify() {
	enc := a.as.Bundle.Encoding
	for i := range a.out.Answers {
		ans := &a.out.Answers[i]
		in := a.task.Test[i]
		ans.Attempt1Text, ans.Attempt2Text = in.InputForm.Text(ans.Attempt1), in.InputForm.Text(ans.Attempt2)
		if !enc.Verifies() {
			continue
		}
		ans.Verified, ans.Violation = enc.Verify(in.Input, ans.Attempt1)
		if ans.Attempt1.Rows() == 0 && a.pads[i] > 0 {
			ans.Violation = fmt.Sprintf(
				"no grid: the model predicted PAD, no value, for %d of its %d cells", a.pads[i], a.side*a.side)
		}
		ans.Confidence = puzzles.VerifiedConfidence(ans.Confidence, ans.Verified)
	}
}

// flag adds the warnings, last: same_as_other_test compares the task's
// final answers.
func (a *assembly) flag() {
	for i := range a.out.Answers {
		ans := &a.out.Answers[i]
		var others, otherInputs []puzzles.Grid
		for j, o := range a.out.Answers {
			if j != i {
				others, otherInputs = append(others, o.Attempt1), append(otherInputs, a.task.Test[j].Input)
			}
		}
		if ans.Attempt1.Rows() == 0 {
			ans.Flags = append(ans.Flags, puzzles.FlagNoGrid)
		}
		ans.Flags = append(ans.Flags, puzzles.AnswerFlags(ans.Attempt1, a.task.Test[i].Input, others, otherInputs)...)
		if ans.Shape != puzzles.ShapeEOS && ans.Shape != puzzles.ShapeFixed && ans.Attempt1.Rows() > 0 {
			ans.Flags = append(ans.Flags, puzzles.FlagShapeInferred)
		}
		if puzzles.IsLowConfidence(ans.Confidence, a.out.DemoCheck, ans.Verified) {
			ans.Flags = append(ans.Flags, puzzles.FlagLowConfidence)
		}
		if a.as.InputInvariant {
			ans.Flags = append(ans.Flags, puzzles.FlagModelInputInvariant)
		}
		if a.unknown {
			ans.Flags = append(ans.Flags, puzzles.FlagUnknownPuzzle)
		}
	}
}

func round4(f float64) float64 { return math.Round(f*1e4) / 1e4 }
