package daemon

import (
	"time"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/device"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/puzzles"
)

// loadedModel is a model ready to run, with what answers say about it.
type loadedModel struct {
	model    Model
	as       answer.Assembler
	degraded *device.Degradation // why it runs on the CPU of a Jetson configured for its GPU; nil if it does not
}

// settings are what the worker runs with; a reload hands it new ones.
type settings struct {
	model    *loadedModel
	run      engine.RunOptions // its Trace is answers.trace
	opts     answer.Options
	maxBatch int
	png      bool // answers.png
}

func settingsFor(cfg config.Config, lm *loadedModel) *settings {
	run := cfg.RunOptions()
	return &settings{
		model:    lm,
		run:      run,
		opts:     cfg.AnswerOptions(run),
		maxBatch: lm.model.MaxBatch(),
		png:      cfg.Answers.PNG,
	}
}

// job is one claimed task file on its way through the model.
type job struct {
	name    string // as dropped in the inbox
	job     string // its name in work/ (the name, or with a suffix)
	file    *puzzles.File
	claimed time.Time
	size    int64  // what it counts against the memory budget: what it holds in memory (memoryCost), or on disk if more
	ino     uint64 // its inode in work/ when read (0: not known)
	ref     any    // its Source's (a fleet worker's puzzle from the queue); nil for a claimed file
	sink    Sink   // where its outcome goes: the spool's writer, or a fleet worker's publisher
	// turn is the batch in which the job last got rows (or, before it got
	// any, the last batch before it came): the batcher deals rows to the
	// jobs that waited longest first.
	turn int

	// Set when the job first enters a batch; a job runs all its rows with
	// the settings it started with. Rows are encoded only as they enter a
	// batch, and their results kept compactly, so that a file of thousands
	// of rows holds a kilobyte a row, not the model's tokens for all of them.
	set      *settings
	plans    [][]answer.Row // per task
	rows     []jobRow
	results  []rowResult
	next     int // rows handed to batches so far
	finished int
	// failed says the model failed on one of its batches, or the rows could
	// not be planned: the job leaves the batcher for failed/.
	failed bool
	start  []time.Time // per task: its first row's batch began
	end    []time.Time // per task: its last row's batch ended
}

type jobRow struct{ task, row int }

// rowResult is a row's result from the engine, kept until its file is
// answered: the prediction a byte a token (the encodings have 10 or 12),
// an eighth of the engine's int64s.
type rowResult struct {
	cycles   int
	haltedBy string
	halt     float64
	tokens   []byte
	trace    []engine.CycleTrace // a test input's own row's only
}

func compact(r engine.RowResult) rowResult {
	tokens := make([]byte, len(r.Tokens))
	for i, t := range r.Tokens {
		tokens[i] = byte(t)
	}
	return rowResult{cycles: r.Cycles, haltedBy: r.HaltedBy, halt: r.Halt, tokens: tokens, trace: r.Trace}
}

func (r rowResult) expand() engine.RowResult {
	tokens := make([]int64, len(r.tokens))
	for i, t := range r.tokens {
		tokens[i] = int64(t)
	}
	return engine.RowResult{Cycles: r.cycles, HaltedBy: r.haltedBy, Halt: r.halt, Tokens: tokens, Trace: r.trace}
}

// newJob is a parsed file of diskBytes on its way to the worker.
func newJob(name, workName string, file *puzzles.File, diskBytes int64) *job {
	// The text, read whole, is garbage only once parsed: a file of long
	// names and spaces costs that more than its grids.
	return &job{name: name, job: workName, file: file, size: max(diskBytes, memoryCost(file)), claimed: time.Now()}
}

func (j *job) started() bool { return j.set != nil }

// done reports whether the worker is through with the job: every row has its
// result, or the model failed on it.
func (j *job) done() bool { return j.failed || j.started() && j.finished == len(j.rows) }

// prepare plans the job's rows for the settings it starts with; a file
// with more rows than watch.max_rows is refused here, before any runs.
func (j *job) prepare(s *settings) error {
	plans, err := answer.PlanFile(j.file, s.model.as.Bundle, s.opts)
	if err != nil {
		return err
	}
	j.plans = plans
	for t, plan := range plans {
		for r := range plan {
			j.rows = append(j.rows, jobRow{t, r})
		}
	}
	j.set = s
	j.results = make([]rowResult, len(j.rows))
	j.start = make([]time.Time, len(j.file.Tasks))
	j.end = make([]time.Time, len(j.file.Tasks))
	return nil
}

// plan is what row i of the job is.
func (j *job) plan(i int) answer.Row {
	jr := j.rows[i]
	return j.plans[jr.task][jr.row]
}

// encode writes row i's tokens into dst.
func (j *job) encode(i int, dst []int64) {
	jr := j.rows[i]
	answer.EncodeRow(j.set.model.as.Bundle, j.file.Tasks[jr.task], j.plans[jr.task][jr.row], dst)
}

// answer builds a finished job's answer file, and the answers it holds.
func (j *job) answer() (data []byte, files []puzzles.AnswerFile, err error) {
	files = make([]puzzles.AnswerFile, len(j.file.Tasks))
	offset := 0
	for t, task := range j.file.Tasks {
		n := len(j.plans[t])
		// One task's results at a time go back to the engine's form.
		results := make([]engine.RowResult, n)
		for i, r := range j.results[offset : offset+n] {
			results[i] = r.expand()
		}
		a, err := j.set.model.as.Assemble(task, j.plans[t], results, j.end[t].Sub(j.start[t]), j.set.opts)
		if err != nil {
			return nil, nil, err
		}
		files[t] = a
		offset += n
	}
	if data, err = puzzles.MarshalAnswers(files, j.file.Bundle); err != nil {
		return nil, nil, err
	}
	return data, files, nil
}

// testCycles lists the cycles of each test input (not of its test-time
// variants), in order.
func (j *job) testCycles() []int {
	var out []int
	for i := range j.rows {
		if j.plan(i).Own() {
			out = append(out, j.results[i].cycles)
		}
	}
	return out
}

func (j *job) testInputs() int {
	n := 0
	for _, t := range j.file.Tasks {
		n += len(t.Test)
	}
	return n
}

// latency is the longest time one of the job's tasks took through the model.
func (j *job) latency() time.Duration {
	var latency time.Duration
	for t := range j.start {
		latency = max(latency, j.end[t].Sub(j.start[t]))
	}
	return latency
}
