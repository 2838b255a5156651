package puzzles

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func answer(first, second Grid) Answer { return Answer{Attempt1: first, Attempt2: second} }

// The ARC rule: a task passes only when every test input is right; pass@2
// takes either attempt per input, pass@1 only the first.
func TestEvalScoreTask(t *testing.T) {
	a, b, c := Grid{{1, 2}, {3, 4}}, Grid{{5}}, Grid{{0, 0}, {0, 0}}
	aWrong := Grid{{1, 2}, {3, 0}}
	tests := []struct {
		name         string
		want         []Grid
		answers      []Answer
		exact        []bool
		exact2       []bool
		pass1, pass2 bool
		correct      int
	}{
		{"one input, first attempt right", []Grid{a}, []Answer{answer(a, c)}, []bool{true}, []bool{true}, true, true, 4},
		{"one input, second attempt right", []Grid{a}, []Answer{answer(c, a)}, []bool{false}, []bool{true}, false, true, 0},
		{"one input, both wrong", []Grid{a}, []Answer{answer(aWrong, c)}, []bool{false}, []bool{false}, false, false, 3},
		{
			"two inputs, both first attempts right",
			[]Grid{a, b},
			[]Answer{answer(a, a), answer(b, b)},
			[]bool{true, true},
			[]bool{true, true},
			true,
			true,
			5,
		},
		{
			"two inputs, one right: the task fails",
			[]Grid{a, b},
			[]Answer{answer(a, a), answer(c, c)},
			[]bool{true, false},
			[]bool{true, false},
			false,
			false,
			4,
		},
		{
			"two inputs, one by its second attempt",
			[]Grid{a, b},
			[]Answer{answer(a, a), answer(c, b)},
			[]bool{true, false},
			[]bool{true, true},
			false,
			true,
			4,
		},
		{"no grid is wrong", []Grid{b}, []Answer{answer(Grid{}, nil)}, []bool{false}, []bool{false}, false, false, 0},
		{
			"an answer missing is wrong",
			[]Grid{a, b},
			[]Answer{answer(a, a)},
			[]bool{true, false},
			[]bool{true, false},
			false,
			false,
			4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ScoreTask(tt.want, tt.answers)
			cells := 0
			for _, w := range tt.want {
				cells += w.Rows() * w.Cols()
			}
			if !slices.Equal(s.Exact, tt.exact) || !slices.Equal(s.Exact2, tt.exact2) || s.Pass1 != tt.pass1 ||
				s.Pass2 != tt.pass2 ||
				s.Correct != tt.correct ||
				s.Cells != cells {
				t.Errorf(
					"got %+v\nwant exact %v, exact_2 %v, pass@1 %v, pass@2 %v, %d/%d cells",
					s,
					tt.exact,
					tt.exact2,
					tt.pass1,
					tt.pass2,
					tt.correct,
					cells,
				)
			}
		})
	}
}

func TestEvalCorrectCells(t *testing.T) {
	want := Grid{{1, 0, 0}, {0, 2, 0}}
	for _, tt := range []struct {
		name   string
		answer Grid
		n      int
	}{
		{"exact", Grid{{1, 0, 0}, {0, 2, 0}}, 6},
		{"all zeros in the right shape", Grid{{0, 0, 0}, {0, 0, 0}}, 4},
		{"wrong shape, though its overlap matches", Grid{{1, 0}, {0, 2}}, 0},
		{"transposed", Grid{{1, 0}, {0, 2}, {0, 0}}, 0},
		{"no grid", nil, 0},
	} {
		if got := CorrectCells(tt.answer, want); got != tt.n {
			t.Errorf("%s: %d correct cells, want %d", tt.name, got, tt.n)
		}
	}
}

// Totals count tasks by the ARC rule and cells over the whole set: a big
// output weighs more than a small one.
func TestEvalTotals(t *testing.T) {
	var tot Totals
	tot.Add(Score{Exact: []bool{true}, Exact2: []bool{true}, Pass1: true, Pass2: true, Correct: 1, Cells: 1})
	tot.Add(Score{Exact: []bool{false, true}, Exact2: []bool{true, true}, Pass2: true, Correct: 5, Cells: 9})
	tot.Add(Score{Exact: []bool{false}, Exact2: []bool{false}, Correct: 0, Cells: 10})
	want := Totals{Tasks: 3, TestInputs: 4, Pass1: 1, Pass2: 2, Correct: 6, Cells: 20, PixelAccuracy: 0.3}
	if tot != want {
		t.Errorf("totals %+v, want %+v", tot, want)
	}
}

