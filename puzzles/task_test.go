package puzzles

import (
	"errors"
	"fmt"
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
		{
			"unknown task field",
			`{"test":[{"input":[[1]]}],"name":"x","b":1}`,
			CodeUnknownField,
			`field "b" is not part of an ARC task`,
		},
		{"unknown pair field", `{"test":[{"input":[[1]],"hint":[[2]]}]}`, CodeUnknownField, `test[0] has field "hint"`},
		{
			"grid not list",
			`{"test":[{"input":"1,2"}]}`,
			CodeNotAGrid,
			`test[0].input is the string "1,2", not a list of rows`,
		},
		{
			"row not list",
			`{"test":[{"input":[[1],2]}]}`,
			CodeNotAGrid,
			"test[0].input row 1 is the number 2, not a list of colours",
		},
		{"cell not number", `{"test":[{"input":[[1,null]]}]}`, CodeNotAGrid, "test[0].input row 0 column 1 is null"},
		{"cell fraction", `{"test":[{"input":[[1.5]]}]}`, CodeNotAGrid, "row 0 column 0 is 1.5, not a whole number"},
		{"no rows", `{"test":[{"input":[]}]}`, CodeEmptyGrid, "test[0].input has no rows"},
		{"empty row", `{"test":[{"input":[[]]}]}`, CodeEmptyGrid, "test[0].input row 0 has no cells"},
		{"31 rows", `{"test":[{"input":` + rows31 + `}]}`, CodeGridTooLarge, "test[0].input has 31 rows; at most 30"},
		{
			"31 columns",
			`{"train":[{"input":[[1]],"output":` + "[" + row31 + "]" + `}],"test":[{"input":[[1]]}]}`,
			CodeGridTooLarge,
			"train[0].output row 0 has 31 columns; at most 30",
		},
		{
			"ragged",
			`{"test":[{"input":[[1,2],[3,4],[5,6],[7]]}]}`,
			CodeRaggedGrid,
			"test[0].input row 3 has 1 cells; row 0 has 2",
		},
		{"colour 10", `{"test":[{"input":[[1,10]]}]}`, CodeBadColour, "test[0].input row 0 column 1 is 10; colours are 0-9"},
		{"negative colour", `{"test":[{"input":[[-1]]}]}`, CodeBadColour, "is -1; colours are 0-9"},
		{"empty bundle", `{}`, CodeNoTasks, "empty object"},
		{"bundle value", `{"abc": [1]}`, CodeBadTask, `task "abc" is a list`},
		{
			"bundle task error",
			`{"a":{"test":[{"input":[[1]]}]},"b":{"test":[{"input":[[1,2],[3]]}]}}`,
			CodeRaggedGrid,
			`task "b" test[0].input row 1 has 1 cells`,
		},
		{"too big", big, CodeTooBig, "the limit is 1000 bytes"},
		{
			"duplicate task key",
			`{"test":[{"input":[[1]]}],"test":[{"input":[[2]]}]}`,
			CodeDuplicateKey,
			`the task has the key "test" twice`,
		},
		{
			"duplicate pair key",
			`{"test":[{"input":[[1]],"input":[[2]]}]}`,
			CodeDuplicateKey,
			`test[0] has the key "input" twice`,
		},
		{
			"duplicate task id",
			`{"a":{"test":[{"input":[[1]]}]},"b":{"test":[{"input":[[1]]}]},"a":{"test":[{"input":[[2]]}]}}`,
			CodeDuplicateKey,
			`task "a" appears twice in the file`,
		},
		{
			"duplicate key in a bundle task",
			`{"a":{"train":[],"test":[{"input":[[1]]}],"train":[]}}`,
			CodeDuplicateKey,
			`task "a" has the key "train" twice`,
		},
		{
			"escaped duplicate",
			`{"test":[{"input":[[1]]}],"t\u0065st":[{"input":[[2]]}]}`,
			CodeDuplicateKey,
			`the key "test" twice`,
		},
		{"utf-8 bom", "\xEF\xBB\xBF" + `{"test":[{"input":[[1]]}]}`, CodeNotJSON, "starts with a UTF-8 byte order mark (BOM"},
		{"utf-16", "\xFF\xFE{\x00", CodeNotJSON, "UTF-16"},
		{
			"latin-1",
			"{\"test\":[{\"input\":[[1]]}],\n\"name\":\"caf\xE9\"}",
			CodeNotJSON,
			"the byte 0xe9 at line 2 column 12 is not part of a UTF-8 character",
		},
		{
			"21 train pairs",
			`{"train":[` + strings.Repeat(
				`{"input":[[1]],"output":[[1]]},`,
				20,
			) + `{"input":[[1]],"output":[[1]]}],"test":[{"input":[[1]]}]}`,
			CodeTooManyTrainPairs,
			`"train" has 21 demonstration pairs; the limit is 20`,
		},
		{
			"11 test inputs",
			`{"test":[` + strings.Repeat(`{"input":[[1]]},`, 10) + `{"input":[[1]]}]}`,
			CodeTooManyTestInputs,
			`"test" has 11 test inputs; the limit is 10`,
		},
		{
			"bad pair after the limit",
			`{"test":[` + strings.Repeat(`{"input":[[1]]},`, 10) + `7]}`,
			CodeTooManyTestInputs,
			`"test" has 11 test inputs`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFile(writeFile(t, "task.json", tt.content), Limits{Bytes: 1000})
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

// A bundle over the task limit is refused with the count and the limit, and
// so is a task over its own limits inside a bundle.
func TestReadFileLimits(t *testing.T) {
	task := `{"train":[{"input":[[1]],"output":[[2]]}],"test":[{"input":[[1]]},{"input":[[2]]}]}`
	bundle := `{"a":` + task + `,"b":` + task + `,"c":` + task + `}`
	tests := []struct {
		name, content string
		lim           Limits
		code, message string
	}{
		{"tasks", bundle, Limits{Tasks: 2}, CodeTooManyTasks, "the file holds 3 tasks; the limit is 2 tasks a file"},
		{"tasks at the limit", bundle, Limits{Tasks: 3}, "", ""},
		{
			"test inputs in a bundle",
			bundle,
			Limits{TestInputs: 1},
			CodeTooManyTestInputs,
			`task "a" "test" has 2 test inputs; the limit is 1`,
		},
		{"train pairs", task, Limits{TrainPairs: 1}, "", ""},
		{"no train pairs", task, Limits{TrainPairs: -1}, "", ""}, // below 1: the default
		{"one task over a limit of one", task, Limits{Tasks: 1}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFile(writeFile(t, "task.json", tt.content), tt.lim)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("ReadFile: %v, want it accepted", err)
				}
				return
			}
			var perr *Error
			if !errors.As(err, &perr) || perr.Code != tt.code || !strings.Contains(perr.Message, tt.message) {
				t.Errorf("got %v\nwant %s: ...%s...", err, tt.code, tt.message)
			}
		})
	}
}

