package daemon

import (
	"context"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/puzzles"
)

// loadedModel is a model ready to run, with what answers say about it.
type loadedModel struct {
	model *engine.Model
	mr    modelRun
}

// settings are what the worker runs with; a reload hands it new ones.
type settings struct {
	model     *loadedModel
	run       engine.RunOptions // its Trace is answers.trace
	demoCheck bool
	maxBatch  int
	png       bool // answers.png
	// augmentations: test-time variants per test input (inference.augmentations)
	augmentations int
}

// job is one claimed task file on its way through the model.
type job struct {
	name    string // as dropped in the inbox
	job     string // its name in work/ (the name, or with a suffix)
	file    *puzzles.File
	claimed time.Time

	// Set when the job first enters a batch; a job runs all its rows with
	// the settings it started with.
	set      *settings
	plans    [][]row // per task
	rows     []jobRow
	tokens   [][]int64
	results  []engine.RowResult
	next     int // rows handed to batches so far
	finished int
	failed   bool        // the model failed on one of its batches; already in failed/
	start    []time.Time // per task: its first row's batch began
	end      []time.Time // per task: its last row's batch ended
}

type jobRow struct{ task, row int }

func newJob(name, workName string, file *puzzles.File) *job {
	return &job{name: name, job: workName, file: file, claimed: time.Now()}
}

func (j *job) started() bool { return j.set != nil }

// prepare plans and encodes the job's rows for the settings it starts with.
func (j *job) prepare(s *settings) error {
	b := s.model.mr.bundle
	j.plans = make([][]row, len(j.file.Tasks))
	for t, task := range j.file.Tasks {
		plan, err := planTask(task, taskPrefix(j.file, task), b.Manifest.Grid, s.demoCheck, s.augmentations)
		if err != nil {
			return err
		}
		j.plans[t] = plan
		for r := range plan {
			j.rows = append(j.rows, jobRow{t, r})
		}
		j.tokens = append(j.tokens, encodeRows(b, task, plan)...)
	}
	j.set = s
	j.results = make([]engine.RowResult, len(j.rows))
	j.start = make([]time.Time, len(j.file.Tasks))
	j.end = make([]time.Time, len(j.file.Tasks))
	return nil
}

// batchRow is one row of a batch: which job and which of its rows.
type batchRow struct {
	job *job
	i   int
}

// worker runs the model. It batches rows across files up to max_batch,
// lingering briefly to fill a batch, and finishes each file once all its
// rows are done. It is the loop that proves work moves, so it sends the
// systemd watchdog pings.
type worker struct {
	d       *daemon
	queue   <-chan *job
	updates <-chan *settings
	linger  time.Duration
}

// run works until stop is closed, then finishes the batch in flight and
// returns. runCtx cancels a batch in flight (the shutdown timeout): its
// files stay in work/ for the next start. The worker owns the models it is
// given: it closes each one it stops using, and the last one when it returns.
func (w *worker) run(stop <-chan struct{}, runCtx context.Context, cur *settings) {
	var pending []*job
	var next *settings // waiting until no started job remains
	defer func() {
		if next != nil && next.model != cur.model {
			next.model.model.Close()
		}
		cur.model.model.Close()
	}()
	ping := w.d.notify.watchdogInterval()
	var watchdog <-chan time.Time
	if ping > 0 {
		t := time.NewTicker(ping)
		defer t.Stop()
		watchdog = t.C
	}
	lastPing := time.Time{}
	// update takes new settings; ones still waiting are dropped, and their
	// model closed unless something else uses it.
	update := func(s *settings) {
		if next != nil && next.model != cur.model && next.model != s.model {
			next.model.model.Close()
		}
		next = s
	}
	for {
		if ping > 0 && time.Since(lastPing) >= ping {
			w.d.notify.watchdog()
			lastPing = time.Now()
		}
		if next != nil && !anyStarted(pending) {
			if next.model != cur.model {
				cur.model.model.Close()
				w.d.useModel(next.model)
			}
			cur, next = next, nil
			w.d.log.Info("settings applied", zap.String("model", cur.model.mr.bundle.Manifest.Name))
		}
		// A reload waits for the worker: take new settings even when a
		// backlog keeps it from ever waiting below.
		select {
		case <-stop:
			return
		case s := <-w.updates:
			update(s)
		default:
		}
		// Too hot: nothing new starts until it has cooled down (the batch
		// in flight has finished; claimed files wait in work/).
		if cooled := w.d.thermal.opened(); !isClosed(cooled) {
			select {
			case <-stop:
				return
			case s := <-w.updates:
				update(s)
			case <-watchdog:
			case <-cooled:
			}
			continue
		}
		if available(pending, next != nil) == 0 {
			select {
			case <-stop:
				return
			case j := <-w.queue:
				pending = append(pending, j)
			case s := <-w.updates:
				update(s)
			case <-watchdog:
			}
			continue
		}
		// Linger a little for more files, so that a burst fills a batch.
		if available(pending, next != nil) < cur.maxBatch {
			timer := time.NewTimer(w.linger)
		linger:
			for available(pending, next != nil) < cur.maxBatch {
				select {
				case j := <-w.queue:
					pending = append(pending, j)
				case s := <-w.updates:
					update(s)
				case <-timer.C:
					break linger
				case <-stop:
					timer.Stop()
					return
				}
			}
			timer.Stop()
		}
		batch, unplanned := w.take(pending, cur, next != nil)
		pending = remove(pending, unplanned)
		w.d.dequeue(len(unplanned))
		if len(batch) == 0 {
			continue
		}
		if !w.runBatch(runCtx, cur, batch) {
			return
		}
		var done []*job
		for _, j := range pending {
			if j.failed || j.started() && j.finished == len(j.rows) {
				done = append(done, j)
			}
		}
		for _, j := range done {
			if !j.failed {
				w.d.finish(j)
			}
		}
		pending = remove(pending, done)
		w.d.dequeue(len(done))
	}
}

