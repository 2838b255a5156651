package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

const tinyBundle = "../engine/testdata/nova-tiny"

// cpuRuntime opens onnxruntime on the CPU for one test (one at a time in a
// process), closed after the test's models.
func cpuRuntime(t *testing.T) *engine.Runtime {
	t.Helper()
	ec := engine.DefaultConfig()
	ec.Providers, ec.Library = []string{engine.ProviderCPU}, testenv.ORTLibrary(t)
	rt, err := engine.Open(ec, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// settingsOf loads the bundle at dir for batches of maxBatch, to run with run.
func settingsOf(t *testing.T, rt *engine.Runtime, dir string, maxBatch int, run engine.RunOptions) *settings {
	t.Helper()
	b, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.LoadModel(b, engine.ModelOptions{MaxBatch: maxBatch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &settings{
		model:    &loadedModel{model: m, as: answer.NewAssembler(m, "test", false)},
		run:      run,
		maxBatch: maxBatch,
	}
}

// testJob is a claimed file of one task with tests test inputs (n x n grids
// of colour n, so every row differs) and no demonstrations.
func testJob(name string, tests, n int) *job {
	task := puzzles.Task{ID: name}
	for i := range tests {
		g := puzzles.NewGrid(n+i, n)
		for r := range g {
			for c := range g[r] {
				g[r][c] = (n + i) % 10
			}
		}
		task.Test = append(task.Test, puzzles.Pair{Input: g})
	}
	return newJob(name+".json", name+".json", &puzzles.File{Tasks: []puzzles.Task{task}}, 0)
}

// bundleJob is a claimed multi-task file of tasks tasks with tests test
// inputs each (small grids, every one different) and no demonstrations.
func bundleJob(name string, tasks, tests int) *job {
	file := &puzzles.File{Bundle: true}
	for k := range tasks {
		task := puzzles.Task{ID: fmt.Sprintf("%s-%d", name, k)}
		for i := range tests {
			g := puzzles.NewGrid(1+k%5, 1+i%5)
			g[0][0] = (k + i) % 10
			task.Test = append(task.Test, puzzles.Pair{Input: g})
		}
		file.Tasks = append(file.Tasks, task)
	}
	return newJob(name+".json", name+".json", file, 0)
}

// batchNames writes a batch as job:row, in order.
func batchNames(batch []batchRow) []string {
	var out []string
	for _, br := range batch {
		out = append(out, fmt.Sprintf("%s:%d", br.job.name, br.i))
	}
	return out
}

// runAndRecord runs a batch through the model, as the worker does.
func runAndRecord(t *testing.T, s *settings, batch []batchRow) {
	t.Helper()
	results, err := s.model.model.RunPuzzles(context.Background(), tokens(batch), puzzleRows(batch), s.run)
	if err != nil {
		t.Fatal(err)
	}
	record(batch, results, time.Now())
}

// withoutLatency is an answer file without its latency, which differs from
// run to run.
func withoutLatency(data []byte) string {
	lines := strings.Split(string(data), "\n")
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool { return strings.Contains(l, "latency_ms") }), "\n")
}

// Rows go together across files, oldest file first, a file's rows spread
// over as many batches as it takes; a file leaves once all its rows have
// their results (whenever each row halted), and each answer is what the
// same file gets on its own.
func TestBatcherBatchesAcrossFiles(t *testing.T) {
	s, _ := shiftSettings(t, 1, 4)
	b := &batcher{cur: s}
	a, two, three := testJob("a", 1, 3), testJob("b", 2, 4), testJob("c", 3, 5)
	for _, j := range []*job{a, two, three} {
		b.add(j)
	}
	if b.full() || b.available() != 3 {
		t.Fatalf("available %d before any file started, want one row per task (3)", b.available())
	}
	batch, failed := b.nextBatch()
	if got := batchNames(batch); !slices.Equal(got, []string{"a.json:0", "b.json:0", "b.json:1", "c.json:0"}) ||
		len(failed) != 0 {
		t.Fatalf("first batch %v (failed %v)", got, failed)
	}
	runAndRecord(t, s, batch)
	if done := b.finished(); len(done) != 2 || done[0] != a || done[1] != two {
		t.Fatalf("after the first batch %d files finished, want a and b", len(done))
	}
	if b.available() != 2 {
		t.Errorf("available %d, want c's two rows left", b.available())
	}
	batch, _ = b.nextBatch()
	if got := batchNames(batch); !slices.Equal(got, []string{"c.json:1", "c.json:2"}) {
		t.Fatalf("second batch %v", got)
	}
	runAndRecord(t, s, batch)
	if done := b.finished(); len(done) != 1 || done[0] != three || len(b.pending) != 0 {
		t.Fatalf("after the second batch: finished %d, pending %d", len(done), len(b.pending))
	}
	answeredShifted(t, 1, a, two, three)
}

// sameAsAlone checks that each finished job's answer is the one its file
// gets when solved alone.
func sameAsAlone(t *testing.T, s *settings, jobs ...*job) {
	t.Helper()
	solver := &answer.Solver{Model: s.model.model.(*engine.Model), Assembler: s.model.as, Run: s.run}
	for _, j := range jobs {
		data, _, err := j.answer()
		if err != nil {
			t.Fatal(err)
		}
		alone, err := solver.Solve(context.Background(), j.file)
		if err != nil {
			t.Fatal(err)
		}
		want, err := puzzles.MarshalAnswers(alone, false)
		if err != nil {
			t.Fatal(err)
		}
		if withoutLatency(data) != withoutLatency(want) {
			t.Errorf("%s batched:\n%s\nalone:\n%s", j.name, data, want)
		}
	}
}

// Rows of one batch halt after different cycles: each halted row leaves the
// batch inside the engine while the others go on, and every file still gets
// its own rows' results. (The tiny model's halting threshold is set between
// its halt values on the golden ARC inputs, so that some rows stop early.)
func TestBatcherRowsHaltApart(t *testing.T) {
	g := testenv.ReadGolden(t, tinyBundle)
	threshold := g.SplittingThreshold()
	dir := testenv.CopyDir(t, tinyBundle)
	testenv.ReplaceInFile(
		t,
		filepath.Join(dir, "hrm.yaml"),
		"threshold: 0.9",
		"threshold: "+strconv.FormatFloat(threshold, 'g', -1, 64),
	)
	s := settingsOf(t, cpuRuntime(t), dir, len(g.Cases), engine.RunOptions{})
	b := &batcher{cur: s}
	var jobs []*job
	for _, c := range g.Cases {
		path := c.TaskFile(testenv.ARCDir(t))
		file, err := puzzles.ReadFile(path, puzzles.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		file.Tasks[0].Test = file.Tasks[0].Test[:1] // the golden case's input
		j := newJob(filepath.Base(path), filepath.Base(path), file, 0)
		jobs = append(jobs, j)
		b.add(j)
	}
	batch, _ := b.nextBatch()
	if len(batch) != len(jobs) {
		t.Fatalf("a batch of %d rows for %d one-row files", len(batch), len(jobs))
	}
	runAndRecord(t, s, batch)
	cycles := map[int]bool{}
	for _, j := range jobs {
		cycles[j.results[0].cycles] = true
	}
	if len(cycles) < 2 {
		t.Fatalf(
			"threshold %g: every row halted after the same number of cycles %v; the test needs rows that halt apart",
			threshold,
			cycles,
		)
	}
	if done := b.finished(); len(done) != len(jobs) {
		t.Fatalf("%d of %d files finished", len(done), len(jobs))
	}
	sameAsAlone(t, s, jobs...)
}

// A file whose test input does not fit the model fails at planning, leaves
// the batcher with its reason, and the others run.
func TestBatcherPlanFailure(t *testing.T) {
	s, _ := shiftSettings(t, 1, 4)
	b := &batcher{cur: s}
	big := testJob("big", 1, 31)
	b.add(big)
	b.add(testJob("ok", 1, 2))
	batch, failed := b.nextBatch()
	if len(failed) != 1 || failed[0].job != big || answer.Code(failed[0].err) != puzzles.CodeGridTooLarge {
		t.Fatalf("failed %+v, want big with %s", failed, puzzles.CodeGridTooLarge)
	}
	if got := batchNames(batch); !slices.Equal(got, []string{"ok.json:0"}) || len(b.pending) != 1 {
		t.Errorf("batch %v with %d pending, want ok alone", got, len(b.pending))
	}
}

// New settings wait until every started file has run all its rows with the
// settings it started with; files not started wait too, then start with the
// new ones. Settings superseded before they were applied hand back their
// model, and so does the switch to another model.
func TestBatcherSettingsBetweenBatches(t *testing.T) {
	s1, _ := shiftSettings(t, 1, 2)
	b := &batcher{cur: s1}
	first, second := testJob("first", 3, 2), testJob("second", 1, 3)
	b.add(first)
	batch, _ := b.nextBatch()
	runAndRecord(t, s1, batch)
	b.add(second)

	s2, _ := shiftSettings(t, 2, 4)
	s3 := &settings{model: s2.model, run: engine.RunOptions{MaxCycles: 2}, maxBatch: 4}
	if unused := b.offer(s2); unused != nil {
		t.Error("the first offer handed back a model")
	}
	if unused := b.offer(s3); unused != nil {
		t.Error("settings with the same model handed it back")
	}
	if switched, _ := b.apply(); switched {
		t.Fatal("settings applied while first has a row left")
	}
	if b.available() != 1 {
		t.Errorf("available %d while settings wait, want first's last row only", b.available())
	}
	batch, _ = b.nextBatch()
	if got := batchNames(batch); !slices.Equal(got, []string{"first.json:2"}) || second.started() {
		t.Fatalf("batch %v (second started %v); want first's last row alone", got, second.started())
	}
	runAndRecord(t, s1, batch)
	if done := b.finished(); len(done) != 1 || first.set != s1 {
		t.Fatalf("first not finished with its own settings")
	}
	switched, unused := b.apply()
	if !switched || unused != s1.model || b.cur != s3 {
		t.Fatalf(
			"apply: switched %v, handed back the old model %v, current is s3 %v",
			switched,
			unused == s1.model,
			b.cur == s3,
		)
	}
	batch, _ = b.nextBatch()
	if got := batchNames(batch); !slices.Equal(got, []string{"second.json:0"}) || second.set != s3 {
		t.Errorf("batch %v; want second, started with the new settings", got)
	}
	runAndRecord(t, s3, batch)
	if done := b.finished(); len(done) != 1 {
		t.Fatal("second not finished")
	}
	answeredShifted(t, 1, first)
	answeredShifted(t, 2, second)
	// Offered twice before applying: the first one's model comes back.
	s4, _ := shiftSettings(t, 3, 1)
	b.offer(s4)
	if unused := b.offer(s1); unused != s4.model {
		t.Error("superseded waiting settings did not hand back their model")
	}
}

// Files take turns: a small file dropped behind a file of hundreds of rows,
// which has started, is answered within two batches
// (its three rows dealt between the large file's), and the large file keeps
// running in every one of them. With more files than a batch has rows,
// every file gets a row within as many batches as it takes to go round.
func TestBatcherTakesTurns(t *testing.T) {
	s, _ := shiftSettings(t, 1, 4)
	b := &batcher{cur: s}
	huge := bundleJob("huge", 50, 10)
	b.add(huge)
	batch, _ := b.nextBatch()
	runAndRecord(t, s, batch)
	small := testJob("small", 3, 2)
	b.add(small)
	batches := 0
	for !small.done() {
		if batches++; batches > 2 {
			t.Fatalf(
				"the small file has %d of its 3 rows after %d batches; it waits behind the large file",
				small.finished,
				batches-1,
			)
		}
		batch, _ := b.nextBatch()
		if !slices.ContainsFunc(batch, func(br batchRow) bool { return br.job == huge }) {
			t.Errorf("batch %d has no row of the large file: %v", batches, batchNames(batch))
		}
		runAndRecord(t, s, batch)
		if done := b.finished(); small.done() && (len(done) != 1 || done[0] != small) {
			t.Fatalf("finished %d files, want the small one", len(done))
		}
	}
	answeredShifted(t, 1, small)

	pairs := *s
	pairs.maxBatch = 2
	b = &batcher{cur: &pairs}
	var jobs []*job
	for i := range 6 {
		jobs = append(jobs, testJob(fmt.Sprintf("f%d", i), 3, 2))
		b.add(jobs[i])
	}
	seen := map[*job]bool{}
	for range 3 {
		batch, _ := b.nextBatch()
		for _, br := range batch {
			seen[br.job] = true
		}
	}
	for _, j := range jobs {
		if !seen[j] {
			t.Errorf("%s got no row in 3 batches of 2 rows among 6 files", j.name)
		}
	}
}

// A started file holds its plan and its results, a kilobyte a row or so:
// not the model's tokens for all its rows (7 KiB each on a 30x30 grid) up
// front, nor the engine's int64 predictions. Measured in heap bytes after a
// collection, which depend on the code, not on the machine or its load; the
// results are the engine's shape without running it, which the other tests do.
func TestBatcherMemoryPerRow(t *testing.T) {
	s, _ := shiftSettings(t, 1, 64)
	b := &batcher{cur: s}
	j := bundleJob("large", 128, 8)
	rows := 128 * 8
	before := heapInUse()
	b.add(j)
	batch, _ := b.nextBatch()
	if perRow := (heapInUse() - before) / rows; perRow > 1024 {
		t.Errorf("started, a file holds %d bytes a row; rows are to be encoded as their batch runs", perRow)
	}
	seq := s.model.as.Bundle.Seq()
	for len(batch) > 0 {
		results := make([]engine.RowResult, len(batch))
		for i := range results {
			results[i] = engine.RowResult{Cycles: 2, HaltedBy: engine.HaltedByModel, Tokens: make([]int64, seq)}
		}
		tokens(batch)
		record(batch, results, time.Now())
		batch, _ = b.nextBatch()
	}
	if !j.done() {
		t.Fatal("not done after all its batches")
	}
	if perRow := (heapInUse() - before) / rows; perRow > 2048 {
		t.Errorf("with every result in, a file holds %d bytes a row; a result is to be kept compactly", perRow)
	}
	runtime.KeepAlive(j)
}

func heapInUse() int {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.HeapAlloc)
}
