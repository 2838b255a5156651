package puzzles

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// sudokuText is g as one string, '.' for a blank (sapient's CSV form).
func sudokuText(g Grid) string { return strings.Join(FormSudokuText.Text(g), "") }

func quoted(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The forms of a Sudoku and a maze file all read as the same grid.
func TestSudokuAndMazeForms(t *testing.T) {
	_, puzzle := testSudoku()
	maze := testMaze()
	zeros := strings.ReplaceAll(sudokuText(puzzle), ".", "0")
	tests := []struct {
		name, input string
		want        Grid
		form        Form
	}{
		{"sudoku numbers", quoted(puzzle), puzzle, FormNumbers},
		{"sudoku string with dots", quoted(sudokuText(puzzle)), puzzle, FormSudokuText},
		{"sudoku string with zeros", quoted(zeros), puzzle, FormSudokuText},
		{"sudoku rows", quoted(FormSudokuText.Text(puzzle)), puzzle, FormSudokuText},
		{"maze rows", quoted(FormMazeText.Text(maze)), maze, FormMazeText},
		{"maze string", quoted(strings.Join(FormMazeText.Text(maze), "")), maze, FormMazeText},
		{"maze numbers", quoted(maze), maze, FormNumbers},
	}
	for _, tt := range tests {
		f, err := Parse([]byte(`{"test":[{"input":`+tt.input+`}]}`), "t", Limits{})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		p := f.Tasks[0].Test[0]
		if !p.Input.Equal(tt.want) || p.InputForm != tt.form {
			t.Errorf("%s: %v (form %v), want %v (%v)", tt.name, p.Input, p.InputForm, tt.want, tt.form)
		}
		enc := EncodingSudoku
		if tt.want.Rows() == MazeSide {
			enc = EncodingMaze
		}
		if err := enc.CheckTask(f.Tasks[0], ""); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// Every malformed Sudoku or maze file gets its code and a message naming
// the place and the fix.
func TestCheckTaskRefusesBadPuzzles(t *testing.T) {
	solved, puzzle := testSudoku()
	sudoku := sudokuText(puzzle)
	maze := FormMazeText.Text(testMaze())
	withRow := func(r int, row string) []string {
		out := append([]string(nil), maze...)
		out[r] = row
		return out
	}
	twoStarts := withRow(3, "#"+strings.Repeat(" ", 8)+"S"+strings.Repeat("#", 20))
	noGoal := withRow(1, "#S"+strings.Repeat(" ", 9)+strings.Repeat("#", 19))
	clash := cloneGrid(puzzle)
	clash[0][0] = 5 // row 0 has 5 at column 4 already
	tests := []struct {
		name  string
		enc   Encoding
		input string
		code  string
		msg   string
	}{
		{"ARC model, Sudoku text", EncodingArcEOS, quoted(sudoku), CodeWrongForm,
			"test[0].input is a Sudoku written as text; the model (encoding arc-eos) takes ARC grids"},
		{"Sudoku model, a maze", EncodingSudoku, quoted(maze), CodeWrongForm,
			"test[0].input is a maze written as text; the model (encoding sudoku) takes a Sudoku: 9 rows of 9 digits"},
		{"Sudoku 8x9", EncodingSudoku, quoted(puzzle[:8]), CodeWrongSize,
			"test[0].input is 8x9; a Sudoku is 9x9 (the model's encoding sudoku)"},
		{"Sudoku string of 80", EncodingSudoku, quoted(sudoku[:80]), CodeWrongSize,
			"test[0].input is a string of 80 characters; a grid written as one string is a square"},
		{"Sudoku stray character", EncodingSudoku, quoted(sudoku[:40] + "x" + sudoku[41:]), CodeBadCell,
			`test[0].input row 4 column 4 is 'x' in a Sudoku written as text; its characters are the digits`},
		{"Sudoku given twice in a row", EncodingSudoku, quoted(clash), CodeSudokuConflict,
			"test[0].input: the digit 5 is twice in row 0: row 0 column 0 and row 0 column 4; fix the puzzle's givens"},
		{"Sudoku key not 9x9", EncodingSudoku, quoted(puzzle) + `,"output":` + quoted(solved[:3]), CodeWrongSize,
			"test[0].output is 3x9"},
		{"maze model, a Sudoku", EncodingMaze, quoted(sudoku), CodeWrongForm,
			"is a Sudoku written as text; the model (encoding maze) takes a maze: 30 strings of 30 characters"},
		{"maze 29 rows", EncodingMaze, quoted(maze[:29]), CodeWrongSize, "test[0].input is 29x30; a maze is 30x30"},
		{"maze stray character", EncodingMaze, quoted(withRow(2, "#x"+maze[2][2:])), CodeBadCell,
			`test[0].input row 2 column 1 is 'x' in a maze written as text; its characters are "# SGo"`},
		{"maze number 5", EncodingMaze, quoted(func() Grid { g := testMaze(); g[2][2] = 5; return g }()), CodeBadCell,
			"test[0].input row 2 column 2 is 5; a maze cell is 0-4"},
		{"maze path in the puzzle", EncodingMaze, quoted(withRow(2, "#o"+maze[2][2:])), CodeBadCell,
			"test[0].input row 2 column 1 is a path cell 'o' (4)"},
		{"two starts", EncodingMaze, quoted(twoStarts), CodeBadMaze,
			"test[0].input has 2 cells S (2), at row 1 column 1 and row 3 column 9; a maze has one start: keep one"},
		{"no goal", EncodingMaze, quoted(noGoal), CodeBadMaze, "test[0].input has no goal G (3)"},
	}
	for _, tt := range tests {
		f, err := Parse([]byte(`{"test":[{"input":`+tt.input+`}]}`), "t", Limits{})
		if err == nil {
			err = tt.enc.CheckTask(f.Tasks[0], "")
		}
		var perr *Error
		if !errors.As(err, &perr) || perr.Code != tt.code || !strings.Contains(perr.Message, tt.msg) {
			t.Errorf("%s: got %v\n want %s: ...%s...", tt.name, err, tt.code, tt.msg)
		}
	}
}

// The made-up puzzles are ones the encoding takes, differ from one
// another, and are the same for the same seed.
func TestSampleGrids(t *testing.T) {
	if EncodingArcEOS.SampleGrids(2, 1) != nil {
		t.Error("ARC sample grids; its callers choose their own")
	}
	for _, enc := range []Encoding{EncodingSudoku, EncodingMaze} {
		grids := enc.SampleGrids(6, 7)
		task := Task{}
		for i, g := range grids {
			task.Test = append(task.Test, Pair{Input: g})
			for j := range i {
				if g.Equal(grids[j]) {
					t.Errorf("%s: samples %d and %d are equal", enc, i, j)
				}
			}
		}
		if err := enc.CheckTask(task, ""); err != nil {
			t.Errorf("%s: %v", enc, err)
		}
		if again := enc.SampleGrids(6, 7); !again[5].Equal(grids[5]) {
			t.Errorf("%s: the samples change from call to call", enc)
		}
	}
}

// Every encoding's step grid is a puzzle its models take.
func TestStepGrid(t *testing.T) {
	for _, enc := range []Encoding{EncodingArcEOS, EncodingRaw, EncodingSudoku, EncodingMaze} {
		task := Task{Test: []Pair{{Input: enc.StepGrid()}}}
		if err := enc.CheckTask(task, ""); err != nil {
			t.Errorf("%s: %v", enc, err)
		}
	}
	if got := EncodingArcEOS.StepGrid(); got.Rows() != 2 || got.Cols() != 2 {
		t.Errorf("arc-eos step grid %v, want 2x2", got)
	}
}
