package daemon

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/puzzles"
)

// Solver answers task files with one loaded model.
type Solver struct {
	Model     *engine.Model
	Device    string // runtime.device in answers
	DemoCheck bool   // also run the demonstration inputs and count exact matches
	Run       engine.RunOptions
}

// rowKind tells test rows from demonstration rows in a task's batch.
type rowKind struct {
	test  bool
	index int // into task.Test or task.Train
}

// Solve answers every task of a file, in order. A test input too large for
// the model fails the whole file (grid_too_large): there would be no answer
// for it. A demonstration too large is left out of the demo check.
func (s *Solver) Solve(ctx context.Context, file *puzzles.File) ([]puzzles.AnswerFile, error) {
	b := s.Model.Bundle()
	side := b.Manifest.Grid
	for _, task := range file.Tasks {
		prefix := ""
		if file.Bundle {
			prefix = fmt.Sprintf("task %q ", task.ID)
		}
		for i, p := range task.Test {
			if err := puzzles.CheckFits(p.Input, side, fmt.Sprintf("%stest[%d].input", prefix, i)); err != nil {
				return nil, err
			}
		}
	}
	answers := make([]puzzles.AnswerFile, 0, len(file.Tasks))
	for _, task := range file.Tasks {
		a, err := s.solveTask(ctx, task)
		if err != nil {
			return nil, err
		}
		answers = append(answers, a)
	}
	return answers, nil
}

func (s *Solver) solveTask(ctx context.Context, task puzzles.Task) (puzzles.AnswerFile, error) {
	b := s.Model.Bundle()
	side := b.Manifest.Grid
	var rows [][]int64
	var kinds []rowKind
	add := func(g puzzles.Grid, k rowKind) {
		tokens := make([]int64, side*side)
		b.Encoding.Encode(g, side, tokens)
		rows = append(rows, tokens)
		kinds = append(kinds, k)
	}
	for i, p := range task.Test {
		add(p.Input, rowKind{test: true, index: i})
	}
	if s.DemoCheck {
		for i, p := range task.Train {
			if puzzles.CheckFits(p.Input, side, "") == nil {
				add(p.Input, rowKind{index: i})
			}
		}
	}
	started := time.Now()
	results, err := s.Model.Run(ctx, rows, s.Run)
	if err != nil {
		return puzzles.AnswerFile{}, err
	}
	latency := time.Since(started)

	out := puzzles.AnswerFile{
		Task:    task.ID,
		Answers: make([]puzzles.Answer, len(task.Test)),
		Model:   puzzles.ModelInfo{Name: b.Manifest.Name, Family: b.Manifest.Family, SHA256: b.SHA256},
		Runtime: puzzles.RuntimeInfo{
			Provider:  s.Model.Provider(),
			Precision: s.Model.Precision(),
			Device:    s.Device,
			LatencyMS: math.Round(float64(latency.Microseconds())/100) / 10,
		},
	}
	if s.DemoCheck {
		out.DemoCheck = &puzzles.DemoCheck{}
	}
	for i, r := range results {
		k := kinds[i]
		if !k.test {
			demo := task.Train[k.index]
			got, _, err := b.Encoding.Decode(r.Tokens, side, demo.Input, task.Train)
			out.DemoCheck.Pairs++
			if err == nil && got.Equal(demo.Output) {
				out.DemoCheck.Solved++
			}
			continue
		}
		in := task.Test[k.index].Input
		grid, rule, err := b.Encoding.Decode(r.Tokens, side, in, task.Train)
		if err != nil {
			return out, fmt.Errorf("%s test[%d]: %w", task.ID, k.index, err)
		}
		a := puzzles.Answer{
			Attempt1: grid, Attempt2: grid,
			Cycles: r.Cycles, HaltedBy: r.HaltedBy,
			Confidence: math.Round(r.Halt*1e4) / 1e4,
			Flags:      []string{},
			Shape:      rule,
		}
		if grid.Rows() == 0 {
			a.Flags = append(a.Flags, puzzles.FlagNoGrid)
		}
		if s.Run.Trace != "" {
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
	return out, nil
}
