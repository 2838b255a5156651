package answer

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/puzzles"
)

// fixedBundle is a bundle of encoding enc with the blank puzzle row alone,
// as sapient's Sudoku and maze checkpoints have.
func fixedBundle(t *testing.T, enc puzzles.Encoding) *bundle.Bundle {
	t.Helper()
	idx, err := bundle.NewPuzzleIndex([]string{bundle.BlankPuzzle}, 4)
	if err != nil {
		t.Fatal(err)
	}
	return &bundle.Bundle{Manifest: bundle.Manifest{Grid: enc.Side()}, Puzzles: idx, Encoding: enc}
}

// assembleAnswering plans task on b and assembles what a model answering
// answer (in each variant's frame) with a halt of 0.1 would give; edit may
// change each row's tokens.
func assembleAnswering(
	t *testing.T,
	b *bundle.Bundle,
	task puzzles.Task,
	answer puzzles.Grid,
	opts Options,
	edit func(tokens []int64),
) puzzles.Answer {
	t.Helper()
	rows, err := Plan(task, "", b, opts)
	if err != nil {
		t.Fatal(err)
	}
	side := b.Manifest.Grid
	results := make([]engine.RowResult, len(rows))
	for i, r := range rows {
		results[i] = engine.RowResult{Cycles: 16, HaltedBy: "max_cycles", Halt: 0.1, Tokens: make([]int64, side*side)}
		b.Encoding.Encode(r.aug.Apply(answer), side, results[i].Tokens)
		if edit != nil {
			edit(results[i].Tokens)
		}
	}
	out, err := Assembler{Bundle: b}.Assemble(task, rows, results, time.Millisecond, opts)
	if err != nil {
		t.Fatal(err)
	}
	return out.Answers[0]
}

