package daemon

import (
	"sync"

	"go.uber.org/zap"
)

// filesInMemory is how many task files of the largest size allowed
// (watch.max_file_bytes) may be held between their read and their answer.
// One file's work is bounded by the per-file limits; this bounds them all
// together: 16 files of 4 MiB parse to a few hundred MB, which a 4 GB
// board has to spare beside the model.
const filesInMemory = 16

// memoryBudget counts the bytes (as on disk) of the task files read and not
// yet answered. Once they reach the budget its gate shuts: no file is read
// or claimed until one is answered (new files wait in the inbox).
type memoryBudget struct {
	log     *zap.Logger
	metrics *metrics
	limit   int64

	mu   sync.Mutex
	used int64
	open gate
}

func newMemoryBudget(limit int64, log *zap.Logger, m *metrics) *memoryBudget {
	return &memoryBudget{log: log, metrics: m, limit: limit, open: newGate(true)}
}

// take counts a file read; the budget may go over by this one file.
func (b *memoryBudget) take(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used += n
	b.metrics.queuedBytes.Set(float64(b.used))
	if b.used >= b.limit && b.open.set(false) {
		b.log.Info("the task files in memory reach their budget; the next is read once one is answered",
			zap.Int64("bytes", b.used), zap.Int64("budget", b.limit))
	}
}

// give counts files answered (or failed) or handed back.
func (b *memoryBudget) give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	b.metrics.queuedBytes.Set(float64(b.used))
	if b.used < b.limit {
		b.open.set(true)
	}
}
