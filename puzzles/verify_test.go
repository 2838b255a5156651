package puzzles

import (
	"strings"
	"testing"
)

// testSudoku is a solved Sudoku (a shifted pattern that keeps every row,
// column and box whole) and a puzzle of it with a third of its cells blank.
func testSudoku() (solved, puzzle Grid) {
	solved, puzzle = NewGrid(9, 9), NewGrid(9, 9)
	for r := range 9 {
		for c := range 9 {
			solved[r][c] = (r*3+r/3+c)%9 + 1
			if (r*9+c)%3 != 0 {
				puzzle[r][c] = solved[r][c]
			}
		}
	}
	return solved, puzzle
}

func cloneGrid(g Grid) Grid {
	out := NewGrid(g.Rows(), g.Cols())
	for r := range g {
		copy(out[r], g[r])
	}
	return out
}

func TestVerifySudoku(t *testing.T) {
	solved, puzzle := testSudoku()
	edit := func(f func(g Grid)) Grid {
		g := cloneGrid(solved)
		f(g)
		return g
	}
	// Swapping two cells of a row keeps the row whole and breaks two columns.
	swapped := edit(func(g Grid) { g[0][1], g[0][2] = g[0][2], g[0][1] })
	swappedPuzzle := cloneGrid(puzzle)
	swappedPuzzle[0][1], swappedPuzzle[0][2] = 0, 0
	tests := []struct {
		name      string
		puzzle    Grid
		answer    Grid
		verdict   string
		violation string
	}{
		{"solved", puzzle, solved, VerifiedValid, ""},
		{"a given changed", puzzle, edit(func(g Grid) { g[0][1] = 9 }), VerifiedInvalid,
			"row 0 column 1: the given 2 became 9"},
		{"a blank left", puzzle, edit(func(g Grid) { g[4][3] = 0 }), VerifiedInvalid, "row 4 column 3 is left blank"},
		{"a digit twice in a row", puzzle, edit(func(g Grid) { g[3][0] = 5 }), VerifiedInvalid,
			"the digit 5 is twice in row 3: row 3 column 0 and row 3 column 3"},
		{"a digit twice in a column", swappedPuzzle, swapped, VerifiedInvalid,
			"the digit 3 is twice in column 1: row 0 column 1 and row"},
		{"no grid", puzzle, Grid{}, VerifiedInvalid, "the answer is 0x0, not 9x9"},
	}
	for _, tt := range tests {
		verdict, violation := EncodingSudoku.Verify(tt.puzzle, tt.answer)
		if verdict != tt.verdict || !strings.HasPrefix(violation, tt.violation) || (tt.violation == "") != (violation == "") {
			t.Errorf("%s: %s %q, want %s %q", tt.name, verdict, violation, tt.verdict, tt.violation)
		}
	}
	// Each row the one before shifted by one keeps rows and columns whole
	// and breaks the boxes.
	boxes := NewGrid(9, 9)
	for r := range 9 {
		for c := range 9 {
			boxes[r][c] = (r+c)%9 + 1
		}
	}
	verdict, violation := EncodingSudoku.Verify(NewGrid(9, 9), boxes)
	if want := "the digit 2 is twice in box 0 (rows 0-2, columns 0-2): row 0 column 1 and row 1 column 0"; verdict !=
		VerifiedInvalid || violation != want {
		t.Errorf("rows and columns whole, boxes not: %s %q, want invalid %q", verdict, violation, want)
	}
	if v, _ := EncodingArcEOS.Verify(puzzle, solved); v != "" {
		t.Errorf("an ARC answer is verified %q; ARC has no rules to check", v)
	}
}

// testMaze is a 30x30 maze of walls with an open room in rows 1-3,
// columns 1-10, S at row 1 column 1, G at row 1 column 10: the shortest
// path runs along row 1 (8 path cells).
func testMaze() Grid {
	g := NewGrid(MazeSide, MazeSide) // all walls
	for r := 1; r <= 3; r++ {
		for c := 1; c <= 10; c++ {
			g[r][c] = MazeOpen
		}
	}
	g[1][1], g[1][10] = MazeStart, MazeGoal
	return g
}

func TestVerifyMaze(t *testing.T) {
	puzzle := testMaze()
	path := func(cells ...[2]int) Grid {
		g := cloneGrid(puzzle)
		for _, c := range cells {
			g[c[0]][c[1]] = MazePath
		}
		return g
	}
	row := func(r, from, to int) [][2]int {
		var cells [][2]int
		for c := from; c <= to; c++ {
			cells = append(cells, [2]int{r, c})
		}
		return cells
	}
	shortest := row(1, 2, 9)
	detour := row(2, 1, 10) // down from S, along row 2, up into G
	noGoal := path(shortest...)
	noGoal[1][10] = MazePath
	tests := []struct {
		name      string
		answer    Grid
		verdict   string
		violation string
	}{
		{"shortest", path(shortest...), VerifiedOptimal, ""},
		{"longer", path(detour...), VerifiedValid, ""},
		{"through a wall", path(append(row(1, 2, 8), [2]int{0, 9})...), VerifiedInvalid,
			`row 0 column 9 is '#' in the puzzle and 'o' in the answer`},
		{"disconnected", path(append(row(1, 2, 4), row(1, 6, 9)...)...), VerifiedInvalid,
			"the path does not reach G (row 1 column 10) from S (row 1 column 1)"},
		{"goal gone", noGoal, VerifiedInvalid, `row 1 column 10 is 'G' in the puzzle and 'o' in the answer`},
		{"a stray path cell", path(append(row(1, 2, 9), [2]int{3, 8})...), VerifiedInvalid,
			"row 3 column 8 is a path cell 'o' cut off from the path"},
		{"no path", puzzle, VerifiedInvalid, "the path does not reach G"},
		{"an open cell walled", func() Grid { g := path(shortest...); g[3][3] = MazeWall; return g }(), VerifiedInvalid,
			`row 3 column 3 is ' ' in the puzzle and '#' in the answer`},
	}
	for _, tt := range tests {
		verdict, violation := EncodingMaze.Verify(puzzle, tt.answer)
		if verdict != tt.verdict || !strings.HasPrefix(violation, tt.violation) || (tt.violation == "") != (violation == "") {
			t.Errorf("%s: %s %q, want %s %q", tt.name, verdict, violation, tt.verdict, tt.violation)
		}
	}
}