func parseTask(t *testing.T, input any) puzzles.Task {
	t.Helper()
	in, _ := json.Marshal(input)
	f, err := puzzles.Parse([]byte(`{"test":[{"input":`+string(in)+`}]}`), "t", puzzles.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return f.Tasks[0]
}

// A Sudoku answer is verified by the rules: a solution is valid and not
// low_confidence however low its halt; a hand-broken one is invalid, names
// the violation, and has confidence 0; a PAD cell makes it no grid, and
// invalid; the Sudoku's own variants vote, mapped back exactly.
func TestAssembleVerifiesSudoku(t *testing.T) {
	solved, puzzle := puzzles.NewGrid(9, 9), puzzles.NewGrid(9, 9)
	for r := range 9 {
		for c := range 9 {
			solved[r][c] = (r*3+r/3+c)%9 + 1
			if (r*9+c)%3 != 0 {
				puzzle[r][c] = solved[r][c]
			}
		}
	}
	text := strings.Join(puzzles.FormSudokuText.Text(puzzle), "")
	task := parseTask(t, text)
	b := fixedBundle(t, puzzles.EncodingSudoku)
	broken := puzzles.NewGrid(9, 9)
	for r := range 9 {
		copy(broken[r], solved[r])
	}
	broken[0][0], broken[0][3] = broken[0][3], broken[0][0] // both blanks in the puzzle: two columns break
	tests := []struct {
		name      string
		answer    puzzles.Grid
		opts      Options
		pad       bool
		verified  string
		violation string
	}{
		{"solved", solved, Options{}, false, puzzles.VerifiedValid, ""},
		{"solved, 8 variants voting", solved, Options{Augmentations: 8}, false, puzzles.VerifiedValid, ""},
		{"hand-broken", broken, Options{}, false, puzzles.VerifiedInvalid,
			"the digit 4 is twice in column 0: row 0 column 0 and row"},
		{"a PAD cell", solved, Options{}, true, puzzles.VerifiedInvalid,
			"no grid: the model predicted PAD, no value, for 1 of its 81 cells"},
	}
	for _, tt := range tests {
		var edit func([]int64)
		if tt.pad {
			edit = func(tokens []int64) { tokens[40] = puzzles.TokenPad }
		}
		a := assembleAnswering(t, b, task, tt.answer, tt.opts, edit)
		if a.Verified != tt.verified || !strings.HasPrefix(a.Violation, tt.violation) ||
			(tt.violation == "") != (a.Violation == "") {
			t.Errorf("%s: verified %s %q, want %s %q", tt.name, a.Verified, a.Violation, tt.verified, tt.violation)
		}
		low := slices.Contains(a.Flags, puzzles.FlagLowConfidence)
		if valid := tt.verified == puzzles.VerifiedValid; low == valid || (!valid && a.Confidence != 0) {
			t.Errorf("%s: flags %v, confidence %v", tt.name, a.Flags, a.Confidence)
		}
		if slices.Contains(a.Flags, puzzles.FlagUnknownPuzzle) || slices.Contains(a.Flags, puzzles.FlagShapeInferred) {
			t.Errorf("%s: flags %v; a Sudoku model knows every Sudoku, and its size", tt.name, a.Flags)
		}
		if slices.Contains(a.Flags, puzzles.FlagNoGrid) != tt.pad {
			t.Errorf("%s: flags %v", tt.name, a.Flags)
		}
		if tt.opts.Augmentations > 0 && (a.Votes == nil || a.Votes.Attempt1 != 9 || !a.Attempt1.Equal(solved)) {
			t.Errorf("%s: votes %+v for %v; every variant, mapped back, is the solution", tt.name, a.Votes, a.Attempt1)
		}
		want := puzzles.FormSudokuText.Text(a.Attempt1)
		if !slices.Equal(a.Attempt1Text, want) || (len(want) == 0) != tt.pad {
			t.Errorf("%s: attempt_1_text %q, want %q (the input was a string)", tt.name, a.Attempt1Text, want)
		}
	}
}

// A maze answer is optimal, valid or invalid by its path; an input written
// as rows of text is answered in rows of text too.
func TestAssembleVerifiesMaze(t *testing.T) {
	puzzle := puzzles.NewGrid(30, 30) // walls, and a room in rows 1-3, columns 1-10
	for r := 1; r <= 3; r++ {
		for c := 1; c <= 10; c++ {
			puzzle[r][c] = puzzles.MazeOpen
		}
	}
	puzzle[1][1], puzzle[1][10] = puzzles.MazeStart, puzzles.MazeGoal
	task := parseTask(t, puzzles.FormMazeText.Text(puzzle))
	b := fixedBundle(t, puzzles.EncodingMaze)
	withPath := func(r, from, to int) puzzles.Grid {
		g := puzzles.NewGrid(30, 30)
		for i := range g {
			copy(g[i], puzzle[i])
		}
		for c := from; c <= to; c++ {
			g[r][c] = puzzles.MazePath
		}
		return g
	}
	for _, tt := range []struct {
		name     string
		answer   puzzles.Grid
		verified string
	}{
		{"shortest", withPath(1, 2, 9), puzzles.VerifiedOptimal},
		{"a gap", withPath(1, 2, 8), puzzles.VerifiedInvalid},
	} {
		a := assembleAnswering(t, b, task, tt.answer, Options{Augmentations: 4}, nil)
		if a.Verified != tt.verified || a.Votes != nil {
			t.Errorf("%s: verified %s %q, votes %+v; want %s and no variants", tt.name, a.Verified, a.Violation, a.Votes,
				tt.verified)
		}
		if want := puzzles.FormMazeText.Text(tt.answer); !slices.Equal(a.Attempt1Text, want) {
			t.Errorf("%s: attempt_1_text %q, want %q", tt.name, a.Attempt1Text, want)
		}
		if tt.verified == puzzles.VerifiedOptimal && a.Attempt1Text[1][:12] != "#SooooooooG#" {
			t.Errorf("%s: row 1 of attempt_1_text %q, want the path drawn in 'o'", tt.name, a.Attempt1Text[1])
		}
	}
}