// available counts the rows that could go into a batch now; while a
// settings change waits, only jobs already started may go on.
func available(pending []*job, startedOnly bool) int {
	n := 0
	for _, j := range pending {
		switch {
		case j.started():
			n += len(j.rows) - j.next
		case !startedOnly:
			n += len(j.file.Tasks) // at least one row per task
		}
	}
	return n
}

func anyStarted(pending []*job) bool {
	for _, j := range pending {
		if j.started() && j.next < len(j.rows) {
			return true
		}
	}
	return false
}

// take fills a batch of up to max_batch rows, oldest files first, starting
// files as needed. Files whose rows cannot be planned (a test input too large
// for the model) fail here and are returned apart.
func (w *worker) take(pending []*job, cur *settings, startedOnly bool) (batch []batchRow, unplanned []*job) {
	for _, j := range pending {
		if len(batch) == cur.maxBatch {
			break
		}
		if !j.started() {
			if startedOnly {
				continue
			}
			if err := j.prepare(cur); err != nil {
				w.d.fail(j.job, j.name, err)
				unplanned = append(unplanned, j)
				continue
			}
		}
		for j.next < len(j.rows) && len(batch) < cur.maxBatch {
			batch = append(batch, batchRow{j, j.next})
			j.next++
		}
	}
	return batch, unplanned
}

// runBatch runs one batch and hands each row its result. It returns false
// when runCtx ended the run: the caller stops, leaving its files in work/.
func (w *worker) runBatch(runCtx context.Context, cur *settings, batch []batchRow) bool {
	tokens := make([][]int64, len(batch))
	for i, br := range batch {
		tokens[i] = br.job.tokens[br.i]
	}
	started := time.Now()
	for _, br := range batch {
		if t := br.job.rows[br.i].task; br.job.start[t].IsZero() {
			br.job.start[t] = started
		}
	}
	results, err := cur.model.model.Run(runCtx, tokens, cur.run)
	ended := time.Now()
	if err != nil {
		if runCtx.Err() != nil {
			return false
		}
		// The model failed on this batch: its files fail with the reason,
		// rather than being retried forever.
		for _, br := range batch {
			if !br.job.failed {
				br.job.failed = true
				w.d.fail(br.job.job, br.job.name, err)
			}
		}
		return true
	}
	w.d.metrics.inference.Observe(ended.Sub(started).Seconds())
	w.d.metrics.batchSize.Observe(float64(len(batch)))
	for i, br := range batch {
		j := br.job
		jr := j.rows[br.i]
		plan := j.plans[jr.task][jr.row]
		if !plan.test || plan.variant > 0 {
			// Only a test input's own trace goes into its answer: the
			// demonstrations' and the variants' (full traces: a grid per
			// cycle) need not wait in memory for the rest of the file.
			results[i].Trace = nil
		}
		j.results[br.i] = results[i]
		j.finished++
		j.end[jr.task] = ended
		if plan.test && plan.variant == 0 {
			w.d.metrics.cycles.Observe(float64(results[i].Cycles))
		}
	}
	return true
}

// remove drops the jobs in gone from list, keeping the order.
func remove(list, gone []*job) []*job {
	return slices.DeleteFunc(list, func(j *job) bool { return slices.Contains(gone, j) })
}

// answer builds a finished job's answer file, and the answers it holds.
func (j *job) answer() (answer []byte, files []puzzles.AnswerFile, err error) {
	files = make([]puzzles.AnswerFile, len(j.file.Tasks))
	mr := j.set.model.mr
	mr.trace = j.set.run.Trace != ""
	offset := 0
	for t, task := range j.file.Tasks {
		n := len(j.plans[t])
		a, err := mr.assemble(task, j.plans[t], j.results[offset:offset+n], j.end[t].Sub(j.start[t]), j.set.demoCheck)
		if err != nil {
			return nil, nil, err
		}
		files[t] = a
		offset += n
	}
	if answer, err = puzzles.MarshalAnswers(files, j.file.Bundle); err != nil {
		return nil, nil, err
	}
	return answer, files, nil
}

// testCycles lists the cycles of each test input (not of its test-time
// variants), in order.
func (j *job) testCycles() []int {
	var out []int
	for i, jr := range j.rows {
		if plan := j.plans[jr.task][jr.row]; plan.test && plan.variant == 0 {
			out = append(out, j.results[i].Cycles)
		}
	}
	return out
}

// errCode is the stable code and the message of a failure, for
// failed/<name>.error.json: the same codes hrmd solve prints.
func errCode(err error) (code, msg string) {
	code, _ = classify(err)
	return code, message(err)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
