package puzzles

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadFileRefusesBadTasks(t *testing.T) {
	big := `{"train":[],"test":[{"input":[[1]]}]}` + strings.Repeat(" ", 2000)
	row31 := "[" + strings.Repeat("1,", 30) + "1]"
	rows31 := "[" + strings.Repeat("[1],", 30) + "[1]]"
	tests := []struct {
		name, content string
		code, message string
	}{
		{"empty", "  \n", CodeNotJSON, "the file is empty"},
		{"syntax", "{\"train\": [],\n \"test\": [}", CodeNotJSON, "line 2 column 11"},
		{"truncated", `{"train": [], "test": [{"input": [[1,2]`, CodeNotJSON, "ends early"},
		{"trailing", `{"test":[{"input":[[1]]}]} {}`, CodeNotJSON, "extra data after the JSON value at line 1 column 28"},
		{"array", `[[1]]`, CodeBadTask, "the file holds a list"},
		{"no test", `{"train":[]}`, CodeNoTestInput, `has no "test"`},
		{"empty test", `{"train":[],"test":[]}`, CodeNoTestInput, `"test" is empty`},
		{"test not list", `{"test":{"input":[[1]]}}`, CodeBadTask, `"test" is an object, not a list of pairs`},
		{"pair not object", `{"test":[[[1]]]}`, CodeBadTask, "test[0] is a list"},
		{"no input", `{"test":[{"output":[[1]]}]}`, CodeBadTask, `test[0] has no "input"`},
		{"no output", `{"train":[{"input":[[1]]}],"test":[{"input":[[1]]}]}`, CodeNoOutput, `train[0] has no "output"`},
		{"name not string", `{"test":[{"input":[[1]]}],"name":7}`, CodeBadTask, `"name" is the number 7, not a string`},
		{"unknown task field", `{"test":[{"input":[[1]]}],"name":"x","b":1}`, CodeUnknownField, `field "b" is not part of an ARC task`},
		{"unknown pair field", `{"test":[{"input":[[1]],"hint":[[2]]}]}`, CodeUnknownField, `test[0] has field "hint"`},
		{"grid not list", `{"test":[{"input":"1,2"}]}`, CodeNotAGrid, `test[0].input is the string "1,2", not a list of rows`},
		{"row not list", `{"test":[{"input":[[1],2]}]}`, CodeNotAGrid, "test[0].input row 1 is the number 2, not a list of colours"},
		{"cell not number", `{"test":[{"input":[[1,null]]}]}`, CodeNotAGrid, "test[0].input row 0 column 1 is null"},
		{"cell fraction", `{"test":[{"input":[[1.5]]}]}`, CodeNotAGrid, "row 0 column 0 is 1.5, not a whole number"},
		{"no rows", `{"test":[{"input":[]}]}`, CodeEmptyGrid, "test[0].input has no rows"},
		{"empty row", `{"test":[{"input":[[]]}]}`, CodeEmptyGrid, "test[0].input row 0 has no cells"},
		{"31 rows", `{"test":[{"input":` + rows31 + `}]}`, CodeGridTooLarge, "test[0].input has 31 rows; at most 30"},
		{"31 columns", `{"train":[{"input":[[1]],"output":` + "[" + row31 + "]" + `}],"test":[{"input":[[1]]}]}`, CodeGridTooLarge, "train[0].output row 0 has 31 columns; at most 30"},
		{"ragged", `{"test":[{"input":[[1,2],[3,4],[5,6],[7]]}]}`, CodeRaggedGrid, "test[0].input row 3 has 1 cells; row 0 has 2"},
		{"colour 10", `{"test":[{"input":[[1,10]]}]}`, CodeBadColour, "test[0].input row 0 column 1 is 10; colours are 0-9"},
		{"negative colour", `{"test":[{"input":[[-1]]}]}`, CodeBadColour, "is -1; colours are 0-9"},
		{"empty bundle", `{}`, CodeNoTasks, "empty object"},
		{"bundle value", `{"abc": [1]}`, CodeBadTask, `task "abc" is a list`},
		{"bundle task error", `{"a":{"test":[{"input":[[1]]}]},"b":{"test":[{"input":[[1,2],[3]]}]}}`, CodeRaggedGrid, `task "b" test[0].input row 1 has 1 cells`},
		{"too big", big, CodeTooBig, "the limit is 1000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFile(writeFile(t, "task.json", tt.content), 1000)
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("ReadFile: %v, want a *puzzles.Error with code %s", err, tt.code)
			}
			if perr.Code != tt.code || !strings.Contains(perr.Message, tt.message) {
				t.Errorf("got %s: %s\nwant %s: ...%s...", perr.Code, perr.Message, tt.code, tt.message)
			}
		})
	}
}

