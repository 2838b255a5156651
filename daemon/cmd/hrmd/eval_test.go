package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

// taskJSON is a task file as ARC writes it.
type taskJSON struct {
	Train []puzzles.Pair `json:"train"`
	Test  []puzzles.Pair `json:"test"`
}

type submission map[string][]struct {
	Attempt1 puzzles.Grid `json:"attempt_1"`
	Attempt2 puzzles.Grid `json:"attempt_2"`
}

// runEval runs hrmd eval with a report, which it returns decoded, and logs
// the summary block and the time it took.
func runEval(t *testing.T, args ...string) (hrmdtest.Result, evalReport) {
	t.Helper()
	report := filepath.Join(t.TempDir(), "report.json")
	started := time.Now()
	r := runHrmd(t, append([]string{"eval", "--report", report}, args...)...)
	if r.Code != 0 {
		t.Fatalf("hrmd eval %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.Code, r.Stdout, r.Stderr)
	}
	if i := strings.Index(r.Stdout, "\nsummary:"); i < 0 {
		t.Errorf("no summary block in:\n%s", r.Stdout)
	} else {
		t.Logf("hrmd eval %s (%.1f s in all):%s", strings.Join(args, " "), time.Since(started).Seconds(), r.Stdout[i:])
	}
	var rep evalReport
	testenv.ReadJSON(t, report, &rep)
	return r, rep
}

// outputRow is the fields of the first line of eval's stdout that starts
// with name.
func outputRow(stdout, name string) []string {
	for _, line := range strings.Split(stdout, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

func warningCodes(rep evalReport) []string {
	var codes []string
	for _, w := range rep.Warnings {
		codes = append(codes, w.Code)
	}
	return codes
}

// The warnings are exactly the ones the totals call for, printed loudly on
// stderr, named on stdout and kept in the report: none is left out.
func checkEvalWarnings(t *testing.T, r hrmdtest.Result, rep evalReport) {
	t.Helper()
	m, zeros := rep.Totals.Model, rep.Totals.Baselines[0]
	if zeros.Name != puzzles.BaselineAllZeros {
		t.Fatalf("first baseline %q, want all_zeros", zeros.Name)
	}
	var want []string
	if m.PixelAccuracy <= zeros.PixelAccuracy {
		want = append(want, warnBelowAllZeros)
	}
	if m.Pass2 == 0 {
		want = append(want, warnNothingSolved)
	}
	if got := warningCodes(rep); !slices.Equal(got, want) {
		t.Errorf(
			"report warnings %v; the totals (model %.3f, all_zeros %.3f, pass@2 %d) call for %v",
			got,
			m.PixelAccuracy,
			zeros.PixelAccuracy,
			m.Pass2,
			want,
		)
	}
	for _, w := range rep.Warnings {
		if !strings.Contains(r.Stderr, "!! WARNING "+w.Code+": "+w.Title) || !strings.Contains(r.Stdout, "WARNING "+w.Code) {
			t.Errorf("warning %s is not on stderr and stdout:\nstdout:\n%s\nstderr:\n%s", w.Code, r.Stdout, r.Stderr)
		}
	}
	if len(rep.Warnings) == 0 && strings.Contains(r.Stderr, "WARNING") {
		t.Errorf("stderr warns, the report does not:\n%s", r.Stderr)
	}
}

// The demo bundle on puzzles of its own family: eval reports the pass@2 that
// the submission it wrote really earns, and the model beats every baseline.
func TestEvalDemoFamily(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(2026, 6))
	known := map[string]puzzles.Grid{}
	const count = 20
	for i := range count {
		var task taskJSON
		for range 2 + rng.IntN(2) {
			in := testenv.HaloInput(rng)
			task.Train = append(task.Train, puzzles.Pair{Input: in, Output: testenv.Halo(in)})
		}
		in := testenv.HaloInput(rng)
		task.Test = []puzzles.Pair{{Input: in, Output: testenv.Halo(in)}}
		id := fmt.Sprintf("halo-%02d", i)
		known[id] = task.Test[0].Output
		testenv.WriteJSON(t, filepath.Join(dir, id+".json"), task)
	}
	sub := filepath.Join(t.TempDir(), "submission.json")
	r, rep := runEval(t, dir, "--model", demoBundle, "--submission", sub)

	// The score, recomputed from the submission alone.
	var answers submission
	testenv.ReadJSON(t, sub, &answers)
	pass1, pass2, correct, cells := 0, 0, 0, 0
	for id, want := range known {
		a := answers[id]
		if len(a) != 1 {
			t.Fatalf("submission has %d entries for %s, want 1", len(a), id)
		}
		if a[0].Attempt1.Equal(want) {
			pass1++
		}
		if a[0].Attempt1.Equal(want) || a[0].Attempt2.Equal(want) {
			pass2++
		}
		if a[0].Attempt1.Size() == want.Size() {
			for y := range want {
				for x := range want[y] {
					if a[0].Attempt1[y][x] == want[y][x] {
						correct++
					}
				}
			}
		}
		cells += want.Rows() * want.Cols()
	}
	m := rep.Totals.Model
	if len(answers) != count || m.Tasks != count || m.Pass1 != pass1 || m.Pass2 != pass2 || m.Correct != correct ||
		m.Cells != cells {
		t.Errorf(
			"report: %d tasks, pass@1 %d, pass@2 %d, %d/%d cells; the submission (%d tasks) earns pass@1 %d, pass@2 %d, %d/%d "+
				"cells",
			m.Tasks,
			m.Pass1,
			m.Pass2,
			m.Correct,
			m.Cells,
			len(answers),
			pass1,
			pass2,
			correct,
			cells,
		)
	}
	if pass2 < count*3/4 {
		t.Errorf("the demo bundle solved %d of %d puzzles of its family; it solves about 95%%", pass2, count)
	}
	for _, b := range rep.Totals.Baselines {
		if m.Pass2 <= b.Pass2 || m.PixelAccuracy <= b.PixelAccuracy {
			t.Errorf(
				"the model (pass@2 %d, pixels %.3f) does not beat %s (pass@2 %d, pixels %.3f)",
				m.Pass2,
				m.PixelAccuracy,
				b.Name,
				b.Pass2,
				b.PixelAccuracy,
			)
		}
	}
	if strings.Contains(r.Stderr, "DOES NOT BEAT") || slices.Contains(warningCodes(rep), warnBelowAllZeros) {
		t.Errorf("a model that beats all-zeros is warned about:\n%s", r.Stderr)
	}
	checkEvalWarnings(t, r, rep)
	if rep.Model.Name != "halo-demo" || len(rep.Model.SHA256) != 64 || rep.Model.Provider != "CPUExecutionProvider" ||
		rep.Model.InputInvariant {
		t.Errorf("report model %+v", rep.Model)
	}
	if row := outputRow(r.Stdout, "halo-00"); len(row) < 4 || row[2] != yesNo(rep.Tasks[0].Model.Pass1) ||
		row[3] != yesNo(rep.Tasks[0].Model.Pass2) {
		t.Errorf(
			"table row for halo-00 %q; the report says pass@1 %v, pass@2 %v",
			row,
			rep.Tasks[0].Model.Pass1,
			rep.Tasks[0].Model.Pass2,
		)
	}
}

// An input-invariant bundle (its output forced to zeros) does not beat
// answering zeros, and eval says so loudly, in the report too.
func TestEvalInputInvariantModel(t *testing.T) {
	r, rep := runEval(t, filepath.Join(arcDir, "training"), "--max-tasks", "4", "--model", zeroBundle)
	m, zeros := rep.Totals.Model, rep.Totals.Baselines[0]
	if m.Tasks != 4 || m.PixelAccuracy > zeros.PixelAccuracy || !rep.Model.InputInvariant {
		t.Errorf(
			"nova-zero: %d tasks, pixels %.3f against all_zeros %.3f, input_invariant %v",
			m.Tasks,
			m.PixelAccuracy,
			zeros.PixelAccuracy,
			rep.Model.InputInvariant,
		)
	}
	if !slices.Contains(warningCodes(rep), warnBelowAllZeros) {
		t.Errorf("report warnings %v lack %s", warningCodes(rep), warnBelowAllZeros)
	}
	for _, want := range []string{"THE MODEL DOES NOT BEAT THE ALL-ZEROS " +
		"BASELINE", "pixel accuracy rewards black " +
		"cells", "has learnt nothing", `"Agent Zero"`, "do not depend on its input"} {
		if !strings.Contains(strings.ToLower(r.Stderr), strings.ToLower(want)) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	for _, task := range rep.Tasks {
		if !slices.Contains(task.Flags, puzzles.FlagModelInputInvariant) {
			t.Errorf("task %s flags %v lack %s", task.Task, task.Flags, puzzles.FlagModelInputInvariant)
		}
	}
	checkEvalWarnings(t, r, rep)
}

// The demo bundle knows one rule: on the first 10 tasks of ARC-AGI-1's
// evaluation set it solves none, and eval reports that plainly.
func TestEvalARCEvaluation(t *testing.T) {
	r, rep := runEval(t, filepath.Join(arcDir, "evaluation"), "--max-tasks", "10", "--model", demoBundle)
	m := rep.Totals.Model
	if m.Tasks != 10 || len(rep.Tasks) != 10 || rep.Tasks[0].Task != "00576224" {
		t.Fatalf("%d tasks scored (first %q); want the first 10 by name", m.Tasks, rep.Tasks[0].Task)
	}
	if m.Pass2 != 0 {
		t.Errorf("the demo bundle passes %d of 10 ARC-AGI-1 evaluation tasks; a one-rule model should pass none", m.Pass2)
	}
	if row := outputRow(r.Stdout, "model"); len(row) < 4 || row[1] != fmt.Sprintf("%d/10", m.Pass1) ||
		row[3] != fmt.Sprintf("%d/10", m.Pass2) {
		t.Errorf("the summary's model row %q; the report says pass@1 %d, pass@2 %d", row, m.Pass1, m.Pass2)
	}
	checkEvalWarnings(t, r, rep)
}

// A challenges file with a solutions file scores the same as the task files
// themselves; without the solutions it is refused, naming the task and the fix.
func TestEvalChallengesAndSolutions(t *testing.T) {
	ids := []string{"007bbfb7", "25ff71a9", "3428a4f5"} // 25ff71a9 and 3428a4f5 have two test inputs
	folder, dir := t.TempDir(), t.TempDir()
	challenges, solutions := map[string]taskJSON{}, map[string][]puzzles.Grid{}
	for _, id := range ids {
		file, err := puzzles.ReadFile(filepath.Join(arcDir, "training", id+".json"), puzzles.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		task := file.Tasks[0]
		testenv.WriteJSON(t, filepath.Join(folder, id+".json"), taskJSON{task.Train, task.Test})
		var tests []puzzles.Pair
		for _, p := range task.Test {
			tests = append(tests, puzzles.Pair{Input: p.Input})
			solutions[id] = append(solutions[id], p.Output)
		}
		challenges[id] = taskJSON{task.Train, tests}
	}
	challengesPath, solutionsPath := filepath.Join(dir, "challenges.json"), filepath.Join(dir, "solutions.json")
	testenv.WriteJSON(t, challengesPath, challenges)
	testenv.WriteJSON(t, solutionsPath, solutions)

	rf, fromFolder := runEval(t, folder, "--model", demoBundle)
	rc, fromChallenges := runEval(t, challengesPath, "--solutions", solutionsPath, "--model", demoBundle)
	if fromFolder.Totals.Model.TestInputs != 5 {
		t.Errorf("%d test inputs scored, want 5", fromFolder.Totals.Model.TestInputs)
	}
	for i := range fromFolder.Tasks {
		fromFolder.Tasks[i].File, fromChallenges.Tasks[i].File = "", ""
	}
	a, _ := json.Marshal([]any{fromFolder.Tasks, fromFolder.Totals, fromFolder.Warnings})
	b, _ := json.Marshal([]any{fromChallenges.Tasks, fromChallenges.Totals, fromChallenges.Warnings})
	table := func(s string) string { return s[:strings.Index(s, "\nsummary:")] }
	if string(a) != string(b) || table(rf.Stdout) != table(rc.Stdout) {
		t.Errorf("the folder and the challenges file score differently:\n%s\n%s\n%s\n%s", a, b, rf.Stdout, rc.Stdout)
	}

	r := runHrmd(t, "eval", challengesPath, "--model", demoBundle)
	if r.Code != 2 || r.Stdout != "" || strings.Count(r.Stderr, "\n") != 1 ||
		!strings.HasPrefix(
			r.Stderr,
			"error missing_output: "+challengesPath+`: task "007bbfb7" test[0] has no known output`,
		) || !strings.Contains(r.Stderr, "pass --solutions FILE") {
		t.Errorf("without --solutions: exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
	}
}

// Bad input exits 2 and every message names the file and the fix.
func TestEvalErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"train":[{"input":[[1]],"output":[[2]]}],"test":[{"input":[[1]],"output":[[2]]}]}`
	write("set/a.json", good)
	ragged := write("bad/b.json", `{"train":[],"test":[{"input":[[1,2],[3]],"output":[[1]]}]}`)
	write("bad/a.json", good)
	write("twice/a.json", good)
	write("twice/b.json", `{"a":`+good+`}`)
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	challenges := write("challenges.json", `{"t1":{"train":[],"test":[{"input":[[1]]}]}}`)
	twoGrids := write("two.json", `{"t1":[[[1]],[[2]]]}`)
	badGrid := write("badgrid.json", `{"t1":[[[1,2],[3]]]}`)
	set := filepath.Join(dir, "set")
	manyTasks := write("many.json", `{"t1":`+good+`,"t2":`+good+`,"t3":`+good+`}`)
	twoTasks := write("two-tasks.yaml", "watch: {max_tasks: 2}\nmodel: "+demoBundle+"\n")
	tests := []struct {
		name          string
		args          []string
		exit          int
		code, message string
	}{
		{"no set", []string{"eval", "--model", demoBundle}, 2, "usage",
			"eval needs tasks with known answers: hrmd eval DIR|challenges.json [--solutions FILE] --model DIR"},
		{"two sets", []string{"eval", set, challenges, "--model", demoBundle}, 2, "usage",
			fmt.Sprintf("eval takes one folder or challenges file; got %q and %q", set, challenges)},
		{"no model", []string{"eval", set}, 2, "usage",
			"eval needs a model: --model DIR (a bundle folder with hrm.yaml), or --config with model: set"},
		{"negative max-tasks", []string{"eval", set, "--max-tasks", "-1", "--model", demoBundle}, 2, "usage",
			"--max-tasks is -1; use a positive number of tasks, or 0 for all"},
		{
			"report folder missing",
			[]string{"eval", set, "--model", demoBundle, "--report", filepath.Join(dir, "nope", "r.json")},
			2,
			"usage",
			"--report " + filepath.Join(
				dir,
				"nope",
				"r.json",
			) + ": the folder " + filepath.Join(
				dir,
				"nope",
			) + " does not exist; create it or name another file",
		},
		{"missing set", []string{"eval", filepath.Join(dir, "nothing"), "--model", demoBundle}, 2, "not_found",
			"eval: stat " + filepath.Join(
				dir,
				"nothing",
			) + ": no such file or directory; name a folder of ARC task files or a challenges file"},
		{"empty folder", []string{"eval", empty, "--model", demoBundle}, 2, "no_tasks",
			empty + " has no *.json task files; eval takes a folder of ARC task files or a challenges file"},
		{"bad task in a folder", []string{"eval", filepath.Join(dir, "bad"), "--model", demoBundle}, 2, "ragged_grid",
			ragged + ": test[0].input row 1 has 1 cells; row 0 has 2 (a grid is a rectangle)"},
		{"task twice", []string{"eval", filepath.Join(dir, "twice"), "--model", demoBundle}, 2, "bad_task",
			`task "a" is in both ` + filepath.Join(
				dir,
				"twice",
				"a.json",
			) + " and " + filepath.Join(
				dir,
				"twice",
				"b.json",
			) + "; a set holds each task once (a submission has one entry per task id): remove one"},
		{"solutions count", []string{"eval", challenges, "--solutions", twoGrids, "--model", demoBundle}, 2, "bad_task",
			twoGrids + `: task "t1" has 1 test inputs but the solutions give 2 grids; they need one per test input, in order`},
		{"solutions grid", []string{"eval", challenges, "--solutions", badGrid, "--model", demoBundle}, 2, "ragged_grid",
			badGrid + `: task "t1" solution 0 row 1 has 1 cells; row 0 has 2 (a grid is a rectangle)`},
		{
			"solutions missing",
			[]string{"eval", challenges, "--solutions", filepath.Join(dir, "none.json"), "--model", demoBundle},
			2,
			"not_found",
			"--solutions: open " + filepath.Join(dir, "none.json") + ": no such file or directory",
		},
		{"too many tasks", []string{"eval", manyTasks, "--config", twoTasks}, 2, "too_many_tasks",
			manyTasks + ": the file holds 3 tasks; the limit is 2 tasks a file (split it into files of at most 2 tasks) " +
				"(watch.max_tasks in hrmd.yaml)"},
		{"no solutions", []string{"eval", challenges, "--model", demoBundle}, 2, "missing_output",
			challenges + `: task "t1" test[0] has no known output to score against; pass --solutions FILE, ` +
				`the set's ARC Prize solutions file ({"<task_id>": [grid, ...]})`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runHrmd(t, tt.args...)
			if want := "error " + tt.code + ": " + tt.message + "\n"; r.Code != tt.exit || r.Stdout != "" || r.Stderr != want {
				t.Errorf("exit %d, stdout %q, stderr\n%s\nwant exit %d, stderr\n%s", r.Code, r.Stdout, r.Stderr, tt.exit, want)
			}
		})
	}
}

