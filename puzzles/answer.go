package puzzles

import (
	"bytes"
	"encoding/json"
)

// Answer is the answer to one test input (DESIGN.md §4).
type Answer struct {
	// Attempt1 and Attempt2 follow the ARC Prize submission convention. With
	// one prediction (no test-time augmentation) both hold it.
	Attempt1 Grid   `json:"attempt_1"`
	Attempt2 Grid   `json:"attempt_2"`
	Cycles   int    `json:"cycles"`
	HaltedBy string `json:"halted_by"`
	// Confidence is in [0, 1]; how it is derived is documented in README.md.
	Confidence float64      `json:"confidence"`
	Flags      []string     `json:"flags"`
	Shape      ShapeRule    `json:"shape"`
	Trace      []CycleTrace `json:"trace,omitempty"`
}

// CycleTrace is what one reasoning cycle did to one test input.
type CycleTrace struct {
	Cycle   int     `json:"cycle"`
	Halt    float64 `json:"halt"`    // the model's halt signal after this cycle
	Changed int     `json:"changed"` // predicted cells that differ from the cycle before (cycle 1: from the input)
	Grid    Grid    `json:"grid,omitempty"`
}

// DemoCheck counts the demonstration pairs the model solved exactly.
type DemoCheck struct {
	Pairs  int `json:"pairs"`
	Solved int `json:"solved"`
}

// ModelInfo names the model bundle that answered.
type ModelInfo struct {
	Name   string `json:"name"`
	Family string `json:"family"`
	SHA256 string `json:"sha256"`
}

// RuntimeInfo says where and how fast the answer was computed.
type RuntimeInfo struct {
	Provider  string  `json:"provider"`
	Precision string  `json:"precision"`
	Device    string  `json:"device"`
	LatencyMS float64 `json:"latency_ms"`
}

// AnswerFile is outbox/<name>.json for one task.
type AnswerFile struct {
	Task      string      `json:"task"`
	Answers   []Answer    `json:"answers"`
	DemoCheck *DemoCheck  `json:"demo_check,omitempty"`
	Model     ModelInfo   `json:"model"`
	Runtime   RuntimeInfo `json:"runtime"`
}

// Flags an answer may carry.
const (
	FlagNoGrid = "no_grid" // the prediction decodes to no grid at all (arc-eos: no colour at the top left)
)

// MarshalAnswers encodes the answers to one file: the answer file itself for a
// single task, or for a multi-task bundle an object mapping each task id to its
// answer file, in the bundle's order. Grids are written one row per line.
func MarshalAnswers(files []AnswerFile, bundle bool) ([]byte, error) {
	var v any = files[0]
	if bundle {
		var buf bytes.Buffer
		buf.WriteByte('{')
		for i, f := range files {
			if i > 0 {
				buf.WriteByte(',')
			}
			key, _ := json.Marshal(f.Task)
			buf.Write(key)
			buf.WriteByte(':')
			b, err := json.Marshal(f)
			if err != nil {
				return nil, err
			}
			buf.Write(b)
		}
		buf.WriteByte('}')
		v = json.RawMessage(buf.Bytes())
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(collapseNumberLists(out), '\n'), nil
}

// collapseNumberLists puts every list that holds only numbers on one line, so
// that a grid reads as rows rather than as one number per line.
func collapseNumberLists(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		if in[i] != '[' {
			out = append(out, in[i])
			continue
		}
		end, ok := numberListEnd(in, i+1)
		if !ok {
			out = append(out, in[i])
			continue
		}
		out = append(out, '[')
		for _, b := range in[i+1 : end] {
			if b != ' ' && b != '\n' && b != '\t' && b != '\r' {
				out = append(out, b)
			}
		}
		out = append(out, ']')
		i = end
	}
	return out
}

// numberListEnd returns the index of the ']' closing a list that starts at
// from and holds nothing but numbers.
func numberListEnd(in []byte, from int) (int, bool) {
	digits := false
	for j := from; j < len(in); j++ {
		switch b := in[j]; {
		case b == ']':
			return j, digits
		case b >= '0' && b <= '9':
			digits = true
		case b == '-' || b == '.' || b == 'e' || b == 'E' || b == '+' || b == ',' ||
			b == ' ' || b == '\n' || b == '\t' || b == '\r':
		default:
			return 0, false
		}
	}
	return 0, false
}
