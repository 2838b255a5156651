package main

import (
	"bytes"
	"strings"

	"github.com/hrmd/hrmd/puzzles"
)

// fleetFile is a file the fleet scenario drops: a task to answer, or a
// bad file that must end in failed/ with its code, whichever of the
// gateway or a worker finds the fault.
type fleetFile struct {
	name string
	data []byte
	code string // "" for a task
}

// badFiles are the fleet scenario's ten bad files: one for each kind of
// fault a task file can have, a file over the size limit (maxBytes, which
// the gateway refuses before it reads it) among them.
func badFiles(maxBytes int64) []fleetFile {
	train := `"train": [{"input": [[1]], "output": [[2]]}]`
	rows31 := "[" + strings.TrimSuffix(strings.Repeat("[1],", 31), ",") + "]"
	huge := append([]byte(`{"test": [{"input": [[1]]}]}`), bytes.Repeat([]byte(" "), int(maxBytes))...)
	return []fleetFile{
		{"bad-not-json.json", []byte("this is not JSON\n"), puzzles.CodeNotJSON},
		{"bad-empty.json", nil, puzzles.CodeNotJSON},
		{"bad-colour-11.json", []byte(`{` + train + `, "test": [{"input": [[1, 11]]}]}`), puzzles.CodeBadColour},
		{"bad-31-rows.json", []byte(`{` + train + `, "test": [{"input": ` + rows31 + `}]}`), puzzles.CodeGridTooLarge},
		{"bad-ragged.json", []byte(`{"test": [{"input": [[1, 2], [3]]}]}`), puzzles.CodeRaggedGrid},
		{"bad-empty-grid.json", []byte(`{"test": [{"input": []}]}`), puzzles.CodeEmptyGrid},
		{"bad-no-test.json", []byte(`{` + train + `}`), puzzles.CodeNoTestInput},
		{"bad-no-output.json", []byte(`{"train": [{"input": [[1]]}], "test": [{"input": [[1]]}]}`), puzzles.CodeNoOutput},
		{
			"bad-duplicate-key.json",
			[]byte(`{"test": [{"input": [[1]]}], "test": [{"input": [[2]]}]}`),
			puzzles.CodeDuplicateKey,
		},
		{"bad-too-big.json", huge, puzzles.CodeTooBig},
	}
}