func TestEvalProgressLine(t *testing.T) {
	for _, tt := range []struct {
		done, total int
		want        string
	}{
		{0, 50, "[>         ] 0/50 tasks"},
		{12, 50, "[==>       ] 12/50 tasks"},
		{49, 50, "[=========>] 49/50 tasks"},
		{50, 50, "[==========] 50/50 tasks"},
	} {
		if got := progressLine(tt.done, tt.total, 10, "tasks"); got != tt.want {
			t.Errorf("progressLine(%d, %d) = %q, want %q", tt.done, tt.total, got, tt.want)
		}
	}
	// Not a terminal: no bar at all, so logs and pipes stay clean.
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if newProgressBar(f, 5, "tasks") != nil {
		t.Error("a progress bar on a plain file")
	}
}

// A task whose test input the model's grid cannot hold is not run: each of
// its test inputs gets no grid, flagged too_large, and so scores as unsolved.
func TestTooLargeAnswers(t *testing.T) {
	small := evalTask{
		Task: puzzles.Task{ID: "small", Test: []puzzles.Pair{{Input: puzzles.Grid{{1}}, Output: puzzles.Grid{{1}}}}},
	}
	if _, ok := tooLargeAnswers(small, 5); !ok {
		t.Error("a 1x1 test input does not fit a 5x5 grid")
	}
	big := puzzles.NewGrid(6, 6)
	task := evalTask{
		Task: puzzles.Task{
			ID:   "big",
			Test: []puzzles.Pair{{Input: puzzles.Grid{{1}}, Output: puzzles.Grid{{1}}}, {Input: big, Output: big}},
		},
	}
	a, ok := tooLargeAnswers(task, 5)
	if ok || len(a.Answers) != 2 || a.Answers[0].Attempt1.Rows() != 0 ||
		!slices.Contains(a.Answers[1].Flags, puzzles.FlagTooLarge) {
		t.Fatalf("got %+v, %v", a, ok)
	}
	rep := &evalReport{}
	for _, bl := range puzzles.Baselines() {
		rep.Totals.Baselines = append(rep.Totals.Baselines, evalBaselineTotals{Name: bl.Name})
	}
	rep.add(task, a)
	if r := rep.Tasks[0].Model; r.Pass1 || r.Pass2 || r.Correct != 0 || r.Cells != 1+36 {
		t.Errorf("scored %+v, want unsolved with 0 of 37 cells", r)
	}
}
