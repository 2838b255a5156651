package puzzles

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestMarshalAnswers(t *testing.T) {
	file := AnswerFile{
		Task: "t1",
		Answers: []Answer{{
			Attempt1: Grid{{0, 1}, {1, 0}}, Attempt2: Grid{}, Cycles: 5, HaltedBy: "model",
			Confidence: 0.67, Flags: []string{}, Shape: ShapeEOS,
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
	if bundle["t1"].Task != "t1" || bundle["a0"].Task != "a0" || !bundle["a0"].Answers[0].Attempt1.Equal(Grid{{0, 1}, {1, 0}}) {
		t.Errorf("bundle: %s", got)
	}
	if i, j := bytes.Index(got, []byte(`"t1"`)), bytes.Index(got, []byte(`"a0"`)); i < 0 || j < i {
		t.Errorf("bundle keys not in task order:\n%s", got)
	}
}
