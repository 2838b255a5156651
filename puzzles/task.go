package puzzles

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The default limits (hrmd.yaml's watch.max_*) fit every public ARC task
// and challenges file with room to spare. The 2,320 public tasks of ARC-AGI-1
// and ARC-AGI-2 have at most 10 demonstration pairs and 4 test inputs each;
// the largest challenges file, ARC-AGI-2's training set, holds 1,000 tasks
// in 2.7 MB. A limit bounds the work and memory one file can cause: a 4 MiB
// file of 1x1 grids holds over 260,000 test inputs.
const (
	DefaultMaxBytes      = 4 << 20 // the whole ARC-AGI-2 training challenges file fits
	DefaultMaxTasks      = 2000    // twice ARC-AGI-2 training's 1,000
	DefaultMaxTrainPairs = 20      // twice ARC's 10
	DefaultMaxTestInputs = 10      // ARC's 4, and more
)

// Limits bound what one task file may hold; a zero field is its default.
type Limits struct {
	Bytes      int64 // the file's size
	Tasks      int   // tasks in a multi-task file
	TrainPairs int   // demonstration pairs a task
	TestInputs int   // test inputs a task
}

func (l Limits) orDefaults() Limits {
	def := func(v, d int) int { return cmp.Or(max(v, 0), d) }
	return Limits{
		Bytes:      cmp.Or(max(l.Bytes, 0), DefaultMaxBytes),
		Tasks:      def(l.Tasks, DefaultMaxTasks),
		TrainPairs: def(l.TrainPairs, DefaultMaxTrainPairs),
		TestInputs: def(l.TestInputs, DefaultMaxTestInputs),
	}
}

// Pair is one demonstration (input and output) or one test input, whose
// Output is nil unless the file carries the answer (as ARC's own files do).
type Pair struct {
	Input  Grid `json:"input"`
	Output Grid `json:"output,omitempty"`
	// InputForm and OutputForm say how each grid was written in the file.
	InputForm  Form `json:"-"`
	OutputForm Form `json:"-"`
}

// Task is one ARC task.
type Task struct {
	ID   string // the bundle's key, or the file's name without .json
	Name string // the task's optional "name" field, as some ARC files carry it
	// DroppedAs is a single task's name as its file was dropped, when the
	// daemon claimed it under another ("x" for x.1.json beside an earlier
	// x.json): the name a model's puzzle table knows it by. "" otherwise.
	DroppedAs string
	Train     []Pair
	Test      []Pair
}

// File is a parsed task file: one task, or a multi-task bundle
// (`{"<task_id>": task, ...}`, the ARC Prize challenges format) in file order.
type File struct {
	Tasks  []Task
	Bundle bool
}

// TaskName is the name a single-task file's task gets: its file name without .json.
func TaskName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".json")
}

// ReadFile reads and validates a task file within lim, refusing one over
// lim.Bytes before reading it.
func ReadFile(path string, lim Limits) (*File, error) {
	lim = lim.orDefaults()
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil {
		if size = st.Size(); size > lim.Bytes {
			return nil, tooBig(size, lim.Bytes)
		}
	}
	// The file may still be growing: never read past the limit. Sized at
	// once, the buffer is the file's size, not up to twice it.
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, lim.Bytes+1)); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	data := buf.Bytes()
	if int64(len(data)) > lim.Bytes {
		return nil, tooBig(int64(len(data)), lim.Bytes)
	}
	return Parse(data, TaskName(path), lim)
}

func tooBig(size, limit int64) *Error {
	return errorf(CodeTooBig, "the file is %d bytes or more; the limit is %d bytes", size, limit)
}

