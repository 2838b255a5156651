package puzzles

import "fmt"

// Verdicts of an answer checked without the key (Answer.Verified).
const (
	// VerifiedValid: a Sudoku filled by its rules with every given kept; a
	// maze path from S to G through open cells, longer than the shortest.
	VerifiedValid = "valid"
	// VerifiedOptimal: a valid maze path as short as the shortest.
	VerifiedOptimal = "optimal"
	// VerifiedInvalid: the answer breaks a rule; Answer.Violation says the first.
	VerifiedInvalid = "invalid"
)

// Verifies reports whether the encoding's answers can be checked without
// the key: a Sudoku's or a maze's can, an ARC task's cannot.
func (e Encoding) Verifies() bool { return e.Fixed() }

// Verify checks answer against puzzle, the test input it answers, by the
// puzzle's own rules. It gives "" for an encoding without them (ARC), else a
// verdict and, when invalid, the first violation found. Rows, columns and
// boxes count from 0, as in the file.
func (e Encoding) Verify(puzzle, answer Grid) (verdict, violation string) {
	if !e.Verifies() {
		return "", ""
	}
	side := e.Side()
	if answer.Rows() != side || answer.Cols() != side {
		return VerifiedInvalid, fmt.Sprintf("the answer is %s, not %dx%d", answer.Size(), side, side)
	}
	if e == EncodingMaze {
		return verifyMaze(puzzle, answer)
	}
	for r, row := range puzzle {
		for c, v := range row {
			if v != 0 && answer[r][c] != v {
				return VerifiedInvalid, fmt.Sprintf("row %d column %d: the given %d became %d", r, c, v, answer[r][c])
			}
		}
	}
	if v := sudokuClash(answer, true); v != "" {
		return VerifiedInvalid, v
	}
	return VerifiedValid, ""
}

// sudokuClash is the first breach of the Sudoku rule in g: a blank (when
// full), then a digit twice in a row, a column, then a box; "" if none.
func sudokuClash(g Grid, full bool) string {
	if full {
		for r, row := range g {
			for c, v := range row {
				if v == 0 {
					return fmt.Sprintf("row %d column %d is left blank", r, c)
				}
			}
		}
	}
	type unit struct {
		name  string
		cells func(i int) (r, c int)
	}
	units := []unit{
		{"row", func(i int) (int, int) { return 0, i }},
		{"column", func(i int) (int, int) { return i, 0 }},
		{"box", func(i int) (int, int) { return i / 3, i % 3 }},
	}
	for _, u := range units {
		for n := range SudokuSide {
			var seen [10]int // the digit's first cell in the unit, +1
			for i := range SudokuSide {
				dr, dc := u.cells(i)
				r, c := sudokuCell(u.name, n, dr, dc)
				v := g[r][c]
				if v == 0 {
					continue
				}
				if seen[v] > 0 {
					fdr, fdc := u.cells(seen[v] - 1)
					fr, fc := sudokuCell(u.name, n, fdr, fdc)
					return fmt.Sprintf(
						"the digit %d is twice in %s: row %d column %d and row %d column %d",
						v,
						unitName(u.name, n),
						fr,
						fc,
						r,
						c,
					)
				}
				seen[v] = i + 1
			}
		}
	}
	return ""
}

// sudokuCell is the cell of unit n (row, column or box) at offset dr, dc.
func sudokuCell(unit string, n, dr, dc int) (r, c int) {
	switch unit {
	case "row":
		return n, dc
	case "column":
		return dr, n
	}
	return n/3*3 + dr, n%3*3 + dc
}

// unitName names unit n so that a person finds it: a box by its rows and columns.
func unitName(unit string, n int) string {
	if unit == "box" {
		return fmt.Sprintf("box %d (rows %d-%d, columns %d-%d)", n, n/3*3, n/3*3+2, n%3*3, n%3*3+2)
	}
	return fmt.Sprintf("%s %d", unit, n)
}

// verifyMaze checks a maze answer: the puzzle's walls, S and G unchanged, a
// path 'o' only on open cells, G reached from S stepping up, down, left or
// right through path cells, and no path cell off that path's connected
// whole. It is optimal when it has as many path cells as the shortest
// path (by breadth-first search through the puzzle's open cells) has
// between S and G: then its cells are such a shortest path.
func verifyMaze(puzzle, answer Grid) (verdict, violation string) {
	paths := 0
	for r, row := range puzzle {
		for c, v := range row {
			got := answer[r][c]
			kept := got == v || (v == MazeOpen && got == MazePath)
			if !kept {
				return VerifiedInvalid, fmt.Sprintf(
					"row %d column %d is %q in the puzzle and %q in the answer (only an open cell may become path 'o')",
					r, c, MazeChars[v], MazeChars[got],
				)
			}
			if got == MazePath {
				paths++
			}
		}
	}
	start, okS := mazeFind(puzzle, MazeStart)
	goal, okG := mazeFind(puzzle, MazeGoal)
	if !okS || !okG {
		return VerifiedInvalid, "the puzzle has no S or no G: no path can be right"
	}
	onPath := func(v int) bool { return v == MazePath || v == MazeGoal || v == MazeStart }
	dist := mazeDistances(answer, start, onPath)
	if dist[goal[0]][goal[1]] < 0 {
		return VerifiedInvalid, fmt.Sprintf(
			"the path does not reach G (row %d column %d) from S (row %d column %d) through path cells 'o'",
			goal[0], goal[1], start[0], start[1],
		)
	}
	for r, row := range answer {
		for c, v := range row {
			if v == MazePath && dist[r][c] < 0 {
				return VerifiedInvalid, fmt.Sprintf("row %d column %d is a path cell 'o' cut off from the path", r, c)
			}
		}
	}
	shortest := mazeDistances(puzzle, start, func(v int) bool { return v != MazeWall })
	if paths == shortest[goal[0]][goal[1]]-1 {
		return VerifiedOptimal, ""
	}
	return VerifiedValid, ""
}

// mazeFind is the first cell of value v.
func mazeFind(g Grid, v int) ([2]int, bool) {
	for r, row := range g {
		for c, x := range row {
			if x == v {
				return [2]int{r, c}, true
			}
		}
	}
	return [2]int{}, false
}

// mazeDistances is every cell's number of steps from start through cells
// that pass, by breadth-first search; -1 where unreached.
func mazeDistances(g Grid, start [2]int, pass func(int) bool) [][]int {
	dist := make([][]int, g.Rows())
	for r := range dist {
		dist[r] = make([]int, g.Cols())
		for c := range dist[r] {
			dist[r][c] = -1
		}
	}
	dist[start[0]][start[1]] = 0
	queue := [][2]int{start}
	for len(queue) > 0 {
		at := queue[0]
		queue = queue[1:]
		for _, d := range [4][2]int{{-1, 0}, {1, 0}, {0, -1}, {0, 1}} {
			r, c := at[0]+d[0], at[1]+d[1]
			if r < 0 || c < 0 || r >= g.Rows() || c >= g.Cols() || dist[r][c] >= 0 || !pass(g[r][c]) {
				continue
			}
			dist[r][c] = dist[at[0]][at[1]] + 1
			queue = append(queue, [2]int{r, c})
		}
	}
	return dist
}
