package puzzles

import (
	"fmt"
	"slices"
	"strings"
)

// Score is how the answers to one task measure up against its known test
// outputs, by the ARC rule: a task counts only when every one of its test
// inputs is answered exactly.
type Score struct {
	// Exact says per test input, in order, whether attempt_1 equals the known
	// output; Exact2 whether attempt_1 or attempt_2 does.
	Exact  []bool `json:"exact"`
	Exact2 []bool `json:"exact_2"`
	Pass1  bool   `json:"pass_1"` // attempt_1 exact for every test input
	Pass2  bool   `json:"pass_2"` // attempt_1 or attempt_2 exact for every test input
	// Correct counts attempt_1's cells equal to the known output's; Cells
	// the known outputs' cells. Pixel accuracy is Correct/Cells.
	Correct int `json:"correct_cells"`
	Cells   int `json:"cells"`
}

// ScoreTask scores answers (one per test input, in order) against the known
// outputs want. Pixel accuracy uses attempt_1 only: it is the answer a person
// would read, and counting the better of two attempts cell by cell would
// credit a mix that neither attempt is.
func ScoreTask(want []Grid, answers []Answer) Score {
	s := Score{
		Exact:  make([]bool, len(want)),
		Exact2: make([]bool, len(want)),
		Pass1:  len(want) > 0,
		Pass2:  len(want) > 0,
	}
	for i, w := range want {
		var a Answer
		if i < len(answers) {
			a = answers[i]
		}
		s.Exact[i] = a.Attempt1.Equal(w)
		s.Exact2[i] = s.Exact[i] || a.Attempt2.Equal(w)
		s.Pass1 = s.Pass1 && s.Exact[i]
		s.Pass2 = s.Pass2 && s.Exact2[i]
		s.Correct += CorrectCells(a.Attempt1, w)
		s.Cells += w.Rows() * w.Cols()
	}
	return s
}

// CorrectCells counts the cells of answer equal to want's. An answer of
// another shape scores 0: its cells do not line up with the known ones, and
// crediting the overlap would reward a wrong size.
func CorrectCells(answer, want Grid) int {
	if answer.Rows() != want.Rows() || answer.Cols() != want.Cols() {
		return 0
	}
	n := 0
	for r := range want {
		for c := range want[r] {
			if answer[r][c] == want[r][c] {
				n++
			}
		}
	}
	return n
}

// Totals sums the scores of a set of tasks.
type Totals struct {
	Tasks      int `json:"tasks"`
	TestInputs int `json:"test_inputs"`
	Pass1      int `json:"pass_1"` // tasks
	Pass2      int `json:"pass_2"` // tasks
	Correct    int `json:"correct_cells"`
	Cells      int `json:"cells"`
	// PixelAccuracy is Correct/Cells over every known output of the set (0
	// for an empty set), kept up to date by Add.
	PixelAccuracy float64 `json:"pixel_accuracy"`
}

// Add counts one task's score.
func (t *Totals) Add(s Score) {
	t.Tasks++
	t.TestInputs += len(s.Exact)
	if s.Pass1 {
		t.Pass1++
	}
	if s.Pass2 {
		t.Pass2++
	}
	t.Correct += s.Correct
	t.Cells += s.Cells
	if t.Cells > 0 {
		t.PixelAccuracy = float64(t.Correct) / float64(t.Cells)
	}
}

// Baseline is an answer that needs no model. A model that does not beat
// these has learnt nothing worth its cycles, however good its score looks.
type Baseline struct {
	Name string
	// Answer is the baseline's grid for the task's test input test.
	Answer func(task Task, test int) Grid
}

// Baseline names, as the report and the table print them.
const (
	BaselineAllZeros     = "all_zeros"     // a grid of 0s in the test input's shape: what pixel accuracy flatters
	BaselineCopyInput    = "copy_input"    // the test input unchanged
	BaselineCommonColour = "common_colour" // the test input's shape in the demonstrations' most common output colour
)

