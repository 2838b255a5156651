package daemon

import (
	"cmp"
	"slices"
	"time"

	"github.com/hrmd/hrmd/engine"
)

// batcher decides which rows run together: up to max_batch rows across the
// claimed files, which take turns, a file's rows spread over as many
// batches as it needs, and every file run start to end with the settings it
// started with, so that new settings wait until no started file is left. It
// has no goroutine, clock or channel: the worker drives it, tests step it.
type batcher struct {
	pending []*job
	cur     *settings
	next    *settings // waiting until no started job remains
	batches int       // taken so far: the clock of the jobs' turns
}

// batchRow is one row of a batch: which job and which of its rows.
type batchRow struct {
	job *job
	i   int
}

// planFailure is a job whose rows cannot be planned (a test input too large
// for the model): it fails without running.
type planFailure struct {
	job *job
	err error
}

func (b *batcher) add(j *job) {
	j.turn = b.batches
	b.pending = append(b.pending, j)
}

// offer takes newer settings, to apply once no started job remains. It
// returns the model of settings they supersede before they were applied,
// when nothing else uses it: the caller closes it.
func (b *batcher) offer(s *settings) (unused *loadedModel) {
	if b.next != nil && b.next.model != b.cur.model && b.next.model != s.model {
		unused = b.next.model
	}
	b.next = s
	return unused
}

// apply switches to the waiting settings once no started job has rows left
// to run. It reports whether it switched, with the model it stopped using
// (nil when the settings kept the model): the caller closes it.
func (b *batcher) apply() (switched bool, unused *loadedModel) {
	if b.next == nil || b.anyStarted() {
		return false, nil
	}
	if b.next.model != b.cur.model {
		unused = b.cur.model
	}
	b.cur, b.next = b.next, nil
	return true, unused
}

// models are the models the batcher holds (current and waiting): the
// caller closes them when the worker stops.
func (b *batcher) models() []*loadedModel {
	out := []*loadedModel{b.cur.model}
	if b.next != nil && b.next.model != b.cur.model {
		out = append(out, b.next.model)
	}
	return out
}

// available counts the rows that could go into a batch now; while new
// settings wait, only jobs already started may go on.
func (b *batcher) available() int {
	n := 0
	for _, j := range b.pending {
		switch {
		case j.started():
			n += len(j.rows) - j.next
		case b.next == nil:
			n += len(j.file.Tasks) // at least one row per task
		}
	}
	return n
}

// full reports whether a whole batch is available.
func (b *batcher) full() bool { return b.available() >= b.cur.maxBatch }

func (b *batcher) anyStarted() bool {
	return slices.ContainsFunc(b.pending, func(j *job) bool { return j.started() && j.next < len(j.rows) })
}

// nextBatch fills the next batch of up to max_batch rows. Files take turns: rows
// are dealt one a file a round, the file that has waited longest since its
// last rows (or since it came) first, so that a file dropped behind one of
// thousands of rows waits a batch or two, not for all of them. A file starts
// (its rows are planned) when first dealt a row; one whose rows cannot be
// planned leaves the batcher and is returned apart.
func (b *batcher) nextBatch() (batch []batchRow, failed []planFailure) {
	b.batches++
	dealt, failed := b.deal()
	// In the order files came, each file's rows together.
	for _, j := range b.pending {
		if dealt[j] > 0 {
			j.turn = b.batches
		}
		for range dealt[j] {
			batch = append(batch, batchRow{j, j.next})
			j.next++
		}
	}
	b.pending = slices.DeleteFunc(b.pending, func(j *job) bool {
		return slices.ContainsFunc(failed, func(f planFailure) bool { return f.job == j })
	})
	return batch, failed
}

// deal counts how many rows each job gets in the next batch, round by
// round in turn order, starting jobs as it reaches them.
func (b *batcher) deal() (dealt map[*job]int, failed []planFailure) {
	order := slices.Clone(b.pending)
	slices.SortStableFunc(order, func(x, y *job) int { return cmp.Compare(x.turn, y.turn) })
	dealt = map[*job]int{}
	for n, more := 0, true; more && n < b.cur.maxBatch; {
		more = false
		for _, j := range order {
			if n == b.cur.maxBatch {
				break
			}
			if !b.start(j, &failed) || j.next+dealt[j] == len(j.rows) {
				continue
			}
			dealt[j]++
			n++
			more = true
		}
	}
	return dealt, failed
}

// start plans a job that has not started, unless new settings wait. It
// reports whether the job may be dealt rows; one whose rows cannot be
// planned is marked failed and added to failed.
func (b *batcher) start(j *job, failed *[]planFailure) bool {
	switch {
	case j.failed:
		return false
	case j.started():
		return true
	case b.next != nil:
		return false
	}
	if err := j.prepare(b.cur); err != nil {
		j.failed = true
		*failed = append(*failed, planFailure{j, err})
		return false
	}
	return true
}

// tokens are the model's input for a batch, encoded now: a row's tokens
// live only while its batch runs.
func tokens(batch []batchRow) [][]int64 {
	out := make([][]int64, len(batch))
	for i, br := range batch {
		m := br.job.set.model.as.Bundle.Manifest
		out[i] = make([]int64, m.Grid*m.Grid)
		br.job.encode(br.i, out[i])
	}
	return out
}

// puzzleRows are the batch's rows of the puzzle table (act-v1).
func puzzleRows(batch []batchRow) []int {
	out := make([]int, len(batch))
	for i, br := range batch {
		out[i] = br.job.plan(br.i).Puzzle()
	}
	return out
}

// begin marks when a batch began, for the latency of the tasks it starts.
func begin(batch []batchRow, at time.Time) {
	for _, br := range batch {
		if t := br.job.rows[br.i].task; br.job.start[t].IsZero() {
			br.job.start[t] = at
		}
	}
}

// record hands each row of a batch its result. Only a test input's own
// trace is kept: the demonstrations' and the variants' (full traces: a
// grid per cycle) need not wait in memory for the rest of the file.
func record(batch []batchRow, results []engine.RowResult, ended time.Time) {
	for i, br := range batch {
		j := br.job
		if !j.plan(br.i).Own() {
			results[i].Trace = nil
		}
		j.results[br.i] = compact(results[i])
		j.finished++
		j.end[j.rows[br.i].task] = ended
	}
}

// failBatch marks the jobs of a batch the model failed on, and returns
// those not failed before.
func failBatch(batch []batchRow) []*job {
	var newly []*job
	for _, br := range batch {
		if !br.job.failed {
			br.job.failed = true
			newly = append(newly, br.job)
		}
	}
	return newly
}

// finished removes the jobs the worker is through with and returns them,
// oldest first.
func (b *batcher) finished() []*job {
	var done []*job
	b.pending = slices.DeleteFunc(b.pending, func(j *job) bool {
		if j.done() {
			done = append(done, j)
			return true
		}
		return false
	})
	return done
}
