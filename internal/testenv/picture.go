package testenv

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"testing"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// ShowsCaption fails t unless img shows caption as hrmd's pictures draw one:
// in black, in the 7x13 face of golang.org/x/image/font/basicfont, on white,
// its glyphs' top left at origin. The strip the caption covers, and one
// glyph's width after it (white: nothing more was drawn), is compared pixel
// by pixel with the same string drawn into a fresh white picture.
func ShowsCaption(t testing.TB, img image.Image, origin image.Point, caption string) {
	t.Helper()
	face := basicfont.Face7x13
	strip := image.Rect(0, 0, font.MeasureString(face, caption+" ").Ceil(), face.Ascent+face.Descent)
	want := image.NewRGBA(strip)
	draw.Draw(want, strip, image.White, image.Point{}, draw.Src)
	d := font.Drawer{Dst: want, Src: image.Black, Face: face, Dot: fixed.P(0, face.Ascent)}
	d.DrawString(caption)
	ink := 0
	for y := range strip.Dy() {
		for x := range strip.Dx() {
			w := want.RGBAAt(x, y)
			if w != (color.RGBA{0xff, 0xff, 0xff, 0xff}) {
				ink++
			}
			gr, gg, gb, _ := img.At(origin.X+x, origin.Y+y).RGBA()
			if uint8(gr>>8) != w.R || uint8(gg>>8) != w.G || uint8(gb>>8) != w.B {
				t.Fatalf("caption %q drawn at %v: pixel %v is %v, want %v", caption, origin, origin.Add(image.Pt(x, y)),
					img.At(origin.X+x, origin.Y+y), w)
			}
		}
	}
	if ink == 0 {
		t.Fatalf("caption %q draws no pixel: nothing to compare", caption)
	}
}

// DecodePNG decodes a picture, which must be width x height pixels (as its
// layout says).
func DecodePNG(t testing.TB, data []byte, width, height int) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode the picture: %v", err)
	}
	if img.Bounds() != image.Rect(0, 0, width, height) {
		t.Fatalf("the picture is %v, its layout %dx%d", img.Bounds(), width, height)
	}
	return img
}
