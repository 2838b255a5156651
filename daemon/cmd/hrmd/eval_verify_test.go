package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
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

// sudokuPuzzle is a published Sudoku (the one on Wikipedia's Sudoku page)
// as sapient's CSV files write one: 81 characters, '.' for a blank.
const sudokuPuzzle = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"

// `hrmd solve` of every Sudoku and maze of the fixtures' golden files,
// written as text (an 81-character string, 30 rows of "# SG"), answers what
// PyTorch decoded (no grid where it predicted PAD), with the verdict of the
// puzzle's rules as puzzles.Encoding.Verify gives it, the attempts as text,
// and low_confidence exactly when invalid.
func TestSolveVerifiesSudokuAndMaze(t *testing.T) {
	dir := t.TempDir()
	for _, fixture := range []struct {
		model string
		enc   puzzles.Encoding
		form  puzzles.Form
	}{
		{sudokuBundle, puzzles.EncodingSudoku, puzzles.FormSudokuText},
		{mazeBundle, puzzles.EncodingMaze, puzzles.FormMazeText},
	} {
		for i, c := range testenv.ReadGolden(t, fixture.model).Cases {
			var input any = fixture.form.Text(c.Grid)
			if fixture.enc == puzzles.EncodingSudoku {
				input = strings.Join(fixture.form.Text(c.Grid), "")
			}
			task := filepath.Join(dir, fmt.Sprintf("%s-%d.json", fixture.enc, i))
			testenv.WriteJSON(t, task, map[string]any{"test": []any{map[string]any{"input": input}}})
			got := solveAnswer(t, task, "--model", fixture.model)
			want := puzzles.Grid(c.Decoded)
			if !got.Attempt1.Equal(want) || (want == nil) != (got.Attempt1.Rows() == 0) {
				t.Errorf("%s: attempt_1 %v, PyTorch %v", c.Source, got.Attempt1, want)
			}
			verdict, violation := fixture.enc.Verify(c.Grid, got.Attempt1)
			if want == nil {
				verdict, violation = puzzles.VerifiedInvalid, "no grid: the model predicted PAD, no value, for"
			}
			if got.Verified != verdict || !strings.HasPrefix(got.Violation, violation) ||
				(violation == "") != (got.Violation == "") {
				t.Errorf("%s: verified %s %q; the rules say %s %q", c.Source, got.Verified, got.Violation, verdict, violation)
			}
			low := slices.Contains(got.Flags, puzzles.FlagLowConfidence)
			if low != (got.Verified == puzzles.VerifiedInvalid) || got.Shape != puzzles.ShapeFixed ||
				slices.Contains(got.Flags, puzzles.FlagUnknownPuzzle) {
				t.Errorf("%s: flags %v, shape %s", c.Source, got.Flags, got.Shape)
			}
			if text := fixture.form.Text(got.Attempt1); !slices.Equal(got.Attempt1Text, text) {
				t.Errorf("%s: attempt_1_text %q, want %q", c.Source, got.Attempt1Text, text)
			}
		}
	}
}

// A puzzle the model's encoding does not take is refused with its code, and
// a message naming the grid and the fix.
func TestSolveRefusesPuzzlesOfAnotherKind(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, input any) string {
		path := filepath.Join(dir, name)
		testenv.WriteJSON(t, path, map[string]any{"test": []any{map[string]any{"input": input}}})
		return path
	}
	sudoku := write("sudoku.json", sudokuPuzzle)
	clash := write("clash.json", "55"+sudokuPuzzle[2:])
	for _, tt := range []struct {
		name, task, model, want string
	}{
		{"a Sudoku to an ARC model", sudoku, tinyBundle,
			"error wrong_form: test[0].input is a Sudoku written as text; the model (encoding arc-eos) takes ARC grids"},
		{"a Sudoku to a maze model", sudoku, mazeBundle,
			"error wrong_form: test[0].input is a Sudoku written as text; the model (encoding maze) takes a maze"},
		{"a given twice", clash, sudokuBundle,
			"error sudoku_conflict: test[0].input: the digit 5 is twice in row 0: row 0 column 0 and row 0 column 1"},
	} {
		r := runHrmd(t, "solve", tt.task, "--model", tt.model)
		if r.Code != 2 || r.Stdout != "" || !strings.HasPrefix(r.Stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tt.name, r.Code, r.Stderr, tt.want)
		}
	}
}

// `hrmd eval` of a Sudoku set scores exact match where a task has its key
// and gives every answer's verdict, key or not.
func TestEvalSudokuSet(t *testing.T) {
	dir := t.TempDir()
	testenv.WriteJSON(t, filepath.Join(dir, "a.json"),
		map[string]any{"test": []any{map[string]any{"input": sudokuPuzzle}}})
	testenv.WriteJSON(t, filepath.Join(dir, "b.json"), map[string]any{"test": []any{map[string]any{
		"input": sudokuPuzzle, "output": strings.ReplaceAll(sudokuPuzzle, ".", "1")}}})
	r, rep := runEval(t, dir, "--model", sudokuBundle)
	v := rep.Totals.Model.Verified
	if v == nil || v.Valid+v.Optimal+v.Invalid != 2 || rep.Totals.Model.Tasks != 1 || !rep.Tasks[0].NoKey ||
		rep.Tasks[1].NoKey || len(rep.Tasks[0].Verified) != 1 {
		t.Errorf("report: totals %+v, tasks %+v", rep.Totals.Model, rep.Tasks)
	}
	if !strings.Contains(r.Stdout, "verified by the puzzles' rules, without the key:") {
		t.Errorf("stdout:\n%s", r.Stdout)
	}
}
