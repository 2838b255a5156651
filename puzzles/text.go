package puzzles

import (
	"fmt"
	"math"
	"strings"
)

// The fixed sides of the Sudoku and maze encodings.
const (
	SudokuSide = 9
	MazeSide   = 30
)

// MazeChars are a maze's characters in the order of their cell values
// (sapient's build_maze_dataset.py CHARSET): 0 wall, 1 open, 2 start, 3 goal,
// 4 path. A puzzle has no path; an answer marks its path with 'o'.
const MazeChars = "# SGo"

// A maze grid's cell values.
const (
	MazeWall = iota
	MazeOpen
	MazeStart
	MazeGoal
	MazePath
)

// sudokuChars are the characters of a Sudoku written as text: the digits,
// 0 a blank, and '.' a blank too (sapient's Sudoku CSV files).
const sudokuChars = "0123456789."

// Form is how a grid was written in its file.
type Form uint8

const (
	// FormNumbers is a list of rows of whole numbers: ARC's form, and the
	// integer form of a Sudoku (digits, 0 a blank) and a maze (MazeChars' values).
	FormNumbers Form = iota
	// FormSudokuText is a Sudoku as text: one string of 81 characters or
	// 9 strings of 9, digits with '.' or '0' for a blank.
	FormSudokuText
	// FormMazeText is a maze as text: one string of 900 characters or 30
	// strings of 30, of MazeChars.
	FormMazeText
)

// String names the form in messages.
func (f Form) String() string {
	switch f {
	case FormSudokuText:
		return "a Sudoku written as text"
	case FormMazeText:
		return "a maze written as text"
	}
	return "a grid of numbers"
}

// textForm is the form whose characters include r.
func textForm(r rune) (Form, bool) {
	switch {
	case strings.ContainsRune(sudokuChars, r):
		return FormSudokuText, true
	case strings.ContainsRune(MazeChars, r):
		return FormMazeText, true
	}
	return FormNumbers, false
}

// textCell is the cell value of character r of a grid of form f.
func textCell(f Form, r rune) (int, bool) {
	if f == FormSudokuText {
		if r == '.' {
			return 0, true
		}
		return int(r - '0'), r >= '0' && r <= '9'
	}
	i := strings.IndexRune(MazeChars, r)
	return i, i >= 0
}

// parseTextGrid reads a grid written as text: one string of n x n
// characters (a Sudoku's 81, a maze's 900, as sapient's CSV files hold
// them), or a list of strings, a row each. Its characters say its form.
func parseTextGrid(where string, raw []byte) (Grid, Form, error) {
	var lines []string
	if raw[0] == '"' {
		s := []rune(unquote(raw))
		known := len(s) == SudokuSide*SudokuSide || len(s) == MazeSide*MazeSide // a stray character is named below
		if !known && !oneForm(s) {
			return nil, 0, errorf(
				CodeNotAGrid,
				"%s is %s, not a list of rows (nor a Sudoku or a maze written as text: digits and '.', or %q)",
				where,
				kind(raw),
				MazeChars,
			)
		}
		n := int(math.Sqrt(float64(len(s))))
		if len(s) == 0 || n*n != len(s) {
			return nil, 0, errorf(
				CodeWrongSize,
				"%s is a string of %d characters; a grid written as one string is a square of them: 81 for a Sudoku, "+
					"900 for a maze (30 rows of 30)",
				where,
				len(s),
			)
		}
		for r := range n {
			lines = append(lines, string(s[r*n:(r+1)*n]))
		}
	} else {
		rows, n, _ := elements(raw, MaxSide)
		if n > MaxSide {
			return nil, 0, errorf(CodeGridTooLarge, "%s has %d rows; at most %d", where, n, MaxSide)
		}
		for r, row := range rows {
			if row[0] != '"' {
				return nil, 0, errorf(
					CodeNotAGrid,
					"%s row %d is %s; row 0 is a string, so every row is a string of the grid's characters",
					where,
					r,
					kind(row),
				)
			}
			lines = append(lines, unquote(row))
		}
	}
	return textGrid(where, lines)
}

// oneForm reports whether every character of s is of the form of its first.
func oneForm(s []rune) bool {
	if len(s) == 0 {
		return false
	}
	form, ok := textForm(s[0])
	for _, r := range s[1:] {
		if f, in := textForm(r); !in || f != form {
			return false
		}
	}
	return ok
}

// textGrid turns the rows of a text grid into its cells, its form set by its
// first character.
func textGrid(where string, lines []string) (Grid, Form, error) {
	if len(lines) > MaxSide {
		return nil, 0, errorf(CodeGridTooLarge, "%s has %d rows; at most %d", where, len(lines), MaxSide)
	}
	first := []rune(lines[0])
	if len(first) == 0 {
		return nil, 0, errorf(CodeEmptyGrid, "%s row 0 has no cells; a row is 1 to %d characters", where, MaxSide)
	}
	form, ok := textForm(first[0])
	if !ok {
		return nil, 0, errorf(
			CodeNotAGrid,
			"%s row 0 column 0 is %q: the grid is not a list of rows of numbers, nor a Sudoku written as text (digits, "+
				"'.' or '0' for a blank) nor a maze (the characters %q)",
			where,
			first[0],
			MazeChars,
		)
	}
	g := NewGrid(len(lines), len(first))
	for r, line := range lines {
		row := []rune(line)
		switch {
		case len(row) > MaxSide:
			return nil, 0, errorf(CodeGridTooLarge, "%s row %d has %d columns; at most %d", where, r, len(row), MaxSide)
		case len(row) != len(first):
			return nil, 0, errorf(
				CodeRaggedGrid,
				"%s row %d has %d characters; row 0 has %d (a grid is a rectangle)",
				where,
				r,
				len(row),
				len(first),
			)
		}
		for c, ch := range row {
			v, ok := textCell(form, ch)
			if !ok {
				return nil, 0, errorf(
					CodeBadCell,
					"%s row %d column %d is %q in %s; its characters are %s",
					where,
					r,
					c,
					ch,
					form,
					formChars(form),
				)
			}
			g[r][c] = v
		}
	}
	return g, form, nil
}

// formChars says which characters a text form has.
func formChars(f Form) string {
	if f == FormSudokuText {
		return "the digits 1-9 and '.' or '0' for a blank"
	}
	return fmt.Sprintf("%q: wall, open, start, goal, path", MazeChars)
}

// Text writes g in the characters of a text form, a row a string: a maze
// in MazeChars, a Sudoku in digits with '.' for a blank. nil for
// FormNumbers, or for a cell the form has no character for.
func (f Form) Text(g Grid) []string {
	if f == FormNumbers {
		return nil
	}
	rows := make([]string, len(g))
	for r, row := range g {
		var b strings.Builder
		for _, v := range row {
			switch {
			case f == FormSudokuText && v == 0:
				b.WriteByte('.')
			case f == FormSudokuText && v >= 1 && v <= 9:
				b.WriteByte(byte('0' + v))
			case f == FormMazeText && v >= 0 && v < len(MazeChars):
				b.WriteByte(MazeChars[v])
			default:
				return nil
			}
		}
		rows[r] = b.String()
	}
	return rows
}