// Parse validates a task file's bytes within lim (its Bytes aside). name
// is the task's ID when the file holds a single task.
func Parse(data []byte, name string, lim Limits) (*File, error) {
	if err := checkText(data); err != nil {
		return nil, err
	}
	lim = lim.orDefaults()
	// Keep enough keys to tell a task (train, test, name) from a bundle.
	top, n, ok := members(data, max(lim.Tasks, 3))
	if !ok {
		return nil, errorf(
			CodeBadTask,
			"the file holds %s; an ARC task is a JSON object with \"train\" and \"test\"",
			kind(data),
		)
	}
	if slices.ContainsFunc(top, func(m member) bool { return m.key == "train" || m.key == "test" }) {
		t, err := parseTask("", name, top, lim)
		if err != nil {
			return nil, err
		}
		return &File{Tasks: []Task{t}}, nil
	}
	switch {
	case n == 0:
		return nil, errorf(CodeNoTasks, "the file is an empty object: no \"train\" and \"test\", and no tasks")
	case n > lim.Tasks:
		return nil, errorf(
			CodeTooManyTasks,
			"the file holds %d tasks; the limit is %d tasks a file (split it into files of at most %d tasks)",
			n,
			lim.Tasks,
			lim.Tasks,
		)
	}
	if key, ok := repeated(top); ok {
		return nil, errorf(
			CodeDuplicateKey,
			"task %q appears twice in the file; a multi-task file names each task once (rename or remove one)",
			key,
		)
	}
	file := &File{Bundle: true, Tasks: make([]Task, 0, len(top))}
	for _, m := range top {
		prefix := fmt.Sprintf("task %q ", m.key)
		fields, _, ok := members(m.value, -1)
		if !ok {
			return nil, errorf(
				CodeBadTask,
				"task %q is %s; a multi-task file maps task ids to ARC tasks (objects with \"train\" and \"test\")",
				m.key,
				kind(m.value),
			)
		}
		t, err := parseTask(prefix, m.key, fields, lim)
		if err != nil {
			return nil, err
		}
		file.Tasks = append(file.Tasks, t)
	}
	return file, nil
}

// repeated returns the first key that appears twice. encoding/json would
// keep the last one's value: a second "test" would silently replace the first.
func repeated(ms []member) (string, bool) {
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		if seen[m.key] {
			return m.key, true
		}
		seen[m.key] = true
	}
	return "", false
}

// field is the value of key in ms, if there.
func field(ms []member, key string) ([]byte, bool) {
	for _, m := range ms {
		if m.key == key {
			return m.value, true
		}
	}
	return nil, false
}

func parseTask(prefix, id string, fields []member, lim Limits) (Task, error) {
	t := Task{ID: id}
	if key, ok := repeated(fields); ok {
		return t, errorf(
			CodeDuplicateKey,
			"%shas the key %q twice; a task has each of \"train\", \"test\" and \"name\" once (keep one)",
			cmp.Or(prefix, "the task "),
			key,
		)
	}
	if key, ok := unknownKey(fields, "train", "test", "name"); ok {
		return t, errorf(
			CodeUnknownField,
			"%sfield %q is not part of an ARC task (only \"train\", \"test\" and \"name\")",
			prefix,
			key,
		)
	}
	if raw, ok := field(fields, "name"); ok {
		if raw[0] != '"' {
			return t, errorf(CodeBadTask, "%s\"name\" is %s, not a string", prefix, kind(raw))
		}
		t.Name = unquote(raw)
	}
	var err error
	// A task without demonstrations is allowed: a nova model answers from the test input alone.
	if raw, ok := field(fields, "train"); ok {
		if t.Train, err = parsePairs(prefix, "train", raw, lim.TrainPairs); err != nil {
			return t, err
		}
	}
	raw, ok := field(fields, "test")
	if !ok {
		return t, errorf(CodeNoTestInput, "%shas no \"test\": nothing to answer", prefix)
	}
	if t.Test, err = parsePairs(prefix, "test", raw, lim.TestInputs); err != nil {
		return t, err
	}
	if len(t.Test) == 0 {
		return t, errorf(CodeNoTestInput, "%s\"test\" is empty: nothing to answer", prefix)
	}
	return t, nil
}

