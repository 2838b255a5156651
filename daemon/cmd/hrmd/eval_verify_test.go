package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/puzzles"
)

// A Sudoku set scores exact match where a task has its key and reports the
// verdicts of every answer, key or not; a set without keys raises no
// warning about scores it does not have.
func TestEvalReportsVerdicts(t *testing.T) {
	solved, puzzle := puzzles.NewGrid(9, 9), puzzles.NewGrid(9, 9)
	for r := range 9 {
		for c := range 9 {
			solved[r][c] = (r*3+r/3+c)%9 + 1
			if c%2 == 0 {
				puzzle[r][c] = solved[r][c]
			}
		}
	}
	answer := func(g puzzles.Grid, verified string) puzzles.AnswerFile {
		return puzzles.AnswerFile{Answers: []puzzles.Answer{{Attempt1: g, Attempt2: g, Verified: verified, Cycles: 16}}}
	}
	for _, tt := range []struct {
		name     string
		keyed    bool
		warnings int
		table    string
	}{
		{"with keys", true, 0, "pass@1"},
		{"without keys", false, 0, "no task has its known outputs: exact match not scored"},
	} {
		rep := &evalReport{Tasks: []evalTaskResult{}, Warnings: []evalWarning{}}
		for _, bl := range puzzles.Baselines() {
			rep.Totals.Baselines = append(rep.Totals.Baselines, evalBaselineTotals{Name: bl.Name})
		}
		key := puzzles.Grid(nil)
		if tt.keyed {
			key = solved
		}
		task := func(id string) evalTask {
			return evalTask{Task: puzzles.Task{ID: id, Test: []puzzles.Pair{{Input: puzzle, Output: key}}}, file: id}
		}
		rep.add(task("right"), answer(solved, puzzles.VerifiedValid))
		rep.add(task("wrong"), answer(puzzle, puzzles.VerifiedInvalid))
		rep.summarise()
		m := rep.Totals.Model
		if m.Verified == nil || *m.Verified != (evalVerdicts{Valid: 1, Invalid: 1}) || len(rep.Warnings) != tt.warnings {
			t.Errorf("%s: verdicts %+v, warnings %+v", tt.name, m.Verified, rep.Warnings)
		}
		if tt.keyed != (m.Tasks == 2 && m.Pass1 == 1) || rep.Tasks[0].NoKey == tt.keyed {
			t.Errorf("%s: totals %+v, task %+v", tt.name, m.Totals, rep.Tasks[0])
		}
		var out bytes.Buffer
		printEvalTable(&out, rep)
		for _, want := range []string{
			"verified by the puzzles' rules, without the key: 1 valid, 0 optimal, 1 invalid of 2 answers",
			"summary: 2 tasks, 2 test inputs", tt.table,
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: the table has no %q:\n%s", tt.name, want, out.String())
			}
		}
	}
}