func TestEvalBaselines(t *testing.T) {
	task := Task{
		Train: []Pair{
			{Input: Grid{{1}}, Output: Grid{{3, 3, 5}, {5, 0, 0}}}, // 3, 5 and 0 twice each...
			{Input: Grid{{1}}, Output: Grid{{7}}},
		},
		Test: []Pair{{Input: Grid{{4, 4, 4}, {4, 9, 4}}}},
	}
	got := map[string]Grid{}
	var names []string
	for _, b := range Baselines() {
		names = append(names, b.Name)
		got[b.Name] = b.Answer(task, 0)
	}
	if !slices.Equal(names, []string{BaselineAllZeros, BaselineCopyInput, BaselineCommonColour}) {
		t.Errorf("baselines %v", names)
	}
	for name, want := range map[string]Grid{
		BaselineAllZeros:     {{0, 0, 0}, {0, 0, 0}},
		BaselineCopyInput:    {{4, 4, 4}, {4, 9, 4}},
		BaselineCommonColour: {{0, 0, 0}, {0, 0, 0}}, // ...and the tie goes to the smallest, 0
	} {
		if !got[name].Equal(want) {
			t.Errorf("%s: %v, want %v", name, got[name], want)
		}
	}
}

func TestEvalCommonOutputColour(t *testing.T) {
	for _, tt := range []struct {
		name  string
		train []Pair
		want  int
	}{
		{"no demonstrations", nil, 0},
		{"one colour wins", []Pair{{Output: Grid{{0, 4, 4}}}}, 4},
		{"counted over every output", []Pair{{Output: Grid{{2, 2, 6}}}, {Output: Grid{{6, 6}}}}, 6},
		{"a tie goes to the smaller colour", []Pair{{Output: Grid{{8, 3}}}, {Output: Grid{{3, 8}}}}, 3},
		{"a tie with black is black", []Pair{{Output: Grid{{9, 0}}}}, 0},
		{"inputs do not count", []Pair{{Input: Grid{{5, 5, 5}}, Output: Grid{{1}}}}, 1},
	} {
		if got := CommonOutputColour(tt.train); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestEvalSolutions(t *testing.T) {
	task := func() Task {
		return Task{ID: "t1", Test: []Pair{{Input: Grid{{1}}}, {Input: Grid{{2}}}}}
	}
	for _, tt := range []struct {
		name    string
		data    string
		task    Task
		code    string // "" = no error
		message string
	}{
		{"fills the outputs", `{"t1": [[[3]], [[4, 4]]], "other": [[[0]]]}`, task(), "", ""},
		{"another task only", `{"other": [[[0]]]}`, task(), "", ""},
		{"not json", `{"t1": [`, task(), CodeNotJSON, "ends early"},
		{"not an object", `[[[1]]]`, task(), CodeBadTask, "the solutions file holds a list"},
		{"not a list", `{"t1": 3}`, task(), CodeBadTask, `task "t1"'s solutions are the number 3`},
		{"a bad grid", `{"t1": [[[1]], [[10]]]}`, task(), CodeBadColour, `task "t1" solution 1 row 0 column 0 is 10`},
		{"too few grids", `{"t1": [[[3]]]}`, task(), CodeBadTask, "has 2 test inputs but the solutions give 1 grids"},
		{"contradicts the task", `{"t1": [[[3]], [[4]]]}`,
			Task{ID: "t1", Test: []Pair{{Input: Grid{{1}}, Output: Grid{{9}}}, {Input: Grid{{2}}}}},
			CodeBadTask, "test[0] has an output that differs"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sol, err := ParseSolutions([]byte(tt.data))
			if err == nil {
				err = AddSolutions(&tt.task, sol)
			}
			var perr *Error
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.code != "" &&
				(!errors.As(err, &perr) || perr.Code != tt.code || !strings.Contains(perr.Message, tt.message)):
				t.Fatalf("error %v, want %s: ...%s...", err, tt.code, tt.message)
			case tt.code != "":
				return
			}
			want, ok := sol[tt.task.ID]
			for i, p := range tt.task.Test {
				if ok && !p.Output.Equal(want[i]) || !ok && p.Output != nil {
					t.Errorf("test[%d].output %v", i, p.Output)
				}
			}
		})
	}
}