// Baselines are the baselines hrmd eval scores beside a model, in the order
// it prints them.
func Baselines() []Baseline {
	return []Baseline{
		{BaselineAllZeros, func(task Task, test int) Grid {
			in := task.Test[test].Input
			return NewGrid(in.Rows(), in.Cols())
		}},
		{BaselineCopyInput, func(task Task, test int) Grid { return task.Test[test].Input }},
		{BaselineCommonColour, func(task Task, test int) Grid {
			in := task.Test[test].Input
			g := NewGrid(in.Rows(), in.Cols())
			colour := CommonOutputColour(task.Train)
			for r := range g {
				for c := range g[r] {
					g[r][c] = colour
				}
			}
			return g
		}},
	}
}

// CommonOutputColour is the most common colour over all the demonstrations'
// outputs; a tie goes to the smaller colour, so the baseline does not depend
// on map order or file order. Without demonstrations it is 0.
func CommonOutputColour(train []Pair) int {
	var counts [10]int
	for _, p := range train {
		for _, row := range p.Output {
			for _, c := range row {
				if c >= 0 && c < len(counts) {
					counts[c]++
				}
			}
		}
	}
	best := 0
	for c := range counts {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return best
}

// ParseSolutions reads an ARC Prize solutions file, `{"<task_id>": [grid,
// ...]}` with one grid per test input in order, checking every grid as a
// task file's grids are checked.
func ParseSolutions(data []byte) (map[string][]Grid, error) {
	if err := checkText(data); err != nil {
		return nil, err
	}
	top, _, ok := members(data, -1)
	if !ok {
		return nil, errorf(
			CodeBadTask,
			"the solutions file holds %s; it maps task ids to lists of output grids ({\"<task_id>\": [grid, ...]})",
			kind(data),
		)
	}
	if key, ok := repeated(top); ok {
		return nil, errorf(CodeDuplicateKey, "task %q appears twice in the solutions file; keep one", key)
	}
	// In sorted order, so that of several bad entries the same one is named every time.
	slices.SortFunc(top, func(a, b member) int { return strings.Compare(a.key, b.key) })
	out := make(map[string][]Grid, len(top))
	for _, m := range top {
		list, _, ok := elements(m.value, -1)
		if !ok {
			return nil, errorf(
				CodeBadTask,
				"task %q's solutions are %s; they are a list of output grids, one per test input",
				m.key,
				kind(m.value),
			)
		}
		grids := make([]Grid, len(list))
		for i, g := range list {
			where := fmt.Sprintf("task %q solution %d", m.key, i)
			var form Form
			var err error
			if grids[i], form, err = parseGrid(where, g); err != nil {
				return nil, err
			}
			if form != FormNumbers {
				return nil, errorf(CodeNotAGrid, "%s is %s; a solutions file holds grids of numbers", where, form)
			}
		}
		out[m.key] = grids
	}
	return out, nil
}

// AddSolutions gives the test inputs of task their known outputs from
// solutions (ParseSolutions). A task the solutions do not name is left as it
// is; one they name with another number of grids than it has test inputs, or
// with an output that contradicts the task file's own, is an error.
func AddSolutions(task *Task, solutions map[string][]Grid) error {
	grids, ok := solutions[task.ID]
	if !ok {
		return nil
	}
	if len(grids) != len(task.Test) {
		return errorf(
			CodeBadTask,
			"task %q has %d test inputs but the solutions give %d grids; they need one per test input, in order",
			task.ID,
			len(task.Test),
			len(grids),
		)
	}
	for i, g := range grids {
		if out := task.Test[i].Output; out != nil && !out.Equal(g) {
			return errorf(
				CodeBadTask,
				"task %q test[%d] has an output that differs from the solutions' grid %d; leave one of them out",
				task.ID,
				i,
				i,
			)
		}
		task.Test[i].Output = g
	}
	return nil
}