func TestReadFileSingleAndBundle(t *testing.T) {
	single, err := ReadFile(writeFile(t, "my-task.json", `{"train":[{"input":[[1,2]],"output":[[2],[1]]}],"test":[{"input":[[3,4],[5,6]]},{"input":[[0]],"output":[[7]]}]}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if single.Bundle || len(single.Tasks) != 1 {
		t.Fatalf("got bundle=%v with %d tasks", single.Bundle, len(single.Tasks))
	}
	task := single.Tasks[0]
	if task.ID != "my-task" || len(task.Train) != 1 || len(task.Test) != 2 {
		t.Fatalf("got %+v", task)
	}
	if !task.Train[0].Output.Equal(Grid{{2}, {1}}) || !task.Test[0].Input.Equal(Grid{{3, 4}, {5, 6}}) ||
		task.Test[0].Output != nil || !task.Test[1].Output.Equal(Grid{{7}}) {
		t.Errorf("grids: %+v", task)
	}

	bundle, err := ReadFile(writeFile(t, "challenges.json", `{"zz":{"train":[],"test":[{"input":[[1]]}]},"aa":{"test":[{"input":[[2]]}]},"mm":{"test":[{"input":[[3]]}]}}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tk := range bundle.Tasks {
		ids = append(ids, tk.ID)
	}
	if !bundle.Bundle || strings.Join(ids, ",") != "zz,aa,mm" {
		t.Errorf("bundle order: %v (bundle=%v), want the file's order zz,aa,mm", ids, bundle.Bundle)
	}
}

// Every committed ARC-AGI-1 task (30x30 grids, 1x1 grids, two test inputs
// among them) is accepted as it is.
func TestReadFileAcceptsARCTasks(t *testing.T) {
	arcDir := testenv.ARCDir(t)
	for _, split := range []string{"training", "evaluation"} {
		paths, err := filepath.Glob(filepath.Join(arcDir, split, "*.json"))
		if err != nil || len(paths) < 10 {
			t.Fatalf("%s: %d tasks (%v); the ARC-AGI-1 tasks the tests use belong at %s", split, len(paths), err, arcDir)
		}
		for _, path := range paths {
			f, err := ReadFile(path, 0)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if len(f.Tasks) != 1 || len(f.Tasks[0].Train) == 0 {
				t.Errorf("%s: %d tasks", path, len(f.Tasks))
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"train":[{"input":[[1]],"output":[[2]]}],"test":[{"input":[[3,4]]}]}`))
	f.Add([]byte(`{"a":{"test":[{"input":[[1]]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, "fuzz")
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) || perr.Code == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		for _, task := range file.Tasks {
			if len(task.Test) == 0 {
				t.Fatal("accepted a task with no test input")
			}
			for _, p := range append(task.Train, task.Test...) {
				for _, g := range []Grid{p.Input, p.Output} {
					if g == nil {
						continue
					}
					if g.Rows() < 1 || g.Rows() > MaxSide || g.Cols() < 1 || g.Cols() > MaxSide {
						t.Fatalf("accepted a %s grid", g.Size())
					}
					for _, row := range g {
						if len(row) != g.Cols() {
							t.Fatal("accepted a ragged grid")
						}
						for _, v := range row {
							if v < 0 || v > 9 {
								t.Fatalf("accepted colour %d", v)
							}
						}
					}
				}
			}
		}
	})
}
