package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// taskSource hands out the committed ARC tasks in turn, each made unique
// by a "name" field (part of the ARC format) naming its drop: the checker
// knows every file by its content, wherever and under whatever name the
// daemon puts it.
type taskSource struct {
	files [][]byte
	names []string // the task ids, for messages
}

func loadTasks(dir string) (*taskSource, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no ARC tasks in %s (-arc): %v", dir, err)
	}
	slices.Sort(paths)
	ts := &taskSource{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		data = bytes.TrimSpace(data)
		if !bytes.HasPrefix(data, []byte("{")) || bytes.Contains(data, []byte(`"name"`)) {
			return nil, fmt.Errorf("%s: want an ARC task object without a \"name\" field", p)
		}
		ts.files = append(ts.files, data)
		ts.names = append(ts.names, strings.TrimSuffix(filepath.Base(p), ".json"))
	}
	return ts, nil
}

// task is the i-th task (taken round), labelled: no two labels give the
// same bytes.
func (ts *taskSource) task(i int, label string) []byte {
	data := ts.files[i%len(ts.files)]
	// JSON, not Go, quoting: a label that is a name not in UTF-8 still
	// makes a valid task (its stray bytes become U+FFFD).
	quoted, _ := json.Marshal(label)
	out := make([]byte, 0, len(data)+len(quoted)+10)
	out = append(out, `{"name": `...)
	out = append(out, quoted...)
	out = append(out, ", "...)
	return append(out, data[1:]...)
}

// manyTests is a task of n 1x1 test inputs, padded with spaces after the
// JSON to size bytes (when size is larger).
func manyTests(label string, n int, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"name": %q, "test": [`, label)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"input":[[%d]]}`, i%10)
	}
	b.WriteString("]}\n")
	if pad := size - b.Len(); pad > 0 {
		b.Write(bytes.Repeat([]byte(" "), pad))
	}
	return b.Bytes()
}

// fillTests is the task of 1x1 test inputs that fills size bytes best
// (manyTests' layout: a header, 16 bytes an input with its comma, and a
// tail), and how many inputs it holds.
func fillTests(label string, size int) ([]byte, int) {
	fixed := len(manyTests(label, 0, 0))
	n := (size - fixed + 1) / len(`{"input":[[1]]},`)
	return manyTests(label, n, 0), n
}

// bundle is a multi-task file of n tasks keyed label-0000 on (unique to
// the label), each with pairs 1x1 demonstrations and tests test inputs of
// side x side grids; nil once it grows over limit bytes (0: no limit).
func bundle(label string, n, pairs, tests, side, limit int) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for k := range n {
		if k > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `%q:{"train":[`, fmt.Sprintf("%s-%04d", label, k))
		for i := range pairs {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"input":[[%d]],"output":[[%d]]}`, i%10, (i+1)%10)
		}
		b.WriteString(`],"test":[`)
		for i := range tests {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"input":`)
			writeGrid(&b, side, k+i)
			b.WriteByte('}')
		}
		b.WriteString("]}")
		if limit > 0 && b.Len() > limit {
			return nil
		}
	}
	b.WriteString("}\n")
	if limit > 0 && b.Len() > limit {
		return nil
	}
	return b.Bytes()
}

// writeGrid writes a side x side grid of colours that vary with seed.
func writeGrid(b *bytes.Buffer, side, seed int) {
	b.WriteByte('[')
	for r := range side {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		for c := range side {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteByte(byte('0' + (seed+r*c)%10))
		}
		b.WriteByte(']')
	}
	b.WriteByte(']')
}

// deepJSON is a test input nested depth arrays deep.
func deepJSON(depth int) []byte {
	return []byte(`{"test": [{"input": ` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}]}`)
}
