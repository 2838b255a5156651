package answer

import (
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
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

// In a file of several tasks each task's first caption names it, a long ID
// cut so that it cannot widen the picture; a single task's captions do not.
func TestPictureCaptionsNameTasks(t *testing.T) {
	long := strings.Repeat("k", 30)
	tests := []struct {
		name  string
		ids   []string
		first []string // each task's first caption
	}{
		{"one task", []string{"halo"}, []string{"test 1 input"}},
		{
			"two tasks",
			[]string{"first", long},
			[]string{"first: test 1 input", strings.Repeat("k", 21) + "...: test 1 input"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := &puzzles.File{}
			var answers []puzzles.AnswerFile
			var rows [][]puzzles.Panel
			for i, id := range tc.ids {
				g := puzzles.Grid{{i + 1}}
				file.Tasks = append(file.Tasks, puzzles.Task{ID: id, Test: []puzzles.Pair{{Input: g}}})
				answers = append(answers, puzzles.AnswerFile{Answers: []puzzles.Answer{{Attempt1: g, Attempt2: g}}})
				rows = append(rows, []puzzles.Panel{{Caption: tc.first[i], Grid: g}, {Caption: "attempt 1", Grid: g}})
			}
			data, err := Picture(file, answers)
			if err != nil {
				t.Fatal(err)
			}
			corners, width, height := puzzles.Layout(rows)
			img := testenv.DecodePNG(t, data, width, height)
			for i, first := range tc.first {
				testenv.ShowsCaption(t, img, puzzles.CaptionOrigin(corners[i][0]), first)
			}
		})
	}
}
