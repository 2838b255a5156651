package puzzles

import (
	"strings"
	"testing"
)

func TestTextLines(t *testing.T) {
	g := Grid{{0, 1, 2}, {3, 4, 5}, {6, 7, 9}}
	plain := TextLines(g, false)
	if strings.Join(plain, "/") != "012/345/679" {
		t.Errorf("digits: %q", plain)
	}
	lines := TextLines(g, true)
	if len(lines) != 2 {
		t.Fatalf("3 rows take 2 half-block lines, got %d", len(lines))
	}
	// The first character is black (row 0) over green (row 1).
	if want := "\x1b[38;2;0;0;0m\x1b[48;2;46;204;64m▀"; !strings.HasPrefix(lines[0], want) {
		t.Errorf("line 0 starts %q, want %q", lines[0], want)
	}
	// The odd last row has nothing under it: maroon on the terminal's background.
	if !strings.Contains(lines[1], "\x1b[38;2;135;12;37m\x1b[49m▀") || !strings.HasSuffix(lines[1], "\x1b[0m") {
		t.Errorf("line 1: %q", lines[1])
	}
	if n := strings.Count(lines[0], "▀"); n != 3 {
		t.Errorf("line 0 has %d cells, want 3", n)
	}
}

func TestSideBySide(t *testing.T) {
	got := SideBySide(
		[]string{"input 2x2", "answer 1x3"},
		[][]string{{"12", "34"}, {"567"}},
		[]int{2, 3}, 2)
	want := "input 2x2  answer 1x3\n" +
		"12         567\n" +
		"34\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}
