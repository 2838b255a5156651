package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
	quoted := strconv.Quote(label)
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
		fmt.Fprintf(&b, `{"input": [[%d]]}`, i%10)
	}
	b.WriteString("]}\n")
	if pad := size - b.Len(); pad > 0 {
		b.Write(bytes.Repeat([]byte(" "), pad))
	}
	return b.Bytes()
}

// deepJSON is a test input nested depth arrays deep.
func deepJSON(depth int) []byte {
	return []byte(`{"test": [{"input": ` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}]}`)
}
