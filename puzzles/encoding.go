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
)

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
	case EncodingArcEOS, EncodingRaw:
		return e, nil
	}
	return "", fmt.Errorf("encoding %q is not one of arc-eos, raw", s)
}

// Vocab is the number of distinct tokens the encoding uses.
func (e Encoding) Vocab() int {
	if e == EncodingRaw {
		return 10
	}
	return 12
}

// Encode writes g's tokens into dst, a side x side grid in row-major order.
// g must fit (CheckFits).
func (e Encoding) Encode(g Grid, side int, dst []int64) {
	clear(dst[:side*side])
	offset := int64(0)
	if e == EncodingArcEOS {
		offset = tokenColour0
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
)

// Decode turns a prediction (side x side tokens) into the answer grid for test
// input in, using the demonstrations for the raw encoding's shape. An arc-eos
// prediction with no colour in its top-left cell decodes to an empty grid.
func (e Encoding) Decode(tokens []int64, side int, in Grid, train []Pair) (Grid, ShapeRule, error) {
	if e == EncodingArcEOS {
		return decodeArcEOS(tokens, side), ShapeEOS, nil
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
