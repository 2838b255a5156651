package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/internal/atomicfile"
	"github.com/hrmd/hrmd/puzzles"
)

// evalTask is a task of the set being scored, with the file it came from
// for messages and the report.
type evalTask struct {
	puzzles.Task
	file string
}

// evalTaskResult is one task's line of the report.
type evalTaskResult struct {
	Task       string             `json:"task"`
	File       string             `json:"file"`
	Tests      int                `json:"tests"`
	Model      puzzles.Score      `json:"model"`
	Cycles     []int              `json:"cycles"`     // per test input
	Confidence []float64          `json:"confidence"` // per test input
	Flags      []string           `json:"flags"`      // every flag any of its answers carries, first seen first
	DemoCheck  *puzzles.DemoCheck `json:"demo_check,omitempty"`
	Baselines  []evalBaseline     `json:"baselines"`
	// NoKey: a test input has no known output (a Sudoku or maze set, whose
	// answers are verified without it): Model and Baselines are empty,
	// and the task is out of the totals' exact-match scores.
	NoKey bool `json:"no_key,omitempty"`
	// Verified is each answer's verdict by the puzzle's rules (Sudoku, maze).
	Verified []string `json:"verified,omitempty"`
}

type evalBaseline struct {
	Name string `json:"name"`
	puzzles.Score
}

type evalBaselineTotals struct {
	Name string `json:"name"`
	puzzles.Totals
}

type evalModelTotals struct {
	puzzles.Totals
	MeanCycles     float64 `json:"mean_cycles"` // per test input
	MeanConfidence float64 `json:"mean_confidence"`
	// Verified counts the verdicts of a Sudoku or maze model's answers,
	// every test input's, with a key or without.
	Verified *evalVerdicts `json:"verified,omitempty"`
	answered int           // test inputs answered, for the means
}

// evalVerdicts counts answers by their verdict (puzzles.Encoding.Verify).
type evalVerdicts struct {
	Valid   int `json:"valid"`
	Optimal int `json:"optimal"`
	Invalid int `json:"invalid"`
}

func (v *evalVerdicts) add(verdict string) {
	switch verdict {
	case puzzles.VerifiedValid:
		v.Valid++
	case puzzles.VerifiedOptimal:
		v.Optimal++
	case puzzles.VerifiedInvalid:
		v.Invalid++
	}
}

// evalWarning is a result that must not be read as a success.
type evalWarning struct {
	Code    string `json:"code"`
	Title   string `json:"title"`
	Message string `json:"message"`
}

// evalReport is --report: everything eval measured.
type evalReport struct {
	Set       string `json:"set"`
	Solutions string `json:"solutions,omitempty"`
	Model     struct {
		puzzles.ModelInfo
		Provider       string `json:"provider"`
		Precision      string `json:"precision"`
		Device         string `json:"device"`
		InputInvariant bool   `json:"input_invariant"` // the probe at load: its answers do not depend on its input
	} `json:"model"`
	Settings struct {
		Halting       string `json:"halting"`
		MaxCycles     int    `json:"max_cycles"`
		DemoCheck     bool   `json:"demo_check"`
		Augmentations int    `json:"augmentations"`
	} `json:"settings"`
	Tasks  []evalTaskResult `json:"tasks"`
	Totals struct {
		Model     evalModelTotals      `json:"model"`
		Baselines []evalBaselineTotals `json:"baselines"`
	} `json:"totals"`
	Warnings []evalWarning `json:"warnings"`
	Seconds  float64       `json:"seconds"` // running the model, loading excluded
}

// Warning codes of the report.
const (
	warnBelowAllZeros = "below_all_zeros"
	warnNothingSolved = "nothing_solved"
	warnTooLarge      = "tasks_too_large"
)

// evalFlags are eval's options beyond the model's.
type evalFlags struct {
	model                              modelFlags
	solutions, submission, report, set string
	maxTasks                           int
}

