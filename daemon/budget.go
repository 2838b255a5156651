package daemon

import (
	"sync"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/puzzles"
)

// filesInMemory sizes the memory budget: what the task files read and not
// yet answered may hold in memory, as parsed (memoryCost), is this many times
// the largest file allowed (watch.max_file_bytes): 64 MiB by default, about
// three of the largest files the limits let through (each holds some 20 MB
// once parsed), or thousands of ARC tasks, so that a burst of large files
// costs the daemon a bounded few hundred MB, not a multiple of their number.
const filesInMemory = 16

// The sizes of the parsed file's parts on a 64-bit machine (puzzles.Grid is
// [][]int): a slice's header, a string's, an int, a puzzles.Task, a
// puzzles.Pair; and what a test input's row holds once it has run, its
// result and plan (job.go: about a kilobyte).
const (
	sliceBytes  = 24
	stringBytes = 16
	intBytes    = 8
	taskBytes   = 3*stringBytes + 2*sliceBytes
	pairBytes   = 2 * sliceBytes
	rowBytes    = 1024
)

// memoryCost estimates what a parsed file holds in memory from its read to
// its answer: the file itself (parsedBytes) and a result for each test input.
// Variants of test-time augmentation add rows not counted here, at most
// watch.max_rows kilobytes a file.
func memoryCost(f *puzzles.File) int64 {
	n := parsedBytes(f)
	for _, t := range f.Tasks {
		n += int64(rowBytes * len(t.Test))
	}
	return n
}

// parsedBytes estimates what a parsed file holds: the cells of its grids an
// int each (the text took two bytes a cell), a slice a grid row; a quarter
// more for the allocator's rounding up to its size classes (a 15x15 grid's
// 1,800 bytes of cells take 2,048).
// TestMemoryBudgetCountsParsedFiles holds it to what the heap holds for the
// largest files.
func parsedBytes(f *puzzles.File) int64 {
	n := int64(taskBytes * cap(f.Tasks))
	for _, t := range f.Tasks {
		n += int64(len(t.ID) + len(t.Name) + len(t.DroppedAs) + pairBytes*(cap(t.Train)+cap(t.Test)))
		for _, pairs := range [][]puzzles.Pair{t.Train, t.Test} {
			for _, p := range pairs {
				n += gridBytes(p.Input) + gridBytes(p.Output)
			}
		}
	}
	return n + n/4
}

func gridBytes(g puzzles.Grid) int64 {
	return int64(len(g)*sliceBytes + len(g)*g.Cols()*intBytes)
}

// memoryBudget counts what the task files read and not yet answered hold in
// memory (memoryCost). Once they reach the budget its gate shuts: no file is
// read or claimed until one is answered (new files wait in the inbox).
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

// reserve counts a file read; the budget may go over by this one file.
func (b *memoryBudget) reserve(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used += n
	b.metrics.queuedBytes.Set(float64(b.used))
	if b.used >= b.limit && b.open.set(false) {
		b.log.Info("the task files in memory reach their budget; the next is read once one is answered",
			zap.String("event", "budget_reached"), zap.Int64("bytes", b.used), zap.Int64("budget", b.limit))
	}
}

// release counts files answered (or failed) or handed back.
func (b *memoryBudget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	b.metrics.queuedBytes.Set(float64(b.used))
	if b.used < b.limit {
		b.open.set(true)
	}
}
