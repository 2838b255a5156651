package puzzles

import "fmt"

// Encoding is how a grid becomes the model's tokens (hrm.yaml `encoding`).
type Encoding string

const (
	// EncodingArcEOS is the encoding HRM's ARC models were trained with:
	// PAD 0, EOS 1, colour c -> c+2; an EOS row under the grid and an EOS
	// column right of it, so the model's prediction carries its own size.
	EncodingArcEOS Encoding = "arc-eos"
	// EncodingRaw is colour c -> c, padded with 0: the prediction has no
	// size, so the output shape comes from the demonstration pairs.
	EncodingRaw Encoding = "raw"
	// EncodingSudoku is sapient's Sudoku encoding (build_sudoku_dataset.py):
	// a 9x9 grid of digits, 0 the blank, digit d -> d+1, PAD 0.
	EncodingSudoku Encoding = "sudoku"
	// EncodingMaze is sapient's maze encoding (build_maze_dataset.py): a
	// 30x30 grid of the characters "# SGo", cell value v (MazeChars[v]) ->
	// v+1, PAD 0.
	EncodingMaze Encoding = "maze"
)

// encodingNames lists every encoding, for messages.
const encodingNames = "arc-eos, raw, sudoku, maze"

// arc-eos tokens.
const (
	TokenPad     = 0
	TokenEOS     = 1
	tokenColour0 = 2
	tokenColour9 = 11
)

// ParseEncoding checks an encoding name.
func ParseEncoding(s string) (Encoding, error) {
	switch e := Encoding(s); e {
	case EncodingArcEOS, EncodingRaw, EncodingSudoku, EncodingMaze:
		return e, nil
	}
	return "", fmt.Errorf("encoding %q is not one of %s", s, encodingNames)
}

// Vocab is the number of distinct tokens the encoding uses.
func (e Encoding) Vocab() int {
	switch e {
	case EncodingRaw:
		return 10
	case EncodingSudoku:
		return 11 // PAD and the digits 0-9
	case EncodingMaze:
		return 1 + len(MazeChars)
	}
	return 12
}

// Side is the one grid side the encoding fixes (9 for a Sudoku, 30 for a
// maze), or 0 when grids of any size up to the model's fit (ARC).
func (e Encoding) Side() int {
	switch e {
	case EncodingSudoku:
		return SudokuSide
	case EncodingMaze:
		return MazeSide
	}
	return 0
}

// Fixed reports whether every grid of the encoding is one square of Side():
// a prediction is that square, cell for cell, with no size of its own.
func (e Encoding) Fixed() bool { return e.Side() > 0 }

// maxCell is the largest cell value of a grid of a fixed encoding.
func (e Encoding) maxCell() int { return e.Vocab() - 2 }

// Encode writes g's tokens into dst, a side x side grid in row-major order.
// g must fit (CheckFits).
func (e Encoding) Encode(g Grid, side int, dst []int64) {
	clear(dst[:side*side])
	offset := int64(0)
	switch e {
	case EncodingArcEOS:
		offset = tokenColour0
	case EncodingSudoku, EncodingMaze:
		offset = 1 // PAD 0, then the cell values in order
	}
	for r, row := range g {
		for c, colour := range row {
			dst[r*side+c] = int64(colour) + offset
		}
	}
	if e != EncodingArcEOS {
		return
	}
	rows, cols := g.Rows(), g.Cols()
	if rows < side {
		for c := range cols {
			dst[rows*side+c] = TokenEOS
		}
	}
	if cols < side {
		for r := range rows {
			dst[r*side+cols] = TokenEOS
		}
	}
}

// ShapeRule says where an answer's size came from.
type ShapeRule string

const (
	ShapeEOS          ShapeRule = "eos"            // arc-eos: the model's own EOS markers
	ShapeSameAsInput  ShapeRule = "same_as_input"  // raw: every demonstration keeps its shape
	ShapeCommonOutput ShapeRule = "common_output"  // raw: every demonstration output has one shape
	ShapeScale        ShapeRule = "scale"          // raw: one integer scale maps each input to its output
	ShapeFallback     ShapeRule = "input_fallback" // raw: no rule fits; the input's shape, a guess
	ShapeFixed        ShapeRule = "fixed"          // sudoku, maze: the encoding's one size
)

// Decode turns a prediction (side x side tokens) into the answer grid for test
// input in, using the demonstrations for the raw encoding's shape. An arc-eos
// prediction with no colour in its top-left cell decodes to an empty grid.
func (e Encoding) Decode(tokens []int64, side int, in Grid, train []Pair) (Grid, ShapeRule, error) {
	switch e {
	case EncodingArcEOS:
		return decodeArcEOS(tokens, side), ShapeEOS, nil
	case EncodingSudoku, EncodingMaze:
		g, err := e.decodeFixed(tokens, side)
		return g, ShapeFixed, err
	}
	rows, cols, rule := RawOutputShape(train, in, side)
	g := NewGrid(rows, cols)
	for r := range rows {
		for c := range cols {
			t := tokens[r*side+c]
			if t < 0 || t > 9 {
				return nil, rule, fmt.Errorf(
					"raw prediction has token %d at row %d column %d; the raw encoding's colours are 0-9",
					t,
					r,
					c,
				)
			}
			g[r][c] = int(t)
		}
	}
	return g, rule, nil
}

