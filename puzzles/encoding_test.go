package puzzles

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The exporter's golden file holds real ARC grids with the tokens Python
// encoded them to, and Python's decoding of predictions: Go must agree exactly.
func TestArcEOSAgreesWithExporter(t *testing.T) {
	data, err := os.ReadFile("../engine/testdata/nova-tiny/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Cases []struct {
			Source    string
			Grid      Grid
			Tokens    []int64
			HaltCycle int `json:"halt_cycle"`
			Cycles    []struct{ Argmax []int64 }
			Decoded   Grid
		}
	}
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden.Cases) == 0 {
		t.Fatal("golden file has no cases")
	}
	tokens := make([]int64, 900)
	for _, c := range golden.Cases {
		EncodingArcEOS.Encode(c.Grid, 30, tokens)
		if !slices.Equal(tokens, c.Tokens) {
			t.Errorf("%s: Go's tokens differ from the exporter's", c.Source)
		}
		if got, rule, _ := EncodingArcEOS.Decode(c.Tokens, 30, nil, nil); !got.Equal(c.Grid) || rule != ShapeEOS {
			t.Errorf(
				"%s: decoding the input's own tokens gives %s by %s, want the %s input",
				c.Source,
				got.Size(),
				rule,
				c.Grid.Size(),
			)
		}
		got, _, _ := EncodingArcEOS.Decode(c.Cycles[c.HaltCycle-1].Argmax, 30, nil, nil)
		if !got.Equal(c.Decoded) || got == nil {
			t.Errorf("%s: decoded prediction %v, Python decoded %v", c.Source, got, c.Decoded)
		}
	}
}

func TestDecodeArcEOS(t *testing.T) {
	const side = 4
	tests := []struct {
		name   string
		tokens []int64
		want   Grid
	}{
		{"2x3 with EOS", []int64{
			2, 3, 4, 1,
			5, 6, 7, 1,
			1, 1, 1, 0,
			0, 0, 0, 0}, Grid{{0, 1, 2}, {3, 4, 5}}},
		{"full", []int64{
			2, 2, 2, 2,
			2, 2, 2, 2,
			2, 2, 2, 2,
			2, 2, 2, 11}, Grid{{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 9}}},
		// Row 0 is 4 wide (area 4); rows 0-2 are 2 wide (area 6): the larger wins.
		{"largest area", []int64{
			2, 2, 2, 2,
			3, 3, 0, 2,
			4, 4, 1, 2,
			0, 2, 2, 2}, Grid{{0, 0}, {1, 1}, {2, 2}}},
		// Row 0 alone (area 2) ties rows 0-1 at width 1 (area 2): the first wins.
		{"tie keeps first", []int64{
			2, 2, 1, 0,
			2, 0, 0, 0,
			0, 0, 0, 0,
			0, 0, 0, 0}, Grid{{0, 0}}},
		{"no colour", []int64{
			1, 2, 2, 2,
			2, 2, 2, 2,
			0, 0, 0, 0,
			0, 0, 0, 0}, Grid{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rule, err := EncodingArcEOS.Decode(tt.tokens, side, nil, nil)
			if err != nil || rule != ShapeEOS || !got.Equal(tt.want) || got == nil {
				t.Errorf("got %v %s %v, want %v", got, rule, err, tt.want)
			}
		})
	}
}

func TestEncodeEdges(t *testing.T) {
	tokens := make([]int64, 9)
	for i := range tokens {
		tokens[i] = 99 // Encode must overwrite everything
	}
	EncodingArcEOS.Encode(Grid{{0, 9}}, 3, tokens)
	if want := []int64{2, 11, 1, 1, 1, 0, 0, 0, 0}; !slices.Equal(tokens, want) {
		t.Errorf("arc-eos 1x2 in 3x3: %v, want %v", tokens, want)
	}
	EncodingRaw.Encode(Grid{{0, 9}, {4, 5}}, 3, tokens)
	if want := []int64{0, 9, 0, 4, 5, 0, 0, 0, 0}; !slices.Equal(tokens, want) {
		t.Errorf("raw 2x2 in 3x3: %v, want %v", tokens, want)
	}
}

