package puzzles

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Picture geometry, in pixels.
const (
	pictureCell   = 16 // one grid cell
	pictureLine   = 1  // the lines between cells
	pictureGap    = 16 // between panels, and around the picture
	emptyGridSide = 3  // cells: the outline drawn where an answer has no grid
	captionGap    = 3  // between a caption's lowest pixel and its grid
)

// Picture colours: grid lines as ARC's viewers draw them, on white, so that
// black (colour 0) cells stand out from the background; captions in black.
func pictureBackground() color.RGBA { return color.RGBA{0xff, 0xff, 0xff, 0xff} }
func pictureGridLine() color.RGBA   { return color.RGBA{0x55, 0x55, 0x55, 0xff} }
func pictureText() color.RGBA       { return color.RGBA{0x00, 0x00, 0x00, 0xff} }

// Panel is one grid of a picture with the caption drawn above it, which
// says what the grid is ("test 1 input", "attempt 1", "cycle 3  halt 0.97").
type Panel struct {
	Caption string
	Grid    Grid
}

// captionFace is the captions' font: fixed 7x13 glyphs, nothing to parse,
// legible at the picture's scale.
func captionFace() *basicfont.Face { return basicfont.Face7x13 }

// captionStrip is the height above a grid taken by its caption.
func captionStrip() int {
	f := captionFace()
	return f.Ascent + f.Descent + captionGap
}

// gridPixels is the side in pixels of n cells with their lines.
func gridPixels(n int) int { return n*(pictureCell+pictureLine) + pictureLine }

// CellOrigin is where cell (r, c) of the grid at (x, y) in a picture starts:
// its top left pixel. Tests decode pictures with it.
func CellOrigin(x, y, r, c int) (int, int) {
	return x + pictureLine + c*(pictureCell+pictureLine), y + pictureLine + r*(pictureCell+pictureLine)
}

// CaptionOrigin is the top left pixel of the caption of the grid whose top
// left corner is at: the caption's glyphs are drawn from there, their
// baseline the face's ascent below it. Tests read captions with it.
func CaptionOrigin(at image.Point) image.Point { return image.Pt(at.X, at.Y-captionStrip()) }

// panelWidth is a panel's width in pixels: its grid's, or its caption's when
// that is wider (a 1x1 grid under "known answer"), so no caption is cut.
func panelWidth(p Panel) int {
	cols, _ := drawnSize(p.Grid)
	return max(gridPixels(cols), font.MeasureString(captionFace(), p.Caption).Ceil())
}

// Layout places rows of panels: each row left to right, rows top to bottom,
// each grid under its caption. It returns each grid's top left corner and
// the picture's size.
func Layout(rows [][]Panel) (corners [][]image.Point, width, height int) {
	y := pictureGap
	width = pictureGap
	corners = make([][]image.Point, len(rows))
	for i, row := range rows {
		x, tallest := pictureGap, 0
		for _, p := range row {
			corners[i] = append(corners[i], image.Pt(x, y+captionStrip()))
			_, rows := drawnSize(p.Grid)
			x += panelWidth(p) + pictureGap
			tallest = max(tallest, gridPixels(rows))
		}
		width = max(width, x)
		y += captionStrip() + tallest + pictureGap
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

// WritePNG draws rows of panels in the ARC palette as one PNG, each grid
// under its caption: a grid without rows (an answer with no grid) is an
// empty outline, so its place shows.
func WritePNG(w io.Writer, rows [][]Panel) error {
	corners, width, height := Layout(rows)
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fill(img, img.Bounds(), pictureBackground())
	for i, row := range rows {
		for j, p := range row {
			drawCaption(img, CaptionOrigin(corners[i][j]), p.Caption)
			if err := drawGrid(img, corners[i][j], p.Grid); err != nil {
				return fmt.Errorf("draw grid %d of row %d (%q): %w", j, i, p.Caption, err)
			}
		}
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("encode the picture: %w", err)
	}
	return nil
}

func drawCaption(img *image.RGBA, origin image.Point, caption string) {
	d := font.Drawer{
		Dst:  img,
		Src:  image.NewUniform(pictureText()),
		Face: captionFace(),
		Dot:  fixed.P(origin.X, origin.Y+captionFace().Ascent),
	}
	d.DrawString(caption)
}

func drawGrid(img *image.RGBA, at image.Point, g Grid) error {
	if g.Rows() == 0 {
		side := gridPixels(emptyGridSide)
		fill(img, image.Rect(at.X, at.Y, at.X+side, at.Y+side), pictureGridLine())
		fill(img, image.Rect(at.X+2, at.Y+2, at.X+side-2, at.Y+side-2), pictureBackground())
		return nil
	}
	fill(img, image.Rect(at.X, at.Y, at.X+gridPixels(g.Cols()), at.Y+gridPixels(g.Rows())), pictureGridLine())
	for r, cells := range g {
		for c, v := range cells {
			if v < 0 || v > 9 {
				return fmt.Errorf("cell (%d, %d) is %d, not a colour 0-9", r, c, v)
			}
			x, y := CellOrigin(at.X, at.Y, r, c)
			fill(img, image.Rect(x, y, x+pictureCell, y+pictureCell), Colour(v))
		}
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

// AnswerPicture lays out a task with its answers for WritePNG: a row per
// demonstration pair (its input and output), so that the picture shows the
// rule to be learnt; then for each test input a row with the input,
// attempt_1, attempt_2 when it differs, and the known output when the task
// has one; then, with a full trace, one row per reasoning cycle with that
// cycle's grid and halt value, so that a person sees what each cycle changed
// and where the model halted.
func AnswerPicture(task Task, answers AnswerFile) [][]Panel {
	var rows [][]Panel
	for i, p := range task.Train {
		rows = append(rows, []Panel{
			{fmt.Sprintf("demo %d input", i+1), p.Input},
			{fmt.Sprintf("demo %d output", i+1), p.Output},
		})
	}
	for i, a := range answers.Answers {
		if i >= len(task.Test) {
			break
		}
		row := []Panel{{fmt.Sprintf("test %d input", i+1), task.Test[i].Input}, {"attempt 1", a.Attempt1}}
		if !a.Attempt2.Equal(a.Attempt1) {
			row = append(row, Panel{"attempt 2", a.Attempt2})
		}
		if task.Test[i].Output != nil {
			row = append(row, Panel{"known answer", task.Test[i].Output})
		}
		rows = append(rows, row)
		for _, c := range a.Trace {
			if c.Grid != nil {
				rows = append(rows, []Panel{{fmt.Sprintf("cycle %d  halt %.2f", c.Cycle, c.Halt), c.Grid}})
			}
		}
	}
	return rows
}
