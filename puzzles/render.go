package puzzles

import (
	"fmt"
	"image/color"
	"strings"
)

// Colour is colour c (0-9) in the ARC colour scheme, the one ARC's own
// viewers use.
func Colour(c int) color.RGBA {
	return [10]color.RGBA{
		{0x00, 0x00, 0x00, 0xff}, // 0 black
		{0x00, 0x74, 0xd9, 0xff}, // 1 blue
		{0xff, 0x41, 0x36, 0xff}, // 2 red
		{0x2e, 0xcc, 0x40, 0xff}, // 3 green
		{0xff, 0xdc, 0x00, 0xff}, // 4 yellow
		{0xaa, 0xaa, 0xaa, 0xff}, // 5 grey
		{0xf0, 0x12, 0xbe, 0xff}, // 6 magenta
		{0xff, 0x85, 0x1b, 0xff}, // 7 orange
		{0x7f, 0xdb, 0xff, 0xff}, // 8 sky
		{0x87, 0x0c, 0x25, 0xff}, // 9 maroon
	}[c]
}

// TextLines draws g for a terminal, one string per output line, every line
// g.Cols() characters wide.
//
// In colour, each character is a half block whose foreground is one row's cell
// and background the next row's, so a cell is about square and a 30x30 grid
// takes 15 lines. Without colour each cell is its digit, one row per line.
func TextLines(g Grid, colour bool) []string {
	if !colour {
		lines := make([]string, g.Rows())
		for r, row := range g {
			var b strings.Builder
			for _, v := range row {
				b.WriteByte(byte('0' + v))
			}
			lines[r] = b.String()
		}
		return lines
	}
	var lines []string
	for r := 0; r < g.Rows(); r += 2 {
		var b strings.Builder
		for c := range g.Cols() {
			top := Colour(g[r][c])
			if r+1 < g.Rows() {
				bottom := Colour(g[r+1][c])
				fmt.Fprintf(&b, "\x1b[38;2;%d;%d;%dm\x1b[48;2;%d;%d;%dm▀", top.R, top.G, top.B, bottom.R, bottom.G, bottom.B)
			} else {
				fmt.Fprintf(&b, "\x1b[38;2;%d;%d;%dm\x1b[49m▀", top.R, top.G, top.B)
			}
		}
		b.WriteString("\x1b[0m")
		lines = append(lines, b.String())
	}
	return lines
}

// SideBySide lays out blocks of lines in columns: each block under its title,
// padded to its width (in cells, not bytes, so colour codes do not count) and
// separated by gap spaces. Lines carry no trailing spaces.
func SideBySide(titles []string, blocks [][]string, widths []int, gap int) string {
	height := 0
	colWidth := make([]int, len(blocks))
	for i, blk := range blocks {
		height = max(height, len(blk))
		colWidth[i] = max(widths[i], len([]rune(titles[i])))
	}
	var b strings.Builder
	line := func(cell func(i int) (string, int)) {
		var l strings.Builder
		for i := range blocks {
			if i > 0 {
				l.WriteString(strings.Repeat(" ", gap))
			}
			s, visible := cell(i)
			l.WriteString(s)
			l.WriteString(strings.Repeat(" ", max(0, colWidth[i]-visible)))
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	line(func(i int) (string, int) { return titles[i], len([]rune(titles[i])) })
	for n := range height {
		line(func(i int) (string, int) {
			if n < len(blocks[i]) {
				return blocks[i][n], widths[i]
			}
			return "", 0
		})
	}
	return b.String()
}
