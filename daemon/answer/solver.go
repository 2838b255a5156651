package answer

import (
	"context"
	"time"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/puzzles"
)

// Solver answers task files one at a time with one loaded model: what
// `hrmd solve` and `hrmd eval` do. The daemon batches across files instead.
type Solver struct {
	Model     *engine.Model
	Assembler Assembler
	Run       engine.RunOptions
	Options   Options
}

// Solve answers every task of a file, in order. Every task is checked
// before any runs, so a bad one fails the file at once.
func (s *Solver) Solve(ctx context.Context, file *puzzles.File) ([]puzzles.AnswerFile, error) {
	b := s.Model.Bundle()
	plans, err := PlanFile(file, b, s.Options)
	if err != nil {
		return nil, err
	}
	answers := make([]puzzles.AnswerFile, 0, len(file.Tasks))
	for i, task := range file.Tasks {
		started := time.Now()
		results, err := s.Model.RunPuzzles(ctx, Encode(b, task, plans[i]), PuzzleRows(plans[i]), s.Run)
		if err != nil {
			return nil, err
		}
		a, err := s.Assembler.Assemble(task, plans[i], results, time.Since(started), s.Options)
		if err != nil {
			return nil, err
		}
		answers = append(answers, a)
	}
	return answers, nil
}