func newEvalFlags() (*flag.FlagSet, *evalFlags) {
	fl := newFlagSet("eval")
	ef := &evalFlags{model: addModelFlags(fl)}
	fl.StringVar(
		&ef.solutions,
		"solutions",
		"",
		"the ARC Prize solutions `FILE` ({\"<task_id>\": [grid, ...]}) for a challenges file without test outputs",
	)
	fl.StringVar(&ef.submission, "submission", "", "also write the answers as an ARC Prize submission to `OUT.json`")
	fl.StringVar(&ef.report, "report", "", "also write the whole result as JSON to `OUT.json`")
	fl.IntVar(
		&ef.maxTasks,
		"max-tasks",
		0,
		"score only the first `N` tasks (a folder's files by name, a file's tasks in order); 0 = all",
	)
	return fl, ef
}

func parseEvalFlags(args []string) (evalFlags, error) {
	fl, ef := newEvalFlags()
	var err error
	if ef.set, err = parseOneArg(fl, args, "eval", "folder or challenges file"); err != nil {
		return *ef, err
	}
	if ef.set == "" {
		return *ef, usageError(
			"eval needs tasks with known answers: hrmd eval DIR|challenges.json [--solutions FILE] --model DIR",
		)
	}
	if ef.maxTasks < 0 {
		return *ef, usageError("--max-tasks is %d; use a positive number of tasks, or 0 for all", ef.maxTasks)
	}
	// A folder that is not there would only show once the whole set has run.
	for _, out := range []struct{ flag, path string }{{"--submission", ef.submission}, {"--report", ef.report}} {
		if out.path == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Dir(out.path)); err != nil || !fi.IsDir() {
			return *ef, usageError(
				"%s %s: the folder %s does not exist; create it or name another file",
				out.flag,
				out.path,
				filepath.Dir(out.path),
			)
		}
	}
	return *ef, nil
}

func cmdEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ef, err := parseEvalFlags(args)
	if err != nil {
		return err
	}
	cfg, run, err := ef.model.settings("eval", "")
	if err != nil {
		return err
	}
	run.Trace = "" // answers.trace is for the outbox: eval reports no traces, and full ones cost memory

	// The set is checked before the model is loaded: bad input fails fast.
	tasks, err := loadEvalSet(ef.set, ef.solutions, cfg.Limits(), ef.maxTasks, cfg.Model)
	if err != nil {
		return err
	}
	s, closeModel, err := ef.model.openSolver(ctx, cfg, run, stderr)
	if err != nil {
		return err
	}
	defer closeModel()
	rep := newEvalReport(ef.set, ef.solutions, s)
	answers, err := rep.score(ctx, s, tasks, newProgressBar(stderr, len(tasks), "tasks"))
	if err != nil {
		return err
	}
	printEvalTable(stdout, rep)
	printEvalWarnings(stderr, rep.Warnings)
	return ef.write(tasks, answers, rep)
}

// score answers every task and scores it, showing progress on bar.
func (rep *evalReport) score(
	ctx context.Context,
	s *answer.Solver,
	tasks []evalTask,
	bar *progressBar,
) ([]puzzles.AnswerFile, error) {
	side := s.Model.Bundle().Manifest.Grid
	answers := make([]puzzles.AnswerFile, 0, len(tasks))
	bar.show(0)
	started := time.Now()
	var tooLarge []string
	for i, t := range tasks {
		// A test input the model's grid cannot hold has no answer: by the
		// ARC rule the task is simply not solved, and the others still count.
		a, ok := tooLargeAnswers(t, side)
		if ok {
			solved, err := s.Solve(ctx, &puzzles.File{Tasks: []puzzles.Task{t.Task}, Bundle: true})
			if err != nil {
				bar.clear()
				return nil, inFile(t.file, err)
			}
			a = solved[0]
		} else {
			tooLarge = append(tooLarge, t.ID)
		}
		answers = append(answers, a)
		rep.add(t, a)
		bar.show(i + 1)
	}
	bar.clear()
	if len(tooLarge) > 0 {
		rep.Warnings = append(rep.Warnings, evalWarning{
			Code:  warnTooLarge,
			Title: "SOME TASKS DO NOT FIT THE MODEL",
			Message: fmt.Sprintf("%d task(s) have a test input larger than the model's %dx%d grid and count as not solved: %s",
				len(tooLarge), side, side, strings.Join(tooLarge, ", ")),
		})
	}
	rep.Seconds = math.Round(time.Since(started).Seconds()*10) / 10
	rep.summarise()
	return answers, nil
}

