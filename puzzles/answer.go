package puzzles

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"unicode/utf8"
)

// Answer is the answer to one test input (docs/answers.md).
type Answer struct {
	// Attempt1 and Attempt2 follow the ARC Prize submission convention. With
	// one prediction (no test-time augmentation) both hold it.
	Attempt1 Grid `json:"attempt_1"`
	Attempt2 Grid `json:"attempt_2"`
	// Attempt1Text and Attempt2Text are there when the test input was
	// written as text (a maze's rows, a Sudoku's string): the attempts in
	// the same characters, a row a string (Form.Text).
	Attempt1Text []string `json:"attempt_1_text,omitempty"`
	Attempt2Text []string `json:"attempt_2_text,omitempty"`
	// Verified is attempt_1 checked by the puzzle's own rules, without the
	// key (Sudoku and maze models; Encoding.Verify): valid, optimal (a
	// shortest maze path) or invalid, with Violation the first rule broken.
	Verified  string `json:"verified,omitempty"`
	Violation string `json:"violation,omitempty"`
	Cycles    int    `json:"cycles"`
	HaltedBy  string `json:"halted_by"`
	// Halt is the model's own halt probability after its last cycle (with
	// test-time augmentation: its mean over the variants that voted for
	// attempt_1).
	Halt float64 `json:"halt"`
	// Confidence is Confidence(Halt, the demo check, Votes), in [0, 1].
	Confidence float64   `json:"confidence"`
	Flags      []string  `json:"flags"`
	Shape      ShapeRule `json:"shape"`
	// Votes is there with test-time augmentation: how the variants voted.
	Votes *Votes       `json:"votes,omitempty"`
	Trace []CycleTrace `json:"trace,omitempty"`
}

// Votes says how a test input's augmented variants voted: how many answered
// attempt_1 and attempt_2 (mapped back to the task), out of how many.
type Votes struct {
	Attempt1 int `json:"attempt_1"`
	Attempt2 int `json:"attempt_2"`
	Variants int `json:"variants"`
}

// CycleTrace is what one reasoning cycle did to one test input.
type CycleTrace struct {
	Cycle   int     `json:"cycle"`
	Halt    float64 `json:"halt"`    // the model's halt signal after this cycle
	Changed int     `json:"changed"` // predicted cells that differ from the cycle before (cycle 1: from the input)
	Grid    Grid    `json:"grid,omitempty"`
	// Tokens and HaltOutput are the raw trace's (parity work): the model's
	// argmax over every cell of its sequence, token ids not decoded, and its
	// halt output as the graph gave it (act-v1: q_halt, q_continue), float32
	// written so that it reads back exactly.
	Tokens     []int64   `json:"tokens,omitempty"`
	HaltOutput []float32 `json:"halt_output,omitempty"`
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
	Task string `json:"task"`
	// TaskBytes is there only when Task, a file's name, is not UTF-8:
	// Task then shows each stray byte as U+FFFD, and TaskBytes (base64) has
	// the name exactly. MarshalAnswers sets it.
	TaskBytes []byte      `json:"task_bytes,omitempty"`
	Answers   []Answer    `json:"answers"`
	DemoCheck *DemoCheck  `json:"demo_check,omitempty"`
	Model     ModelInfo   `json:"model"`
	Runtime   RuntimeInfo `json:"runtime"`
}

// Flags an answer may carry: warnings that the answer may be an illusion of
// the kind that made an all-zeros model look 71% right.
const (
	// The prediction decodes to no grid at all (arc-eos: no colour at the top left).
	FlagNoGrid = "no_grid"
	// Every cell is 0 (black).
	FlagAllZero = "all_zero"
	// Every cell is one colour other than 0.
	FlagOneColour = "one_colour"
	// The answer is the test input unchanged.
	FlagCopyOfInput = "copy_of_input"
	// Another test input of the task, a different grid, got the same answer.
	FlagSameAsOtherTest = "same_as_other_test"
	// The size came from a rule about the demonstrations, not from the model.
	FlagShapeInferred = "shape_inferred"
	// See IsLowConfidence.
	FlagLowConfidence = "low_confidence"
	// The model's predictions do not depend on its input (the probe at load).
	FlagModelInputInvariant = "model_input_invariant"
	// act-v1: the model has no puzzle embedding for this task; it ran with
	// the blank one, out of its distribution.
	FlagUnknownPuzzle = "unknown_puzzle"
	// hrmd eval: a test input larger than the model's grid, not run.
	FlagTooLarge = "too_large"
)