// decodeFixed reads a Sudoku's or a maze's side x side prediction: token
// t is the cell value t-1. PAD (token 0) stands for no cell at all, which
// sapient's labels never hold: a prediction with a PAD cell decodes to no
// grid (as the exporter's own decoding, engine/export/tasks.py, has it),
// and Unfilled says how many cells were PAD. A token beyond the vocabulary
// cannot come from the model: an error.
func (e Encoding) decodeFixed(tokens []int64, side int) (Grid, error) {
	if side != e.Side() {
		return nil, fmt.Errorf("a %s prediction is %dx%d; the model's grid is %d", e, e.Side(), e.Side(), side)
	}
	g := NewGrid(side, side)
	for r := range side {
		for c := range side {
			t := tokens[r*side+c]
			if t < 0 || t >= int64(e.Vocab()) {
				return nil, fmt.Errorf(
					"%s prediction has token %d at row %d column %d; the %s encoding's tokens are 0-%d",
					e, t, r, c, e, e.Vocab()-1,
				)
			}
			if t == TokenPad {
				g = Grid{}
			} else if g.Rows() > 0 {
				g[r][c] = int(t - 1)
			}
		}
	}
	return g, nil
}

// Unfilled counts the cells of a Sudoku's or a maze's prediction that are
// PAD, no cell value, and gives the first one's row and column; 0 for the
// other encodings, whose PAD only marks what lies outside the answer.
func (e Encoding) Unfilled(tokens []int64, side int) (n, row, col int) {
	if !e.Fixed() {
		return 0, 0, 0
	}
	for i := range side * side {
		if tokens[i] == TokenPad {
			if n == 0 {
				row, col = i/side, i%side
			}
			n++
		}
	}
	return n, row, col
}

// decodeArcEOS keeps the largest all-colour rectangle at the top left (the
// first of equal areas): scanning down, each row can only narrow the width.
func decodeArcEOS(tokens []int64, side int) Grid {
	bestRows, bestCols, width := 0, 0, side
	for r := range side {
		c := 0
		for c < width && tokens[r*side+c] >= tokenColour0 && tokens[r*side+c] <= tokenColour9 {
			c++
		}
		width = c
		if width == 0 {
			break
		}
		if (r+1)*width > bestRows*bestCols {
			bestRows, bestCols = r+1, width
		}
	}
	g := NewGrid(bestRows, bestCols)
	for r := range bestRows {
		for c := range bestCols {
			g[r][c] = int(tokens[r*side+c] - tokenColour0)
		}
	}
	return g
}

// RawOutputShape infers the answer's size for test input in from the
// demonstrations, trying the rules in order: every pair keeps its shape; every
// output has the same shape; one integer scale (up or down, per axis) maps every
// input to its output. When none holds, it falls back to the input's shape.
func RawOutputShape(train []Pair, in Grid, side int) (rows, cols int, rule ShapeRule) {
	if len(train) == 0 {
		return in.Rows(), in.Cols(), ShapeFallback
	}
	same, common := true, true
	first := train[0].Output
	for _, p := range train {
		if p.Input.Rows() != p.Output.Rows() || p.Input.Cols() != p.Output.Cols() {
			same = false
		}
		if p.Output.Rows() != first.Rows() || p.Output.Cols() != first.Cols() {
			common = false
		}
	}
	switch {
	case same:
		return in.Rows(), in.Cols(), ShapeSameAsInput
	case common:
		return first.Rows(), first.Cols(), ShapeCommonOutput
	}
	r, rOK := scaleAxis(train, in.Rows(), Grid.Rows)
	c, cOK := scaleAxis(train, in.Cols(), Grid.Cols)
	if rOK && cOK && r >= 1 && r <= side && c >= 1 && c <= side {
		return r, c, ShapeScale
	}
	return in.Rows(), in.Cols(), ShapeFallback
}

// scaleAxis applies the demonstrations' common ratio out/in along one axis to
// n, when every pair has the same ratio, it is an integer or the inverse of
// one, and it maps n to a whole number.
func scaleAxis(train []Pair, n int, dim func(Grid) int) (int, bool) {
	num, den := dim(train[0].Output), dim(train[0].Input)
	if num%den != 0 && den%num != 0 {
		return 0, false
	}
	for _, p := range train[1:] {
		if dim(p.Output)*den != num*dim(p.Input) {
			return 0, false
		}
	}
	if n*num%den != 0 {
		return 0, false
	}
	return n * num / den, true
}