// write writes --submission and --report, where asked for.
func (ef evalFlags) write(tasks []evalTask, answers []puzzles.AnswerFile, rep *evalReport) error {
	if ef.submission != "" {
		data, err := marshalSubmission(tasks, answers)
		if err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Dir(ef.submission), filepath.Base(ef.submission), data); err != nil {
			return fmt.Errorf("--submission: %w", err)
		}
	}
	if ef.report != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Dir(ef.report), filepath.Base(ef.report), append(data, '\n')); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	return nil
}

// loadEvalSet reads the tasks to score: every *.json of a folder in name
// order (a multi-task file among them gives all its tasks), or one file,
// with the known test outputs from solutionsPath where given. maxTasks > 0
// stops reading once that many tasks are in. Every test input must have a
// known output by then, unless model verifies its answers without one.
func loadEvalSet(set, solutionsPath string, lim puzzles.Limits, maxTasks int, model string) ([]evalTask, error) {
	files, err := evalFiles(set)
	if err != nil {
		return nil, err
	}
	tasks, err := readEvalTasks(files, lim, maxTasks)
	if err != nil {
		return nil, err
	}
	if err := addEvalSolutions(tasks, solutionsPath); err != nil {
		return nil, err
	}
	if err := checkEvalOutputs(tasks, solutionsPath, model); err != nil {
		return nil, err
	}
	return tasks, nil
}

// evalFiles is set itself, or the *.json files of the folder set.
func evalFiles(set string) ([]string, error) {
	fi, err := os.Stat(set)
	if err != nil {
		return nil, fmt.Errorf("eval: %w; name a folder of ARC task files or a challenges file", err)
	}
	files := []string{set}
	if fi.IsDir() {
		entries, err := os.ReadDir(set)
		if err != nil {
			return nil, err
		}
		files = files[:0]
		for _, e := range entries {
			// Dot files are editors' and hrmd's own temporaries, not tasks.
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(set, e.Name()))
			}
		}
		if len(files) == 0 {
			return nil, &puzzles.Error{
				Code: puzzles.CodeNoTasks,
				Message: fmt.Sprintf(
					"%s has no *.json task files; eval takes a folder of ARC task files or a challenges file",
					set,
				),
			}
		}
	}
	return files, nil
}

// readEvalTasks reads the tasks of files, each task once, at most maxTasks
// of them (0: all).
func readEvalTasks(files []string, lim puzzles.Limits, maxTasks int) ([]evalTask, error) {
	var tasks []evalTask
	from := map[string]string{} // task id -> its file
	for _, path := range files {
		if maxTasks > 0 && len(tasks) >= maxTasks {
			break
		}
		file, err := puzzles.ReadFile(path, lim)
		if err != nil {
			return nil, inFile(path, config.NameLimit(err))
		}
		for _, t := range file.Tasks {
			if other, ok := from[t.ID]; ok {
				return nil, &puzzles.Error{
					Code: puzzles.CodeBadTask,
					Message: fmt.Sprintf(
						"task %q is in both %s and %s; a set holds each task once (a submission has one entry per task id): remove one",
						t.ID,
						other,
						path,
					),
				}
			}
			from[t.ID] = path
			tasks = append(tasks, evalTask{Task: t, file: path})
		}
	}
	if maxTasks > 0 && len(tasks) > maxTasks {
		tasks = tasks[:maxTasks]
	}
	return tasks, nil
}