// LowConfidence is the confidence below which an answer is flagged.
const LowConfidence = 0.5

// Confidence combines the model's own halt signal with the evidence of the
// demonstration pairs and, with test-time augmentation, of the vote:
// halt × (solved+1)/(pairs+2) × votes for attempt_1 / variants. The second
// factor is the Laplace estimate of how often the model solves this task's
// examples: without a demo check (pairs 0) it is 1/2, no evidence either way.
// A model sure of itself that fails every example of a task thus scores low,
// one that solves them all keeps most of its halt, and a split vote lowers it.
func Confidence(halt float64, demo *DemoCheck, votes *Votes) float64 {
	pairs, solved := 0, 0
	if demo != nil {
		pairs, solved = demo.Pairs, demo.Solved
	}
	c := halt * float64(solved+1) / float64(pairs+2)
	if votes != nil && votes.Variants > 0 {
		c *= float64(votes.Attempt1) / float64(votes.Variants)
	}
	return math.Round(c*1e4) / 1e4
}

// VerifiedConfidence is an answer's confidence once checked by the puzzle's
// rules: 0 for an invalid answer, which cannot be the key (a Sudoku's or
// maze's key always keeps the rules), else confidence as it is.
func VerifiedConfidence(confidence float64, verified string) float64 {
	if verified == VerifiedInvalid {
		return 0
	}
	return confidence
}

// IsLowConfidence says whether an answer earns the low_confidence flag: its
// confidence below LowConfidence when the demonstrations gave evidence; with
// none (no demo check), the factor 1/2 would flag every answer, so then the
// halt signal (with the vote) is what must reach LowConfidence. An answer
// checked by the puzzle's rules (verified) is judged by them instead: a
// valid or optimal one is never flagged, whatever its halt, and an invalid
// one always is (its confidence is 0: VerifiedConfidence).
func IsLowConfidence(confidence float64, demo *DemoCheck, verified string) bool {
	switch verified {
	case VerifiedValid, VerifiedOptimal:
		return false
	case VerifiedInvalid:
		return true
	}
	if demo == nil || demo.Pairs == 0 {
		return confidence*2 < LowConfidence
	}
	return confidence < LowConfidence
}

// AnswerFlags lists the flags an answer grid earns by itself and against the
// task's other answers: all_zero, one_colour, copy_of_input,
// same_as_other_test. (no_grid, shape_inferred, low_confidence and
// model_input_invariant come from how it was made.)
func AnswerFlags(answer, input Grid, others []Grid, otherInputs []Grid) []string {
	var flags []string
	if answer.Rows() == 0 {
		return flags
	}
	first, one := answer[0][0], true
	for _, row := range answer {
		for _, c := range row {
			if c != first {
				one = false
			}
		}
	}
	switch {
	case one && first == 0:
		flags = append(flags, FlagAllZero)
	case one:
		flags = append(flags, FlagOneColour)
	}
	if answer.Equal(input) {
		flags = append(flags, FlagCopyOfInput)
	}
	for i, o := range others {
		if o.Equal(answer) && !otherInputs[i].Equal(input) {
			flags = append(flags, FlagSameAsOtherTest)
			break
		}
	}
	return flags
}

// NameBytes is a name's bytes when JSON cannot hold the name as it is (it
// is not UTF-8: a file named on a Latin-1 system, say), else nil. JSON
// strings are Unicode, so encoding/json writes each stray byte as U+FFFD and
// the name is lost; a name's bytes beside it, as base64, keep it exactly.
func NameBytes(name string) []byte {
	if utf8.ValidString(name) {
		return nil
	}
	return []byte(name)
}

// MarshalAnswers encodes the answers to one file: the answer file itself for a
// single task, or for a multi-task bundle an object mapping each task id to its
// answer file, in the bundle's order. Grids are written one row per line.
func MarshalAnswers(files []AnswerFile, bundle bool) ([]byte, error) {
	files = slices.Clone(files)
	for i := range files {
		files[i].TaskBytes = NameBytes(files[i].Task)
	}
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
