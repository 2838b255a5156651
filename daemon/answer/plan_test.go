package answer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/puzzles"
)

// A task's rows: each test input followed by its variants, then the
// demonstrations that fit the model (with the demo check); a test input that
// does not fit is an error naming it, a demonstration that does not is left out.
func TestPlan(t *testing.T) {
	small, big := puzzles.NewGrid(2, 2), puzzles.NewGrid(6, 6)
	task := puzzles.Task{ID: "t",
		Train: []puzzles.Pair{{Input: small, Output: small}, {Input: big, Output: big}, {Input: small, Output: small}},
		Test:  []puzzles.Pair{{Input: small}, {Input: small}},
	}
	describe := func(rows []Row) string {
		var parts []string
		for _, r := range rows {
			kind := "train"
			if r.test {
				kind = "test"
			}
			parts = append(parts, fmt.Sprintf("%s%d/%d", kind, r.index, r.variant))
		}
		return strings.Join(parts, " ")
	}
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{}, "test0/0 test1/0"},
		{Options{DemoCheck: true}, "test0/0 test1/0 train0/0 train2/0"},
		{Options{Augmentations: 2, DemoCheck: true}, "test0/0 test0/1 test0/2 test1/0 test1/1 test1/2 train0/0 train2/0"},
	} {
		rows, err := Plan(task, "", 5, tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := describe(rows); got != tt.want {
			t.Errorf("%+v: rows %s, want %s", tt.opts, got, tt.want)
		}
	}
	task.Test[1].Input = big
	_, err := Plan(task, `task "t" `, 5, Options{})
	if Code(err) != puzzles.CodeGridTooLarge || !strings.Contains(err.Error(), `task "t" test[1].input`) {
		t.Errorf("a test input larger than the model: %v, want %s naming task \"t\" test[1].input", err, puzzles.CodeGridTooLarge)
	}
}
