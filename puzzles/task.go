package puzzles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultMaxBytes is the size limit when the caller sets none (4 MiB: the
// whole ARC-AGI-1 evaluation challenges file fits, with room to spare).
const DefaultMaxBytes = 4 << 20

// Pair is one demonstration (input and output) or one test input, whose
// Output is nil unless the file carries the answer (as ARC's own files do).
type Pair struct {
	Input  Grid `json:"input"`
	Output Grid `json:"output,omitempty"`
}

// Task is one ARC task.
type Task struct {
	ID    string // the bundle's key, or the file's name without .json
	Name  string // the task's optional "name" field, as some ARC files carry it
	Train []Pair
	Test  []Pair
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

// ReadFile reads and validates a task file, refusing one over maxBytes before
// reading it (maxBytes <= 0 means DefaultMaxBytes).
func ReadFile(path string, maxBytes int64) (*File, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxBytes {
		return nil, tooBig(st.Size(), maxBytes)
	}
	// The file may still be growing: never read past the limit.
	data, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > maxBytes {
		return nil, tooBig(int64(len(data)), maxBytes)
	}
	return Parse(data, TaskName(path))
}

func tooBig(size, limit int64) *Error {
	return errorf(CodeTooBig, "the file is %d bytes or more; the limit is %d bytes", size, limit)
}

// Parse validates a task file's bytes. name is the task's ID when the file
// holds a single task.
func Parse(data []byte, name string) (*File, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errorf(CodeNotJSON, "the file is empty; an ARC task is a JSON object with \"train\" and \"test\"")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return nil, notJSON(data, err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		for end < int64(len(data)) && isSpace(data[end]) {
			end++
		}
		line, col := position(data, end)
		return nil, errorf(CodeNotJSON, "extra data after the JSON value at line %d column %d", line, col)
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, errorf(CodeBadTask, "the file holds %s; an ARC task is a JSON object with \"train\" and \"test\"", kind(top))
	}
	_, hasTrain := obj["train"]
	_, hasTest := obj["test"]
	if hasTrain || hasTest {
		t, err := parseTask("", name, obj)
		if err != nil {
			return nil, err
		}
		return &File{Tasks: []Task{t}}, nil
	}
	if len(obj) == 0 {
		return nil, errorf(CodeNoTasks, "the file is an empty object: no \"train\" and \"test\", and no tasks")
	}
	ids, err := topLevelKeys(data)
	if err != nil {
		return nil, notJSON(data, err)
	}
	file := &File{Bundle: true}
	for _, id := range ids {
		taskObj, ok := obj[id].(map[string]any)
		if !ok {
			return nil, errorf(CodeBadTask, "task %q is %s; a multi-task file maps task ids to ARC tasks (objects with \"train\" and \"test\")", id, kind(obj[id]))
		}
		t, err := parseTask(fmt.Sprintf("task %q ", id), id, taskObj)
		if err != nil {
			return nil, err
		}
		file.Tasks = append(file.Tasks, t)
	}
	return file, nil
}

// topLevelKeys returns the keys of the top-level object in file order (a Go
// map forgets it, and a bundle is answered in the order it was written).
func topLevelKeys(data []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var keys []string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
		if !seen[key] { // a repeated key keeps its first place and its last value, as encoding/json does
			seen[key] = true
			keys = append(keys, key)
		}
	}
	return keys, nil
}

func notJSON(data []byte, err error) *Error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		// Offset counts the offending byte itself.
		line, col := position(data, syn.Offset-1)
		return errorf(CodeNotJSON, "not valid JSON at line %d column %d: %s", line, col, syn.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errorf(CodeNotJSON, "the JSON ends early (a truncated or half-written file?)")
	}
	return errorf(CodeNotJSON, "not valid JSON: %v", err)
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func parseTask(prefix, id string, obj map[string]any) (Task, error) {
	t := Task{ID: id}
	if key, ok := unknownKey(obj, "train", "test", "name"); ok {
		return t, errorf(CodeUnknownField, "%sfield %q is not part of an ARC task (only \"train\", \"test\" and \"name\")", prefix, key)
	}
	if raw, ok := obj["name"]; ok {
		name, ok := raw.(string)
		if !ok {
			return t, errorf(CodeBadTask, "%s\"name\" is %s, not a string", prefix, kind(raw))
		}
		t.Name = name
	}
	var err error
	// A task without demonstrations is allowed: a nova model answers from the test input alone.
	if raw, ok := obj["train"]; ok {
		if t.Train, err = parsePairs(prefix, "train", raw, true); err != nil {
			return t, err
		}
	}
	raw, ok := obj["test"]
	if !ok {
		return t, errorf(CodeNoTestInput, "%shas no \"test\": nothing to answer", prefix)
	}
	if t.Test, err = parsePairs(prefix, "test", raw, false); err != nil {
		return t, err
	}
	if len(t.Test) == 0 {
		return t, errorf(CodeNoTestInput, "%s\"test\" is empty: nothing to answer", prefix)
	}
	return t, nil
}

func parsePairs(prefix, section string, raw any, needOutput bool) ([]Pair, error) {
	list, ok := raw.([]any)
	if !ok {
		return nil, errorf(CodeBadTask, "%s%q is %s, not a list of pairs", prefix, section, kind(raw))
	}
	pairs := make([]Pair, 0, len(list))
	for i, item := range list {
		where := fmt.Sprintf("%s%s[%d]", prefix, section, i)
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, errorf(CodeBadTask, "%s is %s, not an object with \"input\"", where, kind(item))
		}
		if key, ok := unknownKey(obj, "input", "output"); ok {
			return nil, errorf(CodeUnknownField, "%s has field %q; a pair has only \"input\" and \"output\"", where, key)
		}
		in, ok := obj["input"]
		if !ok {
			return nil, errorf(CodeBadTask, "%s has no \"input\"", where)
		}
		var p Pair
		var err error
		if p.Input, err = parseGrid(where+".input", in); err != nil {
			return nil, err
		}
		if out, ok := obj["output"]; ok {
			if p.Output, err = parseGrid(where+".output", out); err != nil {
				return nil, err
			}
		} else if needOutput {
			return nil, errorf(CodeNoOutput, "%s has no \"output\"; every demonstration needs one", where)
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

func parseGrid(where string, raw any) (Grid, error) {
	rows, ok := raw.([]any)
	if !ok {
		return nil, errorf(CodeNotAGrid, "%s is %s, not a list of rows", where, kind(raw))
	}
	if len(rows) == 0 {
		return nil, errorf(CodeEmptyGrid, "%s has no rows; a grid is 1 to %d rows", where, MaxSide)
	}
	if len(rows) > MaxSide {
		return nil, errorf(CodeGridTooLarge, "%s has %d rows; at most %d", where, len(rows), MaxSide)
	}
	width := -1
	g := make(Grid, len(rows))
	for r, rawRow := range rows {
		row, ok := rawRow.([]any)
		if !ok {
			return nil, errorf(CodeNotAGrid, "%s row %d is %s, not a list of colours", where, r, kind(rawRow))
		}
		switch {
		case len(row) == 0:
			return nil, errorf(CodeEmptyGrid, "%s row %d has no cells; a row is 1 to %d colours", where, r, MaxSide)
		case len(row) > MaxSide:
			return nil, errorf(CodeGridTooLarge, "%s row %d has %d columns; at most %d", where, r, len(row), MaxSide)
		case width >= 0 && len(row) != width:
			return nil, errorf(CodeRaggedGrid, "%s row %d has %d cells; row 0 has %d (a grid is a rectangle)", where, r, len(row), width)
		}
		width = len(row)
		g[r] = make([]int, len(row))
		for c, cell := range row {
			n, ok := cell.(json.Number)
			if !ok {
				return nil, errorf(CodeNotAGrid, "%s row %d column %d is %s, not a colour 0-9", where, r, c, kind(cell))
			}
			v, err := n.Int64()
			if err != nil {
				return nil, errorf(CodeNotAGrid, "%s row %d column %d is %s, not a whole number", where, r, c, n)
			}
			if v < 0 || v > 9 {
				return nil, errorf(CodeBadColour, "%s row %d column %d is %d; colours are 0-9", where, r, c, v)
			}
			g[r][c] = int(v)
		}
	}
	return g, nil
}

// unknownKey returns the first key, in sorted order so that the message is
// the same every time, that is not one of allowed.
func unknownKey(obj map[string]any, allowed ...string) (string, bool) {
	var unknown []string
	for key := range obj {
		if !slices.Contains(allowed, key) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) == 0 {
		return "", false
	}
	slices.Sort(unknown)
	return unknown[0], true
}

// kind describes a decoded JSON value for an error message.
func kind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "the number " + v.String()
	case string:
		if len(v) > 20 {
			v = v[:20] + "..."
		}
		return fmt.Sprintf("the string %q", v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
