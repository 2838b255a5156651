package puzzles

import (
	"bytes"
	"image"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
)

// drawPanels renders rows with WritePNG and decodes the PNG back, which
// must be as large as Layout says.
func drawPanels(t *testing.T, rows [][]Panel) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := WritePNG(&buf, rows); err != nil {
		t.Fatal(err)
	}
	_, width, height := Layout(rows)
	return testenv.DecodePNG(t, buf.Bytes(), width, height)
}

func sameColour(t *testing.T, img image.Image, p image.Point, want [3]uint8, what string) {
	t.Helper()
	r, g, b, _ := img.At(p.X, p.Y).RGBA()
	if got := [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}; got != want {
		t.Fatalf("%s: pixel %v is %v, want %v", what, p, got, want)
	}
}

// A picture decodes back to the panels it was drawn from: every cell's
// pixels are that cell's ARC colour wherever the layout put the grid, and
// above each grid its caption, glyph for glyph, then a white gap.
func TestWritePNGDecodesToTheGrids(t *testing.T) {
	rows := [][]Panel{
		{{"test 1 input", Grid{{0, 1, 2}, {3, 4, 5}}}, {"attempt 1", Grid{{6, 7}, {8, 9}, {0, 0}}}},
		{{"attempt 2", Grid{}}, {"known answer", Grid{{9}}}}, // an answer without a grid, then a 1x1
		{{"cycle 12  halt 0.97", Grid{{5, 5, 5, 5, 5}}}},
	}
	img := drawPanels(t, rows)
	corners, _, _ := Layout(rows)
	white, line := [3]uint8{0xff, 0xff, 0xff}, [3]uint8{0x55, 0x55, 0x55}
	for i, row := range rows {
		for j, p := range row {
			at := corners[i][j]
			// The caption's 13-pixel glyphs, then 3 white rows, then the grid's top line.
			if origin := CaptionOrigin(at); origin != at.Sub(image.Pt(0, 16)) {
				t.Fatalf("row %d panel %d: caption at %v, grid at %v; want the caption 16 pixels above", i, j, origin, at)
			}
			testenv.ShowsCaption(t, img, at.Sub(image.Pt(0, 16)), p.Caption)
			for gap := 1; gap <= 3; gap++ {
				sameColour(t, img, at.Sub(image.Pt(0, gap)), white, p.Caption+": the gap under the caption")
			}
			sameColour(t, img, at, line, p.Caption+": the grid's corner")
			for r, cells := range p.Grid {
				for c, v := range cells {
					x, y := CellOrigin(at.X, at.Y, r, c)
					want := Colour(v)
					// The cell's corners and middle: the whole square is one colour.
					for _, q := range []image.Point{{x, y}, {x + 15, y}, {x, y + 15}, {x + 15, y + 15}, {x + 8, y + 8}} {
						sameColour(t, img, q, [3]uint8{want.R, want.G, want.B}, p.Caption)
					}
				}
			}
		}
	}
	// Panels do not overlap: the second panel of the first row starts after the first grid ends.
	if corners[0][1].X <= corners[0][0].X+gridPixels(3) {
		t.Errorf("grids overlap: %v", corners[0])
	}
	// A row starts below the row above, caption and all.
	if CaptionOrigin(corners[1][0]).Y <= corners[0][1].Y+gridPixels(3) {
		t.Errorf("rows overlap: %v then %v", corners[0], corners[1])
	}
}

// A caption wider than its grid widens the panel: the 1x1 known answer's
// caption is drawn whole, and the next panel starts after it.
func TestWritePNGWidensAPanelForItsCaption(t *testing.T) {
	caption := "known answer" // 12 glyphs of 7 pixels; the 1x1 grid is 18 pixels wide
	rows := [][]Panel{{{caption, Grid{{9}}}, {"next", Grid{{1}}}}}
	img := drawPanels(t, rows)
	corners, width, _ := Layout(rows)
	if end := corners[0][0].X + 12*7; corners[0][1].X < end+pictureGap {
		t.Errorf("the next panel starts at x=%d, within %q (which ends at %d)", corners[0][1].X, caption, end)
	}
	if width < corners[0][1].X+7*len("next")+pictureGap {
		t.Errorf("the picture is %d wide, cutting the last caption", width)
	}
	testenv.ShowsCaption(t, img, CaptionOrigin(corners[0][0]), caption)
	testenv.ShowsCaption(t, img, CaptionOrigin(corners[0][1]), "next")
}

func TestWritePNGRefusesABadCell(t *testing.T) {
	if err := WritePNG(&bytes.Buffer{}, [][]Panel{{{"x", Grid{{1, 10}}}}}); err == nil {
		t.Error("a cell of 10 was drawn")
	}
}

// An answer picture: a row per demonstration pair, the test input with the
// answer and the known output, then a row per traced cycle, each captioned.
func TestAnswerPicture(t *testing.T) {
	task := Task{
		ID:    "t",
		Train: []Pair{{Input: Grid{{5}}, Output: Grid{{6}}}},
		Test:  []Pair{{Input: Grid{{1}}, Output: Grid{{2}}}, {Input: Grid{{7}}}},
	}
	answers := AnswerFile{Answers: []Answer{
		{
			Attempt1: Grid{{3}}, Attempt2: Grid{{3}},
			Trace: []CycleTrace{{Cycle: 1, Halt: 0.125, Grid: Grid{{4}}}, {Cycle: 2, Halt: 0.974, Grid: Grid{{3}}}},
		},
		{Attempt1: Grid{{8}}, Attempt2: Grid{{0}}, Trace: []CycleTrace{{Cycle: 1, Halt: 0.5}}}, // a summary trace
	}}
	got := AnswerPicture(task, answers)
	want := [][]Panel{
		{{"demo 1 input", Grid{{5}}}, {"demo 1 output", Grid{{6}}}},
		{{"test 1 input", Grid{{1}}}, {"attempt 1", Grid{{3}}}, {"known answer", Grid{{2}}}},
		{{"cycle 1  halt 0.12", Grid{{4}}}},
		{{"cycle 2  halt 0.97", Grid{{3}}}},
		{{"test 2 input", Grid{{7}}}, {"attempt 1", Grid{{8}}}, {"attempt 2", Grid{{0}}}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("row %d: %v, want %v", i, got[i], want[i])
		}
		for j := range want[i] {
			if got[i][j].Caption != want[i][j].Caption || !got[i][j].Grid.Equal(want[i][j].Grid) {
				t.Errorf("row %d panel %d: %q %v, want %q %v", i, j,
					got[i][j].Caption, got[i][j].Grid, want[i][j].Caption, want[i][j].Grid)
			}
		}
	}
}
