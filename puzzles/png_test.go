package puzzles

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

// A picture decodes back to the grids it was drawn from: every cell's pixels
// are that cell's ARC colour, wherever the layout put the grid.
func TestWritePNGDecodesToTheGrids(t *testing.T) {
	rows := [][]Grid{
		{{{0, 1, 2}, {3, 4, 5}}, {{6, 7}, {8, 9}, {0, 0}}},
		{{}, {{9}}}, // an answer without a grid, then a 1x1
		{{{5, 5, 5, 5, 5}}},
	}
	var buf bytes.Buffer
	if err := WritePNG(&buf, rows); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	corners, width, height := Layout(rows)
	if img.Bounds() != image.Rect(0, 0, width, height) {
		t.Fatalf("picture is %v, layout says %dx%d", img.Bounds(), width, height)
	}
	for i, row := range rows {
		for j, g := range row {
			for r, cells := range g {
				for c, v := range cells {
					x, y := CellOrigin(corners[i][j].X, corners[i][j].Y, r, c)
					// The cell's corners and middle: the whole square is one colour.
					for _, p := range []image.Point{{x, y}, {x + 15, y}, {x, y + 15}, {x + 15, y + 15}, {x + 8, y + 8}} {
						got := img.At(p.X, p.Y)
						gr, gg, gb, _ := got.RGBA()
						want := Colour(v)
						if uint8(gr>>8) != want.R || uint8(gg>>8) != want.G || uint8(gb>>8) != want.B {
							t.Fatalf("row %d grid %d cell (%d,%d) pixel %v is %v, want colour %d %v", i, j, r, c, p, got, v, want)
						}
					}
				}
			}
		}
	}
	// Grids do not overlap: the second grid of the first row starts after the first ends.
	if corners[0][1].X <= corners[0][0].X+gridPixels(3) {
		t.Errorf("grids overlap: %v", corners[0])
	}
}

func TestWritePNGRefusesABadCell(t *testing.T) {
	if err := WritePNG(&bytes.Buffer{}, [][]Grid{{{{1, 10}}}}); err == nil {
		t.Error("a cell of 10 was drawn")
	}
}

// An answer picture: the input, the answer, the known output, then a row
// per traced cycle.
func TestAnswerPicture(t *testing.T) {
	task := Task{ID: "t", Test: []Pair{{Input: Grid{{1}}, Output: Grid{{2}}}}}
	answers := AnswerFile{Answers: []Answer{{
		Attempt1: Grid{{3}}, Attempt2: Grid{{3}},
		Trace: []CycleTrace{{Cycle: 1, Grid: Grid{{4}}}, {Cycle: 2, Grid: Grid{{3}}}},
	}}}
	got := AnswerPicture(task, answers)
	want := [][]Grid{{{{1}}, {{3}}, {{2}}}, {{{4}}}, {{{3}}}}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("row %d: %v, want %v", i, got[i], want[i])
		}
		for j := range want[i] {
			if !got[i][j].Equal(want[i][j]) {
				t.Errorf("row %d grid %d: %v, want %v", i, j, got[i][j], want[i][j])
			}
		}
	}
}
