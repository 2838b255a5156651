package puzzles

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestMarshalAnswers(t *testing.T) {
	file := AnswerFile{
		Task: "t1",
		Answers: []Answer{{
			Attempt1: Grid{{0, 1}, {1, 0}}, Attempt2: Grid{}, Cycles: 5, HaltedBy: "model",
			Halt: 0.9, Confidence: 0.67, Flags: []string{}, Shape: ShapeEOS,
			Trace: []CycleTrace{{Cycle: 1, Halt: 0.5, Changed: 3}},
		}},
		Model:   ModelInfo{Name: "m", Family: "nova", SHA256: "ab"},
		Runtime: RuntimeInfo{Provider: "CPUExecutionProvider", Precision: "fp32", Device: "cpu", LatencyMS: 1.5},
	}
	got, err := MarshalAnswers([]AnswerFile{file}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "task": "t1",
  "answers": [
    {
      "attempt_1": [
        [0,1],
        [1,0]
      ],
      "attempt_2": [],
      "cycles": 5,
      "halted_by": "model",
      "halt": 0.9,
      "confidence": 0.67,
      "flags": [],
      "shape": "eos",
      "trace": [
        {
          "cycle": 1,
          "halt": 0.5,
          "changed": 3
        }
      ]
    }
  ],
  "model": {
    "name": "m",
    "family": "nova",
    "sha256": "ab"
  },
  "runtime": {
    "provider": "CPUExecutionProvider",
    "precision": "fp32",
    "device": "cpu",
    "latency_ms": 1.5
  }
}
`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	second := file
	second.Task = "a0"
	got, err = MarshalAnswers([]AnswerFile{file, second}, true)
	if err != nil {
		t.Fatal(err)
	}
	var bundle map[string]AnswerFile
	if err := json.Unmarshal(got, &bundle); err != nil {
		t.Fatal(err)
	}
	if bundle["t1"].Task != "t1" || bundle["a0"].Task != "a0" ||
		!bundle["a0"].Answers[0].Attempt1.Equal(Grid{{0, 1}, {1, 0}}) {
		t.Errorf("bundle: %s", got)
	}
	if i, j := bytes.Index(got, []byte(`"t1"`)), bytes.Index(got, []byte(`"a0"`)); i < 0 || j < i {
		t.Errorf("bundle keys not in task order:\n%s", got)
	}
}

// A task named after a file whose name is not UTF-8 keeps its exact name in
// task_bytes; JSON alone would replace the stray byte. A UTF-8 name has no
// task_bytes.
func TestMarshalAnswersNameNotUTF8(t *testing.T) {
	for _, tt := range []struct {
		name, task, bytes string
	}{
		{"latin-1", "caf\xe9", "Y2Fm6Q=="},
		{"utf-8", "café", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MarshalAnswers([]AnswerFile{{Task: tt.task, Answers: []Answer{}}}, false)
			if err != nil {
				t.Fatal(err)
			}
			var back struct {
				Task      string  `json:"task"`
				TaskBytes *[]byte `json:"task_bytes"`
			}
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if tt.bytes == "" {
				if back.TaskBytes != nil || back.Task != tt.task {
					t.Errorf("got %s, want task %q and no task_bytes", got, tt.task)
				}
				return
			}
			if !bytes.Contains(got, []byte(`"task_bytes": "`+tt.bytes+`"`)) || back.TaskBytes == nil ||
				string(*back.TaskBytes) != tt.task ||
				back.Task != strings.ToValidUTF8(tt.task, "\uFFFD") {
				t.Errorf("got %s, want task_bytes %s holding %q", got, tt.bytes, tt.task)
			}
		})
	}
}

func TestConfidence(t *testing.T) {
	tests := []struct {
		halt float64
		demo *DemoCheck
		want float64
	}{
		{0.99, &DemoCheck{Pairs: 4, Solved: 4}, 0.825}, // 0.99 x 5/6
		{0.99, &DemoCheck{Pairs: 4, Solved: 0}, 0.165}, // sure of itself, every example wrong
		{0.6, &DemoCheck{Pairs: 3, Solved: 2}, 0.36},   // 0.6 x 3/5
		{1, nil, 0.5},          // no demo check: no evidence
		{1, &DemoCheck{}, 0.5}, // no demonstration fitted
		{0, &DemoCheck{Pairs: 2, Solved: 2}, 0},
	}
	for _, tt := range tests {
		if got := Confidence(tt.halt, tt.demo, nil); got != tt.want {
			t.Errorf("Confidence(%v, %+v) = %v, want %v", tt.halt, tt.demo, got, tt.want)
		}
	}
}

// With test-time augmentation the vote's share scales the confidence, and
// low_confidence needs evidence from the demonstrations to judge by it.
func TestConfidenceVotesAndLow(t *testing.T) {
	demo := &DemoCheck{Pairs: 4, Solved: 4}
	if got := Confidence(0.99, demo, &Votes{Attempt1: 6, Attempt2: 2, Variants: 8}); got != 0.6188 { // 0.99 x 5/6 x 6/8
		t.Errorf("split vote: %v, want 0.6188", got)
	}
	if got := Confidence(0.99, demo, &Votes{Attempt1: 8, Variants: 8}); got != 0.825 {
		t.Errorf("unanimous vote: %v, want 0.825", got)
	}
	tests := []struct {
		confidence float64
		demo       *DemoCheck
		verified   string
		low        bool
	}{
		{0.49, demo, "", true},
		{0.51, demo, "", false},
		{0.4978, nil, "", false},                // halt 0.9956 without a demo check: not low
		{0.2, &DemoCheck{}, "", true},           // halt 0.4: low
		{0.26, &DemoCheck{Pairs: 0}, "", false}, // halt 0.52
		{0.01, nil, VerifiedValid, false},       // a solved Sudoku is solved, whatever its halt
		{0.01, nil, VerifiedOptimal, false},
		{0.99, demo, VerifiedInvalid, true}, // a broken one is not, however sure the model is
	}
	for _, tt := range tests {
		if got := IsLowConfidence(tt.confidence, tt.demo, tt.verified); got != tt.low {
			t.Errorf("IsLowConfidence(%v, %+v, %q) = %v, want %v", tt.confidence, tt.demo, tt.verified, got, tt.low)
		}
	}
	if VerifiedConfidence(0.9, VerifiedInvalid) != 0 || VerifiedConfidence(0.3, VerifiedValid) != 0.3 {
		t.Error("an invalid answer's confidence is not 0, or a valid one's changed")
	}
}

func TestAnswerFlags(t *testing.T) {
	in := Grid{{1, 0}, {0, 2}}
	tests := []struct {
		name        string
		answer      Grid
		others      []Grid
		otherInputs []Grid
		want        []string
	}{
		{"fine", Grid{{2, 0}, {0, 1}}, nil, nil, nil},
		{"all zero", Grid{{0, 0}, {0, 0}, {0, 0}}, nil, nil, []string{FlagAllZero}},
		{"one colour", Grid{{3, 3}}, nil, nil, []string{FlagOneColour}},
		{"copy", Grid{{1, 0}, {0, 2}}, nil, nil, []string{FlagCopyOfInput}},
		{
			"same as another test",
			Grid{{4, 4}, {4, 5}},
			[]Grid{{{4, 4}, {4, 5}}},
			[]Grid{{{9}}},
			[]string{FlagSameAsOtherTest},
		},
		// Two identical test inputs may well have one answer.
		{"same input, same answer", Grid{{4, 4}, {4, 5}}, []Grid{{{4, 4}, {4, 5}}}, []Grid{in}, nil},
		{"no grid", Grid{}, nil, nil, nil},
	}
	for _, tt := range tests {
		got := AnswerFlags(tt.answer, in, tt.others, tt.otherInputs)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
