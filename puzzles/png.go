package puzzles

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
)

// Picture geometry, in pixels.
const (
	pictureCell   = 16 // one grid cell
	pictureLine   = 1  // the lines between cells
	pictureGap    = 16 // between grids, and around the picture
	emptyGridSide = 3  // cells: the outline drawn where an answer has no grid
)

// gridPixels is the side in pixels of n cells with their lines.
func gridPixels(n int) int { return n*(pictureCell+pictureLine) + pictureLine }

// CellOrigin is where cell (r, c) of the grid at (x, y) in a picture starts:
// its top left pixel. Tests decode pictures with it.
func CellOrigin(x, y, r, c int) (int, int) {
	return x + pictureLine + c*(pictureCell+pictureLine), y + pictureLine + r*(pictureCell+pictureLine)
}

// Layout places rows of grids: each row left to right, rows top to bottom.
// It returns each grid's top left corner and the picture's size.
func Layout(rows [][]Grid) (corners [][]image.Point, width, height int) {
	y := pictureGap
	width = pictureGap
	corners = make([][]image.Point, len(rows))
	for i, row := range rows {
		x, tallest := pictureGap, 0
		for _, g := range row {
			corners[i] = append(corners[i], image.Pt(x, y))
			cols, rows := drawnSize(g)
			x += gridPixels(cols) + pictureGap
			tallest = max(tallest, gridPixels(rows))
		}
		width = max(width, x)
		y += tallest + pictureGap
	}
	return corners, width, y
}

// drawnSize is a grid's size in cells as drawn: an empty grid is an outline
// of a few cells.
func drawnSize(g Grid) (cols, rows int) {
	if g.Rows() == 0 {
		return emptyGridSide, emptyGridSide
	}
	return g.Cols(), g.Rows()
}

// WritePNG draws rows of grids in the ARC palette as one PNG: a grid without
// rows (an answer with no grid) is an empty outline, so its place shows.
func WritePNG(w io.Writer, rows [][]Grid) error {
	// Grid lines as ARC's viewers draw them, on white, so that black
	// (colour 0) cells stand out from the background.
	background, line := color.RGBA{0xff, 0xff, 0xff, 0xff}, color.RGBA{0x55, 0x55, 0x55, 0xff}
	corners, width, height := Layout(rows)
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fill(img, img.Bounds(), background)
	for i, row := range rows {
		for j, g := range row {
			at := corners[i][j]
			if g.Rows() == 0 {
				side := gridPixels(emptyGridSide)
				fill(img, image.Rect(at.X, at.Y, at.X+side, at.Y+side), line)
				fill(img, image.Rect(at.X+2, at.Y+2, at.X+side-2, at.Y+side-2), background)
				continue
			}
			fill(img, image.Rect(at.X, at.Y, at.X+gridPixels(g.Cols()), at.Y+gridPixels(g.Rows())), line)
			for r, cells := range g {
				for c, v := range cells {
					if v < 0 || v > 9 {
						return fmt.Errorf("draw grid %d of row %d: cell (%d, %d) is %d, not a colour 0-9", j, i, r, c, v)
					}
					x, y := CellOrigin(at.X, at.Y, r, c)
					fill(img, image.Rect(x, y, x+pictureCell, y+pictureCell), Colour(v))
				}
			}
		}
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("encode the picture: %w", err)
	}
	return nil
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// AnswerPicture lays out a task with its answers for WritePNG: for each test
// input a row with the input, attempt_1, attempt_2 when it differs, and the
// known output when the task has one; then, with a full trace, one row per
// reasoning cycle with that cycle's grid, so that a person sees what each
// cycle changed and where the model halted.
func AnswerPicture(task Task, answers AnswerFile) [][]Grid {
	var rows [][]Grid
	for i, a := range answers.Answers {
		if i >= len(task.Test) {
			break
		}
		row := []Grid{task.Test[i].Input, a.Attempt1}
		if !a.Attempt2.Equal(a.Attempt1) {
			row = append(row, a.Attempt2)
		}
		if task.Test[i].Output != nil {
			row = append(row, task.Test[i].Output)
		}
		rows = append(rows, row)
		for _, c := range a.Trace {
			if c.Grid != nil {
				rows = append(rows, []Grid{c.Grid})
			}
		}
	}
	return rows
}