func TestRawOutputShape(t *testing.T) {
	pair := func(ir, ic, or, oc int) Pair { return Pair{Input: NewGrid(ir, ic), Output: NewGrid(or, oc)} }
	tests := []struct {
		name       string
		train      []Pair
		in         Grid
		rows, cols int
		rule       ShapeRule
	}{
		{"no demos", nil, NewGrid(3, 4), 3, 4, ShapeFallback},
		{"same shape", []Pair{pair(2, 2, 2, 2), pair(5, 3, 5, 3)}, NewGrid(7, 8), 7, 8, ShapeSameAsInput},
		{"common output", []Pair{pair(2, 2, 1, 1), pair(5, 3, 1, 1)}, NewGrid(7, 8), 1, 1, ShapeCommonOutput},
		{"scale up 3x", []Pair{pair(3, 3, 9, 9), pair(2, 4, 6, 12)}, NewGrid(4, 5), 12, 15, ShapeScale},
		{"scale down 2x", []Pair{pair(4, 6, 2, 3), pair(8, 2, 4, 1)}, NewGrid(10, 6), 5, 3, ShapeScale},
		{"scale per axis", []Pair{pair(2, 2, 2, 4), pair(3, 1, 3, 2)}, NewGrid(5, 5), 5, 10, ShapeScale},
		{"scale leaves grid", []Pair{pair(3, 3, 9, 9), pair(2, 2, 6, 6)}, NewGrid(11, 4), 11, 4, ShapeFallback},
		{"scale not whole", []Pair{pair(4, 4, 2, 2), pair(6, 6, 3, 3)}, NewGrid(5, 4), 5, 4, ShapeFallback},
		{"inconsistent", []Pair{pair(2, 2, 4, 4), pair(2, 2, 6, 6)}, NewGrid(3, 3), 3, 3, ShapeFallback},
		{"not integer ratio", []Pair{pair(2, 2, 3, 3), pair(4, 4, 6, 6)}, NewGrid(2, 2), 2, 2, ShapeFallback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, cols, rule := RawOutputShape(tt.train, tt.in, 30)
			if rows != tt.rows || cols != tt.cols || rule != tt.rule {
				t.Errorf("got %dx%d by %s, want %dx%d by %s", rows, cols, rule, tt.rows, tt.cols, tt.rule)
			}
		})
	}
}

func TestDecodeRaw(t *testing.T) {
	tokens := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	train := []Pair{{Input: NewGrid(1, 1), Output: NewGrid(2, 2)}}
	got, rule, err := EncodingRaw.Decode(tokens, 3, Grid{{0}}, train)
	if err != nil || rule != ShapeCommonOutput || !got.Equal(Grid{{1, 2}, {4, 5}}) {
		t.Errorf("got %v by %s (%v)", got, rule, err)
	}
	if _, _, err := EncodingRaw.Decode([]int64{10, 0, 0, 0}, 2, Grid{{0}}, nil); err == nil {
		t.Error("a token outside 0-9 decoded without error")
	}
}

func TestCheckFits(t *testing.T) {
	if err := CheckFits(NewGrid(10, 10), 10, "test[0].input"); err != nil {
		t.Error(err)
	}
	err := CheckFits(NewGrid(11, 4), 10, "test[0].input")
	if err == nil || err.Error() != "grid_too_large: test[0].input is 11x4; the model's grid is 10x10" {
		t.Errorf("got %v", err)
	}
}

// A Sudoku and a maze encode as sapient's builders do (cell value + 1, PAD
// 0) and decode back; a prediction with a PAD cell decodes to no grid and
// the cell is counted; a token past the vocabulary is an error.
func TestSudokuAndMazeEncodings(t *testing.T) {
	solved, _ := testSudoku()
	for _, tt := range []struct {
		enc   Encoding
		grid  Grid
		vocab int
	}{{EncodingSudoku, solved, 11}, {EncodingMaze, testMaze(), 6}} {
		side := tt.enc.Side()
		if tt.enc.Vocab() != tt.vocab || side != tt.grid.Rows() {
			t.Errorf("%s: vocab %d side %d, want %d and %d", tt.enc, tt.enc.Vocab(), side, tt.vocab, tt.grid.Rows())
		}
		tokens := make([]int64, side*side)
		tt.enc.Encode(tt.grid, side, tokens)
		if tokens[0] != int64(tt.grid[0][0])+1 || tokens[side+1] != int64(tt.grid[1][1])+1 {
			t.Errorf("%s: tokens %v..., want each cell + 1", tt.enc, tokens[:side+2])
		}
		got, rule, err := tt.enc.Decode(tokens, side, tt.grid, nil)
		if err != nil || rule != ShapeFixed || !got.Equal(tt.grid) {
			t.Errorf("%s: decode %v %s %v, want the grid back", tt.enc, got, rule, err)
		}
		if n, _, _ := tt.enc.Unfilled(tokens, side); n != 0 {
			t.Errorf("%s: %d cells unfilled in an encoded grid", tt.enc, n)
		}
		tokens[side+2] = TokenPad
		got, _, err = tt.enc.Decode(tokens, side, tt.grid, nil)
		if n, r, c := tt.enc.Unfilled(tokens, side); err != nil || got == nil || got.Rows() != 0 || n != 1 || r != 1 ||
			c != 2 {
			t.Errorf("%s: PAD at row 1 column 2: grid %v, %d unfilled at %d,%d, %v", tt.enc, got, n, r, c, err)
		}
		tokens[3] = int64(tt.vocab)
		if _, _, err := tt.enc.Decode(tokens, side, tt.grid, nil); err == nil ||
			!strings.Contains(err.Error(), "token "+strconv.Itoa(tt.vocab)+" at row 0 column 3") {
			t.Errorf("%s: a token past the vocabulary decodes: %v", tt.enc, err)
		}
	}
	if _, err := ParseEncoding("sudokus"); err == nil || !strings.Contains(err.Error(), "arc-eos, raw, sudoku, maze") {
		t.Errorf("an unknown encoding: %v", err)
	}
}
