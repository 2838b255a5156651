package daemon

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/puzzles"
)

// shiftModel runs without onnxruntime, for the batcher and worker tests: a
// real function of its input, every colour c of the grid (arc-eos tokens
// 2-11) to c+shift mod 10, the size markers kept, in one cycle. So each
// answer is checkable: the test input, shifted.
type shiftModel struct {
	shift, maxBatch int
	seq             int // tokens a row

	mu      sync.Mutex
	batches int
	closed  int
}

func (m *shiftModel) RunPuzzles(ctx context.Context, tokens [][]int64, puzzles []int,
	opts engine.RunOptions) ([]engine.RowResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(tokens) > m.maxBatch || len(puzzles) != len(tokens) {
		return nil, fmt.Errorf("a batch of %d rows (%d puzzles) for a model of batch %d",
			len(tokens), len(puzzles), m.maxBatch)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed > 0 {
		return nil, fmt.Errorf("run after close")
	}
	m.batches++
	out := make([]engine.RowResult, len(tokens))
	for i, row := range tokens {
		if len(row) != m.seq {
			return nil, fmt.Errorf("row %d has %d tokens, want %d", i, len(row), m.seq)
		}
		pred := make([]int64, len(row))
		for k, t := range row {
			pred[k] = t
			if t >= 2 && t <= 11 {
				pred[k] = 2 + (t-2+int64(m.shift))%10
			}
		}
		out[i] = engine.RowResult{Cycles: 1, HaltedBy: engine.HaltedByModel, Halt: 1, Tokens: pred}
	}
	return out, nil
}

func (m *shiftModel) MaxBatch() int                      { return m.maxBatch }
func (m *shiftModel) EngineCache() engine.EngineCacheUse { return engine.EngineCacheUse{} }

func (m *shiftModel) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed++
	return nil
}

func (m *shiftModel) closes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// shiftSettings are settings of a shiftModel over the tiny bundle's grid
// and encoding, for batches of maxBatch.
func shiftSettings(t *testing.T, shift, maxBatch int) (*settings, *shiftModel) {
	t.Helper()
	b, err := bundle.Load(tinyBundle)
	if err != nil {
		t.Fatal(err)
	}
	m := &shiftModel{shift: shift, maxBatch: maxBatch, seq: b.Seq()}
	as := answer.Assembler{Bundle: b, Provider: fmt.Sprintf("shift-%d", shift), Precision: "exact", Device: "test"}
	return &settings{model: &loadedModel{model: m, as: as}, maxBatch: maxBatch}, m
}

// shifted is g with every colour c made c+shift mod 10.
func shifted(g puzzles.Grid, shift int) puzzles.Grid {
	out := puzzles.NewGrid(g.Rows(), g.Cols())
	for r := range g {
		for c := range g[r] {
			out[r][c] = (g[r][c] + shift) % 10
		}
	}
	return out
}

// answeredShifted checks that each finished job's answers are its test
// inputs shifted by shift.
func answeredShifted(t *testing.T, shift int, jobs ...*job) {
	t.Helper()
	for _, j := range jobs {
		_, files, err := j.answer()
		if err != nil {
			t.Fatal(err)
		}
		for k, a := range files {
			checkShifted(t, j.name, j.file.Tasks[k], a, shift)
		}
	}
}

// checkShifted checks one task's answer file against its test inputs shifted.
func checkShifted(t *testing.T, name string, task puzzles.Task, a puzzles.AnswerFile, shift int) {
	t.Helper()
	if len(a.Answers) != len(task.Test) {
		t.Fatalf("%s: %d answers for %d test inputs", name, len(a.Answers), len(task.Test))
	}
	for i, p := range task.Test {
		if want := shifted(p.Input, shift); !a.Answers[i].Attempt1.Equal(want) {
			t.Errorf("%s task %s test %d: answer %v, want the input shifted by %d %v",
				name, task.ID, i, a.Answers[i].Attempt1, shift, want)
		}
	}
}
