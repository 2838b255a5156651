package puzzles

import "fmt"

// CheckTask checks that every grid of a task is one a model of encoding e
// takes: an ARC model takes grids of numbers; a Sudoku model 9x9 Sudokus
// (numbers 0-9 or text), whose given digits do not already clash; a maze
// model 30x30 mazes (numbers 0-4 or text) with one start and one goal and
// no path yet. prefix names the task in a multi-task file ("task \"x\" ").
// Outputs (known answers) are held to the form and size only.
func (e Encoding) CheckTask(t Task, prefix string) error {
	for _, section := range []struct {
		name  string
		pairs []Pair
	}{{"train", t.Train}, {"test", t.Test}} {
		for i, p := range section.pairs {
			where := fmt.Sprintf("%s%s[%d]", prefix, section.name, i)
			if err := e.checkGrid(where+".input", p.Input, p.InputForm, true); err != nil {
				return err
			}
			if p.Output == nil {
				continue
			}
			if err := e.checkGrid(where+".output", p.Output, p.OutputForm, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkGrid checks one grid; puzzle says it is an input, which must be a
// puzzle as the dataset builders make them.
func (e Encoding) checkGrid(where string, g Grid, form Form, puzzle bool) error {
	if !e.Fixed() {
		if form != FormNumbers {
			return errorf(
				CodeWrongForm,
				"%s is %s; the model (encoding %s) takes ARC grids: lists of rows of colours 0-9",
				where,
				form,
				e,
			)
		}
		return nil
	}
	own, name := FormSudokuText, "a Sudoku"
	if e == EncodingMaze {
		own, name = FormMazeText, "a maze"
	}
	if form != FormNumbers && form != own {
		return errorf(
			CodeWrongForm,
			"%s is %s; the model (encoding %s) takes %s: %s",
			where,
			form,
			e,
			name,
			e.forms(),
		)
	}
	if g.Rows() != e.Side() || g.Cols() != e.Side() {
		return errorf(
			CodeWrongSize,
			"%s is %s; %s is %dx%d (the model's encoding %s): %s",
			where,
			g.Size(),
			name,
			e.Side(),
			e.Side(),
			e,
			e.forms(),
		)
	}
	for r, row := range g {
		for c, v := range row {
			if v > e.maxCell() {
				return errorf(CodeBadCell, "%s row %d column %d is %d; %s", where, r, c, v, e.cells())
			}
		}
	}
	if !puzzle {
		return nil
	}
	if e == EncodingMaze {
		return checkMazePuzzle(where, g)
	}
	if v := sudokuClash(g, false); v != "" {
		return errorf(CodeSudokuConflict, "%s: %s; fix the puzzle's givens", where, v)
	}
	return nil
}

// forms says how a grid of the encoding is written.
func (e Encoding) forms() string {
	if e == EncodingMaze {
		return fmt.Sprintf(
			"30 strings of 30 characters of %q (wall, open, start, goal, path), one string of 900, or 30 rows of 30 "+
				"numbers 0-4 in that order",
			MazeChars,
		)
	}
	return "9 rows of 9 digits with 0 for a blank, one string of 81 digits with '.' or '0' for a blank, or 9 such " +
		"strings of 9"
}

// cells says what a cell of the encoding may be.
func (e Encoding) cells() string {
	if e == EncodingMaze {
		return fmt.Sprintf("a maze cell is 0-4: %q in that order (wall, open, start, goal, path)", MazeChars)
	}
	return "a Sudoku cell is a digit 1-9, or 0 for a blank"
}

// checkMazePuzzle holds a maze puzzle to what build_maze_dataset.py's
// inputs are: one start, one goal, and no path.
func checkMazePuzzle(where string, g Grid) error {
	var starts, goals []string
	for r, row := range g {
		for c, v := range row {
			at := fmt.Sprintf("row %d column %d", r, c)
			switch v {
			case MazePath:
				return errorf(
					CodeBadCell,
					"%s %s is a path cell 'o' (4); a maze puzzle has walls, open cells, one S and one G, and the model "+
						"draws the path: make it open (' ', 1)",
					where,
					at,
				)
			case MazeStart:
				starts = append(starts, at)
			case MazeGoal:
				goals = append(goals, at)
			}
		}
	}
	for _, end := range []struct {
		name, char string
		at         []string
	}{{"start", "S (2)", starts}, {"goal", "G (3)", goals}} {
		switch {
		case len(end.at) == 0:
			return errorf(CodeBadMaze, "%s has no %s %s; a maze has one start and one goal", where, end.name, end.char)
		case len(end.at) > 1:
			return errorf(
				CodeBadMaze,
				"%s has %d cells %s, at %s and %s; a maze has one %s: keep one",
				where,
				len(end.at),
				end.char,
				end.at[0],
				end.at[1],
				end.name,
			)
		}
	}
	return nil
}