// parsePairs parses the train or test list, counting it before building
// any grid.
func parsePairs(prefix, section string, raw []byte, limit int) ([]Pair, error) {
	list, n, ok := elements(raw, limit)
	if !ok {
		return nil, errorf(CodeBadTask, "%s%q is %s, not a list of pairs", prefix, section, kind(raw))
	}
	if n > limit {
		if section == "train" {
			return nil, errorf(
				CodeTooManyTrainPairs,
				"%s\"train\" has %d demonstration pairs; the limit is %d a task (ARC tasks have at most 10)",
				prefix,
				n,
				limit,
			)
		}
		return nil, errorf(
			CodeTooManyTestInputs,
			"%s\"test\" has %d test inputs; the limit is %d a task (ARC tasks have at most 4; split the task)",
			prefix,
			n,
			limit,
		)
	}
	pairs := make([]Pair, 0, len(list))
	for i, item := range list {
		p, err := parsePair(fmt.Sprintf("%s%s[%d]", prefix, section, i), item, section == "train")
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

func parsePair(where string, raw []byte, needOutput bool) (Pair, error) {
	var p Pair
	fields, _, ok := members(raw, -1)
	if !ok {
		return p, errorf(CodeBadTask, "%s is %s, not an object with \"input\"", where, kind(raw))
	}
	if key, ok := repeated(fields); ok {
		return p, errorf(
			CodeDuplicateKey,
			"%s has the key %q twice; a pair has one \"input\" and one \"output\" (keep one)",
			where,
			key,
		)
	}
	if key, ok := unknownKey(fields, "input", "output"); ok {
		return p, errorf(CodeUnknownField, "%s has field %q; a pair has only \"input\" and \"output\"", where, key)
	}
	in, ok := field(fields, "input")
	if !ok {
		return p, errorf(CodeBadTask, "%s has no \"input\"", where)
	}
	var err error
	if p.Input, p.InputForm, err = parseGrid(where+".input", in); err != nil {
		return p, err
	}
	if out, ok := field(fields, "output"); ok {
		if p.Output, p.OutputForm, err = parseGrid(where+".output", out); err != nil {
			return p, err
		}
	} else if needOutput {
		return p, errorf(CodeNoOutput, "%s has no \"output\"; every demonstration needs one", where)
	}
	return p, nil
}

// parseGrid reads a grid: a list of rows of numbers, or a Sudoku or a maze
// written as text (parseTextGrid). Which forms the model takes is checked
// once the model is known (Encoding.CheckTask).
func parseGrid(where string, raw []byte) (Grid, Form, error) {
	if raw[0] == '"' {
		return parseTextGrid(where, raw)
	}
	rows, n, ok := elements(raw, MaxSide)
	switch {
	case !ok:
		return nil, 0, errorf(CodeNotAGrid, "%s is %s, not a list of rows", where, kind(raw))
	case n == 0:
		return nil, 0, errorf(CodeEmptyGrid, "%s has no rows; a grid is 1 to %d rows", where, MaxSide)
	case n > MaxSide:
		return nil, 0, errorf(CodeGridTooLarge, "%s has %d rows; at most %d", where, n, MaxSide)
	case rows[0][0] == '"':
		return parseTextGrid(where, raw)
	}
	g, err := parseNumberGrid(where, rows)
	return g, FormNumbers, err
}

func parseNumberGrid(where string, rows [][]byte) (Grid, error) {
	g := make(Grid, len(rows))
	var cells []int // one array for the whole grid, once its width is known
	for r, rawRow := range rows {
		row, width, ok := elements(rawRow, MaxSide)
		switch {
		case !ok:
			return nil, errorf(CodeNotAGrid, "%s row %d is %s, not a list of colours", where, r, kind(rawRow))
		case width == 0:
			return nil, errorf(CodeEmptyGrid, "%s row %d has no cells; a row is 1 to %d colours", where, r, MaxSide)
		case width > MaxSide:
			return nil, errorf(CodeGridTooLarge, "%s row %d has %d columns; at most %d", where, r, width, MaxSide)
		case r > 0 && width != len(g[0]):
			return nil, errorf(
				CodeRaggedGrid,
				"%s row %d has %d cells; row 0 has %d (a grid is a rectangle)",
				where,
				r,
				width,
				len(g[0]),
			)
		}
		if cells == nil {
			cells = make([]int, len(rows)*width)
		}
		g[r] = cells[r*width : (r+1)*width : (r+1)*width]
		for c, cell := range row {
			v, ok := colour(cell)
			if !ok {
				return nil, badCell(fmt.Sprintf("%s row %d column %d", where, r, c), cell)
			}
			g[r][c] = v
		}
	}
	return g, nil
}

// colour reads a cell that is a colour 0-9.
func colour(raw []byte) (int, bool) {
	if len(raw) == 1 && raw[0] >= '0' && raw[0] <= '9' {
		return int(raw[0] - '0'), true
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	return int(v), err == nil && v >= 0 && v <= 9
}

// badCell says what is wrong with a cell that is not a colour.
func badCell(where string, raw []byte) *Error {
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return errorf(CodeNotAGrid, "%s is %s, not a colour 0-9", where, kind(raw))
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return errorf(CodeNotAGrid, "%s is %s, not a whole number", where, raw)
	}
	return errorf(CodeBadColour, "%s is %d; colours are 0-9", where, v)
}

// unknownKey returns the first key, in sorted order so that the message is
// the same every time, that is not one of allowed.
func unknownKey(fields []member, allowed ...string) (string, bool) {
	var unknown []string
	for _, m := range fields {
		if !slices.Contains(allowed, m.key) {
			unknown = append(unknown, m.key)
		}
	}
	if len(unknown) == 0 {
		return "", false
	}
	slices.Sort(unknown)
	return unknown[0], true
}