// A file the size limit allows but that holds far more test inputs than a
// task may (over 260,000 1x1 grids in 4 MiB) is refused, naming the count.
func TestReadFileRefusesAFileOfTinyInputs(t *testing.T) {
	n := (DefaultMaxBytes - 20) / len(`{"input":[[1]]},`)
	content := `{"test":[` + strings.Repeat(`{"input":[[1]]},`, n-1) + `{"input":[[1]]}]}`
	_, err := ReadFile(writeFile(t, "many.json", content), Limits{})
	var perr *Error
	if !errors.As(err, &perr) || perr.Code != CodeTooManyTestInputs ||
		!strings.Contains(perr.Message, fmt.Sprintf(`has %d test inputs; the limit is %d`, n, DefaultMaxTestInputs)) {
		t.Errorf("%d test inputs in %d bytes: %v, want %s naming the count", n, len(content), err, CodeTooManyTestInputs)
	}
}

// BenchmarkReadFileManyInputs reads the file of TestReadFileRefusesAFileOfTinyInputs:
// its B/op is what refusing it costs (the file's own 4 MiB, and little more).
func BenchmarkReadFileManyInputs(b *testing.B) {
	n := (DefaultMaxBytes - 20) / len(`{"input":[[1]]},`)
	path := filepath.Join(b.TempDir(), "many.json")
	many := `{"test":[` + strings.Repeat(`{"input":[[1]]},`, n-1) + `{"input":[[1]]}]}`
	if err := os.WriteFile(path, []byte(many), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadFile(path, Limits{}); err == nil {
			b.Fatal("accepted")
		}
	}
}

func TestReadFileSingleAndBundle(t *testing.T) {
	single, err := ReadFile(
		writeFile(
			t,
			"my-task.json",
			`{"train":[{"input":[[1,2]],"output":[[2],[1]]}],"test":[{"input":[[3,4],[5,6]]},{"input":[[0]],"output":[[7]]}]}`,
		),
		Limits{},
	)
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

	bundle, err := ReadFile(
		writeFile(
			t,
			"challenges.json",
			`{"zz":{"train":[],"test":[{"input":[[1]]}]},"aa":{"test":[{"input":[[2]]}]},"mm":{"test":[{"input":[[3]]}]}}`,
		),
		Limits{},
	)
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

	// Brackets, braces and escaped quotes inside strings are text, not structure.
	odd, err := ReadFile(
		writeFile(
			t,
			"odd.json",
			`{ "x\\\"]}[{" : {"name": "a\\\\", "test" : [ {"input": [ [1 , 2] ] } ] } , "y,z":{"test":[{"input":[[3]]}]} }`,
		),
		Limits{},
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(odd.Tasks) != 2 || odd.Tasks[0].ID != `x\"]}[{` || odd.Tasks[0].Name != `a\\` ||
		!odd.Tasks[0].Test[0].Input.Equal(Grid{{1, 2}}) ||
		odd.Tasks[1].ID != "y,z" {
		t.Errorf("got %+v", odd.Tasks)
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
			f, err := ReadFile(path, Limits{})
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
		file, err := Parse(data, "fuzz", Limits{})
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
