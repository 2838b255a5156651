package answer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/puzzles"
)

// side5 is a bundle of a 5x5 grid, all that planning reads of one without
// a puzzle table.
func side5() *bundle.Bundle { return &bundle.Bundle{Manifest: bundle.Manifest{Grid: 5}} }

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
		rows, err := Plan(task, "", side5(), tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := describe(rows); got != tt.want {
			t.Errorf("%+v: rows %s, want %s", tt.opts, got, tt.want)
		}
	}
	task.Test[1].Input = big
	_, err := Plan(task, `task "t" `, side5(), Options{})
	if Code(err) != puzzles.CodeGridTooLarge || !strings.Contains(err.Error(), `task "t" test[1].input`) {
		t.Errorf(
			"a test input larger than the model: %v, want %s naming task \"t\" test[1].input",
			err,
			puzzles.CodeGridTooLarge,
		)
	}
}

// A file whose rows together (test inputs with their variants, the
// demonstrations that fit) are over the limit is refused before any row is
// listed, with the count and the limit; at the limit it is planned.
func TestPlanFileRowLimit(t *testing.T) {
	small, big := puzzles.NewGrid(2, 2), puzzles.NewGrid(6, 6)
	task := puzzles.Task{ID: "t",
		Train: []puzzles.Pair{{Input: small, Output: small}, {Input: big, Output: big}},
		Test:  []puzzles.Pair{{Input: small}, {Input: small}, {Input: small}},
	}
	file := &puzzles.File{Tasks: []puzzles.Task{task, task}, Bundle: true}
	opts := Options{Augmentations: 3, DemoCheck: true, MaxRows: 26} // 2 x (3 x 4 + 1 demonstration that fits)
	plans, err := PlanFile(file, side5(), opts)
	if err != nil || len(plans) != 2 || len(plans[0])+len(plans[1]) != 26 {
		t.Fatalf("at the limit: %d plans, %v", len(plans), err)
	}
	opts.MaxRows = 25
	_, err = PlanFile(file, side5(), opts)
	if Code(err) != puzzles.CodeTooManyRows || !strings.Contains(err.Error(), "needs 26 rows through the model (6 test "+
		"inputs × 4") ||
		!strings.Contains(err.Error(), "+ 2 demonstrations") ||
		!strings.Contains(err.Error(), "the limit is 25 rows a file (watch.max_rows") {
		t.Errorf("over the limit: %v", err)
	}
	if !IsBadInput(err) {
		t.Error("too_many_rows is not bad input (exit 2)")
	}
	if _, err := PlanFile(&puzzles.File{Tasks: []puzzles.Task{task}}, side5(), Options{}); err != nil {
		t.Errorf("MaxRows 0 is the default: %v", err)
	}
}

// With act-v1's puzzle table, a task runs with its own row, and its
// test-time variants are its own augmentations (each with its row, in its
// frame); a task the table does not know runs with the blank row and hrmd's
// variants, and its answers say so.
func TestPlanPuzzleRows(t *testing.T) {
	idx, err := bundle.NewPuzzleIndex(
		[]string{bundle.BlankPuzzle, "aaa", "aaa_t1_0213456789", "bbb", "aaa_t5_0123456789", "aaa_t6_0123456789"},
		4,
	)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle.Bundle{Manifest: bundle.Manifest{Grid: 5}, Puzzles: idx}
	g := puzzles.Grid{{1, 2}, {0, 1}}
	task := puzzles.Task{ID: "aaa", Train: []puzzles.Pair{{Input: g, Output: g}}, Test: []puzzles.Pair{{Input: g}}}
	rows, err := Plan(task, "", b, Options{Augmentations: 2, DemoCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%v/%d/%d/%s", r.test, r.variant, r.Puzzle(), r.aug))
	}
	want := []string{
		"true/0/1/identity+colours[0 1 2 3 4 5 6 7 8 9]",
		"true/1/2/rot270+colours[0 2 1 3 4 5 6 7 8 9]", // numpy's t1: a quarter turn anticlockwise
		"true/2/4/mirror-tb+colours[0 1 2 3 4 5 6 7 8 9]",
		"false/0/1/identity+colours[0 1 2 3 4 5 6 7 8 9]", // the demonstration, under the task's row
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p := PuzzleRows(rows); fmt.Sprint(p) != "[1 2 4 1]" {
		t.Errorf("puzzle rows %v", p)
	}

	// A task's "name" field names it as the dataset builder does.
	named := task
	named.ID, named.Name = "file-stem", "bbb"
	if r, known := PuzzleOf(b, named); r != 3 || !known {
		t.Errorf("by name: row %d, known %v", r, known)
	}
	// ... and only by it: a name the table lacks is not looked up by file.
	named.ID, named.Name = "aaa", "not-in-the-table"
	if r, known := PuzzleOf(b, named); r != 0 || known {
		t.Errorf("an unknown name with a known file name: row %d, known %v", r, known)
	}

	unknown := task
	unknown.ID = "zzz"
	rows, err = Plan(unknown, "", b, Options{Augmentations: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || fmt.Sprint(PuzzleRows(rows)) != "[0 0 0]" || rows[1].aug.Dihedral != 1 {
		t.Errorf("unknown task: %d rows, puzzle rows %v", len(rows), PuzzleRows(rows))
	}
	if _, known := PuzzleOf(b, unknown); known {
		t.Error("an unknown task is known")
	}
}