// addEvalSolutions adds the outputs of the solutions file, if any, to tasks.
func addEvalSolutions(tasks []evalTask, solutionsPath string) error {
	if solutionsPath != "" {
		data, err := os.ReadFile(solutionsPath)
		if err != nil {
			return fmt.Errorf("--solutions: %w", err)
		}
		solutions, err := puzzles.ParseSolutions(data)
		if err != nil {
			return inFile(solutionsPath, err)
		}
		for i := range tasks {
			if err := puzzles.AddSolutions(&tasks[i].Task, solutions); err != nil {
				return inFile(solutionsPath, err)
			}
		}
	}
	return nil
}

// checkEvalOutputs refuses a test input with no known output, unless the
// model is one whose answers are checked without it (a Sudoku or a maze
// model: Encoding.Verifies), for which eval reports the verdicts alone.
func checkEvalOutputs(tasks []evalTask, solutionsPath, model string) error {
	for _, t := range tasks {
		for i, p := range t.Test {
			if p.Output != nil {
				continue
			}
			if b, err := bundle.Load(model); err == nil && b.Encoding.Verifies() {
				return nil
			}
			fix := "pass --solutions FILE, the set's ARC Prize solutions file ({\"<task_id>\": [grid, ...]})"
			if solutionsPath != "" {
				fix = "--solutions " + solutionsPath + " has no grids for it: pass the solutions file of this set"
			}
			return &puzzles.Error{
				Code:    puzzles.CodeNoOutput,
				Message: fmt.Sprintf("%s: task %q test[%d] has no known output to score against; %s", t.file, t.ID, i, fix),
			}
		}
	}
	return nil
}

// inFile puts the file in front of a task file error's message, which is
// all of it that hrmd prints: in a set of many files it must say which.
// The model's and the library's errors are not the file's.
func inFile(path string, err error) error {
	var perr *puzzles.Error
	if errors.As(err, &perr) && answer.IsBadInput(perr) {
		return &puzzles.Error{Code: perr.Code, Message: path + ": " + perr.Message}
	}
	return err
}

func newEvalReport(set, solutions string, s *answer.Solver) *evalReport {
	b := s.Model.Bundle()
	as := s.Assembler
	rep := &evalReport{Set: set, Solutions: solutions, Tasks: []evalTaskResult{}, Warnings: []evalWarning{}}
	rep.Model.ModelInfo = puzzles.ModelInfo{Name: b.Manifest.Name, Family: b.Manifest.Family, SHA256: b.SHA256}
	rep.Model.Provider, rep.Model.Precision, rep.Model.Device = as.Provider, as.Precision, as.Device
	rep.Model.InputInvariant = as.InputInvariant
	rep.Settings.Halting = cmp.Or(s.Run.Halting, engine.HaltModel)
	rep.Settings.MaxCycles = b.Manifest.Halting.MaxCycles
	if s.Run.MaxCycles > 0 {
		rep.Settings.MaxCycles = s.Run.MaxCycles
	}
	rep.Settings.DemoCheck, rep.Settings.Augmentations = s.Options.DemoCheck, s.Options.Augmentations
	for _, bl := range puzzles.Baselines() {
		rep.Totals.Baselines = append(rep.Totals.Baselines, evalBaselineTotals{Name: bl.Name})
	}
	return rep
}

// tooLargeAnswers is a task's answer file when a test input does not fit the
// model's grid (ok false): no grid for any test input, each flagged too_large.
func tooLargeAnswers(t evalTask, side int) (puzzles.AnswerFile, bool) {
	fits := true
	for _, p := range t.Test {
		if puzzles.CheckFits(p.Input, side, "") != nil {
			fits = false
		}
	}
	if fits {
		return puzzles.AnswerFile{}, true
	}
	a := puzzles.AnswerFile{Task: t.ID}
	for range t.Test {
		a.Answers = append(
			a.Answers,
			puzzles.Answer{Attempt1: puzzles.Grid{}, Attempt2: puzzles.Grid{}, Flags: []string{puzzles.FlagTooLarge}},
		)
	}
	return a, false
}

