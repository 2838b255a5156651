package answer

import (
	"strings"
	"testing"

	"github.com/hrmd/hrmd/puzzles"
)

// A picture too large to draw on a small board is refused with the reason,
// not drawn (the daemon then answers without it).
func TestPictureLimit(t *testing.T) {
	g := puzzles.NewGrid(30, 30)
	file := &puzzles.File{}
	var answers []puzzles.AnswerFile
	for range 40 {
		file.Tasks = append(file.Tasks, puzzles.Task{Test: []puzzles.Pair{{Input: g}}})
		a := puzzles.Answer{Attempt1: g, Attempt2: g}
		for c := range 16 {
			a.Trace = append(a.Trace, puzzles.CycleTrace{Cycle: c + 1, Grid: g})
		}
		answers = append(answers, puzzles.AnswerFile{Answers: []puzzles.Answer{a}})
	}
	if _, err := Picture(file, answers); err == nil || !strings.Contains(err.Error(), "pixel limit") {
		t.Errorf("40 tasks with full traces: %v, want the pixel limit", err)
	}
	if png, err := Picture(&puzzles.File{Tasks: file.Tasks[:1]}, answers[:1]); err != nil || len(png) == 0 {
		t.Errorf("one task: %v", err)
	}
}
