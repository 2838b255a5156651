package daemon

import (
	"context"

	"github.com/hrmd/hrmd/engine"
)

// Model is what the batcher and the worker need of a loaded model: its
// batches run, its batch, what /metrics says of its engine, and closing it
// once nothing uses it. *engine.Model is the one the daemon loads; a test
// runs the worker on a model of its own, without onnxruntime.
type Model interface {
	RunPuzzles(ctx context.Context, tokens [][]int64, puzzles []int, opts engine.RunOptions) ([]engine.RowResult, error)
	MaxBatch() int
	EngineCache() engine.EngineCacheUse
	Close() error
}

var _ Model = (*engine.Model)(nil)