// add scores one task's answers, and the baselines' on the same task.
func (rep *evalReport) add(t evalTask, a puzzles.AnswerFile) {
	want := make([]puzzles.Grid, len(t.Test))
	for i, p := range t.Test {
		want[i] = p.Output
	}
	r := evalTaskResult{
		Task:      t.ID,
		File:      t.file,
		Tests:     len(t.Test),
		Flags:     []string{},
		DemoCheck: a.DemoCheck,
		NoKey:     slices.ContainsFunc(want, func(g puzzles.Grid) bool { return g == nil }),
	}
	for _, ans := range a.Answers {
		if ans.Verified != "" {
			r.Verified = append(r.Verified, ans.Verified)
			if rep.Totals.Model.Verified == nil {
				rep.Totals.Model.Verified = &evalVerdicts{}
			}
			rep.Totals.Model.Verified.add(ans.Verified)
		}
		rep.Totals.Model.answered++
		r.Cycles = append(r.Cycles, ans.Cycles)
		r.Confidence = append(r.Confidence, ans.Confidence)
		for _, f := range ans.Flags {
			if !slices.Contains(r.Flags, f) {
				r.Flags = append(r.Flags, f)
			}
		}
		// Summed here, divided in finish.
		rep.Totals.Model.MeanCycles += float64(ans.Cycles)
		rep.Totals.Model.MeanConfidence += ans.Confidence
	}
	if r.NoKey {
		r.Baselines = []evalBaseline{}
		rep.Tasks = append(rep.Tasks, r)
		return
	}
	r.Model = puzzles.ScoreTask(want, a.Answers)
	rep.Totals.Model.Add(r.Model)
	for i, bl := range puzzles.Baselines() {
		grids := make([]puzzles.Answer, len(t.Test))
		for j := range t.Test {
			g := bl.Answer(t.Task, j)
			grids[j] = puzzles.Answer{Attempt1: g, Attempt2: g}
		}
		sc := puzzles.ScoreTask(want, grids)
		r.Baselines = append(r.Baselines, evalBaseline{Name: bl.Name, Score: sc})
		rep.Totals.Baselines[i].Add(sc)
	}
	rep.Tasks = append(rep.Tasks, r)
}

// summarise turns the sums into means and says what must not be read as a
// success.
func (rep *evalReport) summarise() {
	m := &rep.Totals.Model
	if m.answered > 0 {
		m.MeanCycles = math.Round(m.MeanCycles/float64(m.answered)*100) / 100
		m.MeanConfidence = math.Round(m.MeanConfidence/float64(m.answered)*1e4) / 1e4
	}
	if m.Tasks == 0 {
		return // no key to score against: the verdicts are the result
	}
	var zeros evalBaselineTotals
	for _, b := range rep.Totals.Baselines {
		if b.Name == puzzles.BaselineAllZeros {
			zeros = b
		}
	}
	if m.PixelAccuracy <= zeros.PixelAccuracy {
		rep.Warnings = append(rep.Warnings, evalWarning{
			Code:  warnBelowAllZeros,
			Title: "THE MODEL DOES NOT BEAT THE ALL-ZEROS BASELINE",
			Message: fmt.Sprintf("the model's pixel accuracy is %s; a grid of zeros in each test input's shape scores %s. "+
				"Pixel accuracy rewards black cells: ARC grids are mostly black, so answering zeros scores well without solving "+
				"anything. "+
				"A model at or below all-zeros has learnt nothing that this set measures: this is the \"Agent Zero\" illusion, "+
				"the checkpoint that scored \"71%%\" by answering zeros everywhere. "+
				"Judge it by exact pass@2: %d of %d "+
				"tasks.", percent(m.PixelAccuracy), percent(zeros.PixelAccuracy), m.Pass2, m.Tasks),
		})
	}
	if m.Pass2 == 0 {
		rep.Warnings = append(rep.Warnings, evalWarning{
			Code:  warnNothingSolved,
			Title: "THE MODEL SOLVED NO TASK",
			Message: fmt.Sprintf(
				"pass@2 is 0 of %d tasks: not one task has every test output exactly right in either attempt, whatever its pixel "+
					"accuracy (%s) suggests.",
				m.Tasks,
				percent(m.PixelAccuracy),
			),
		})
	}
}

func percent(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// evalTableRow is a task's line of the table: a task without its key has
// "-" for what needs one.
func evalTableRow(r evalTaskResult, verified bool, baselines int) []string {
	cycles, conf := 0.0, 0.0
	for i := range r.Cycles {
		cycles += float64(r.Cycles[i]) / float64(len(r.Cycles))
		conf += r.Confidence[i] / float64(len(r.Confidence))
	}
	cells := []string{r.Task, fmt.Sprint(r.Tests), yesNo(r.Model.Pass1), yesNo(r.Model.Pass2),
		percent(float64(r.Model.Correct) / float64(r.Model.Cells)), fmt.Sprintf("%.1f", cycles), fmt.Sprintf("%.2f", conf)}
	if r.NoKey {
		cells[2], cells[3], cells[4] = "-", "-", "-"
	}
	if verified {
		cells = append(cells, strings.Join(r.Verified, ","))
	}
	for _, b := range r.Baselines {
		cells = append(cells, yesNo(b.Pass1))
	}
	for range baselines - len(r.Baselines) {
		cells = append(cells, "-")
	}
	flags := strings.Join(r.Flags, ",")
	if flags == "" {
		flags = "-"
	}
	return append(cells, flags)
}

// printEvalTable writes the per-task table and the summary.
func printEvalTable(w io.Writer, rep *evalReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	verdicts := rep.Totals.Model.Verified
	head := []string{"task", "tests", "pass@1", "pass@2", "pixels", "cycles", "confidence"}
	if verdicts != nil {
		head = append(head, "verified")
	}
	for _, b := range rep.Totals.Baselines {
		head = append(head, b.Name)
	}
	fmt.Fprintln(tw, strings.Join(append(head, "flags"), "\t"))
	for _, r := range rep.Tasks {
		fmt.Fprintln(tw, strings.Join(evalTableRow(r, verdicts != nil, len(rep.Totals.Baselines)), "\t"))
	}
	tw.Flush()

	m := rep.Totals.Model
	fmt.Fprintf(
		w,
		"\nsummary: %d tasks, %d test inputs; model %s (sha256 %.12s) on %s, halting %s, at most %d cycles; %.1f s\n",
		len(rep.Tasks),
		m.answered,
		rep.Model.Name,
		rep.Model.SHA256,
		rep.Model.Provider,
		rep.Settings.Halting,
		rep.Settings.MaxCycles,
		rep.Seconds,
	)
	if verdicts != nil {
		fmt.Fprintf(w, "verified by the puzzles' rules, without the key: %d valid, %d optimal, %d invalid of %d answers\n",
			verdicts.Valid, verdicts.Optimal, verdicts.Invalid, m.answered)
	}
	if m.Tasks == 0 {
		fmt.Fprintf(w, "no task has its known outputs: exact match not scored; model: %.2f cycles per test input\n",
			m.MeanCycles)
		return
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tpass@1\t\tpass@2\t\tpixel accuracy")
	row := func(name string, t puzzles.Totals) {
		fmt.Fprintf(
			tw,
			"%s\t%d/%d\t%s\t%d/%d\t%s\t%s (%d/%d cells)\n",
			name,
			t.Pass1,
			t.Tasks,
			percent(rate(t.Pass1, t.Tasks)),
			t.Pass2,
			t.Tasks,
			percent(rate(t.Pass2, t.Tasks)),
			percent(t.PixelAccuracy),
			t.Correct,
			t.Cells,
		)
	}
	row("model", m.Totals)
	for _, b := range rep.Totals.Baselines {
		row(b.Name, b.Totals)
	}
	tw.Flush()
	fmt.Fprintf(w, "model: %.2f cycles per test input, mean confidence %.2f\n", m.MeanCycles, m.MeanConfidence)
	for _, wn := range rep.Warnings {
		fmt.Fprintf(w, "WARNING %s: %s (see stderr and the report)\n", wn.Code, strings.ToLower(wn.Title))
	}
}

func rate(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// printEvalWarnings makes the warnings impossible to miss: a score that
// looks fine but is not is how the "71%" all-zeros model fooled people.
func printEvalWarnings(w io.Writer, warnings []evalWarning) {
	if len(warnings) == 0 {
		return
	}
	rule := strings.Repeat("!", 78)
	fmt.Fprintln(w, rule)
	for i, wn := range warnings {
		if i > 0 {
			fmt.Fprintln(w, "!!")
		}
		fmt.Fprintf(w, "!! WARNING %s: %s\n", wn.Code, wn.Title)
		for _, line := range wrap(wn.Message, 72) {
			fmt.Fprintln(w, "!! "+line)
		}
	}
	fmt.Fprintln(w, rule)
}

// wrap breaks s into lines of at most width characters, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}

// marshalSubmission writes the answers as an ARC Prize submission file:
// `{"<task_id>": [{"attempt_1": grid, "attempt_2": grid}, ...]}`, one entry
// per test input in order, the tasks in the set's order, a task a line.
func marshalSubmission(tasks []evalTask, answers []puzzles.AnswerFile) ([]byte, error) {
	type attempts struct {
		Attempt1 puzzles.Grid `json:"attempt_1"`
		Attempt2 puzzles.Grid `json:"attempt_2"`
	}
	// A missing prediction is written [[0]]: a submission's grids must be
	// grids, and a 1x1 black grid scores as wrong as it is, where [] or null
	// could make a scorer reject the whole file.
	orEmpty := func(g puzzles.Grid) puzzles.Grid {
		if g.Rows() == 0 {
			return puzzles.Grid{{0}}
		}
		return g
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, t := range tasks {
		entries := make([]attempts, len(answers[i].Answers))
		for j, a := range answers[i].Answers {
			entries[j] = attempts{orEmpty(a.Attempt1), orEmpty(a.Attempt2)}
		}
		key, err := json.Marshal(t.ID)
		if err != nil {
			return nil, err
		}
		value, err := json.Marshal(entries)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, "\n%s: %s", key, value)
	}
	buf.WriteString("\n}\n")
	return buf.Bytes(), nil
}

// progressBar redraws `[=====>    ] 12/50 tasks` in place on a terminal; a
// nil one (stderr is a file or a pipe, where redrawing makes a mess) draws
// nothing. unit names what is counted ("tasks").
type progressBar struct {
	w     io.Writer
	total int
	unit  string
}

func newProgressBar(stderr io.Writer, total int, unit string) *progressBar {
	if f, ok := stderr.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progressBar{w: stderr, total: total, unit: unit}
}

func (p *progressBar) show(done int) {
	if p != nil {
		fmt.Fprint(p.w, "\r"+progressLine(done, p.total, 30, p.unit)+"\x1b[K")
	}
}

// clear erases the bar, so that what follows starts on a clean line.
func (p *progressBar) clear() {
	if p != nil {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func progressLine(done, total, width int, unit string) string {
	filled := width
	if total > 0 {
		filled = done * width / total
	}
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	return fmt.Sprintf("[%s] %d/%d %s", bar, done, total, unit)
}
