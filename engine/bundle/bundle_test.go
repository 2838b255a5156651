package bundle

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/testenv"
)

func TestLoadBundle(t *testing.T) {
	b, err := Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	m := b.Manifest
	if m.Name != "nova-tiny" || m.Family != "nova" || b.Encoding != "arc-eos" || b.Seq() != 900 || b.Logits != "logits" ||
		m.Halting.Rule != RuleThreshold || m.Halting.MaxCycles != 8 || len(b.SHA256) != 64 ||
		m.Source.Checkpoint != "random-init:tiny:seed=1" {
		t.Errorf("bundle: %+v", b)
	}
}

// Every way a manifest can be wrong is refused with the field named.
func TestLoadBundleRefusesBadManifests(t *testing.T) {
	tests := []struct {
		name, old, new string
		code, message  string
	}{
		{"format", "format: hrmd-bundle/1", "format: hrmd-bundle/2", CodeBundleInvalid, `format is "hrmd-bundle/2"`},
		{"unknown key", "hidden: 32", "hidden: 32\nheads: 2", CodeBundleInvalid, "field heads not found"},
		{"layers", "layers: {h: 1, l: 1}", "layers: {h: 1, l: 0}", CodeBundleInvalid, "layers is {h: 1, l: 0}"},
		{"family", "family: nova", "family: gpt", CodeBundleInvalid, `family is "gpt"`},
		{"grid", "grid: 30", "grid: 31", CodeBundleInvalid, "grid is 31; it must be 1 to 30"},
		{"encoding", "encoding: arc-eos", "encoding: onehot", CodeBundleInvalid, `encoding: encoding "onehot"`},
		{"vocab", "vocab: 12", "vocab: 11", CodeBundleInvalid, "vocab is 11; the arc-eos encoding has 12 tokens"},
		{"sudoku vocab", "encoding: arc-eos", "encoding: sudoku", CodeBundleInvalid,
			"vocab is 12; the sudoku encoding has 11 tokens: set encoding to the one the checkpoint was trained with"},
		{"sudoku grid", "vocab: 12\nencoding: arc-eos", "vocab: 11\nencoding: sudoku", CodeBundleInvalid,
			"grid is 30; the sudoku encoding's grid is 9 (seq_len 81)"},
		{"file escapes", "file: step.onnx", "file: ../step.onnx", CodeBundleInvalid, `graphs.step.file is "../step.onnx"`},
		{"sha256 form", "sha256: 4540b59d", "sha256: XX40b59d", CodeBundleInvalid, "graphs.step.sha256 is"},
		{
			"carry to unknown",
			"carry: {h_next: h, l_next: l}",
			"carry: {h_next: h, l_next: z}",
			CodeBundleInvalid,
			`carry maps "l_next" to "z"`,
		},
		{
			"uncarried input",
			"carry: {h_next: h, l_next: l}",
			"carry: {h_next: h}",
			CodeBundleInvalid,
			`graphs.step.inputs has "l", which neither carry nor constants feeds`,
		},
		{
			"halt output carried",
			"output: halt",
			"output: h_next",
			CodeBundleInvalid,
			`halting.output "h_next" is also carried`,
		},
		{
			"halt output unknown",
			"output: halt",
			"output: stop",
			CodeBundleInvalid,
			`halting.output is "stop", which is not in graphs.step.outputs`,
		},
		{"rule", "rule: threshold", "rule: vote", CodeBundleInvalid, `halting.rule is "vote"`},
		{"threshold", "threshold: 0.9", "threshold: 1.5", CodeBundleInvalid, "halting.threshold is 1.5"},
		{"min cycles", "min_cycles: 2", "min_cycles: 0", CodeBundleInvalid, "halting.min_cycles is 0"},
		{
			"max cycles",
			"max_cycles: 8",
			"max_cycles: 1",
			CodeBundleInvalid,
			"halting.max_cycles is 1; it must be between min_cycles (2)",
		},
		{
			"init inputs",
			"inputs: [tokens]",
			"inputs: [tokens, puzzle]",
			CodeBundleInvalid,
			"without puzzle_embeddings init takes exactly one input",
		},
		{"checksum", "sha256: f7cead68", "sha256: 07cead68", CodeBundleChecksum, "init.onnx has sha256 f7cead68"},
		{"missing file", "file: init.onnx", "file: init2.onnx", CodeBundleInvalid, "graphs.init.file: open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testenv.CopyDir(t, fixtureDir)
			testenv.ReplaceInFile(t, filepath.Join(dir, ManifestFile), tt.old, tt.new)
			_, err := Load(dir)
			var eerr *Error
			if !errors.As(err, &eerr) || eerr.Code != tt.code || !strings.Contains(eerr.Message, tt.message) {
				t.Fatalf("got %v\nwant %s: ...%s...", err, tt.code, tt.message)
			}
			if !strings.Contains(eerr.Message, dir) {
				t.Errorf("message does not name the bundle folder %s: %s", dir, eerr.Message)
			}
		})
	}
}

func TestLoadBundleNotABundle(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ dir, message string }{
		{filepath.Join(dir, "nope"), "does not exist"},
		{dir, "has no hrm.yaml: not a model bundle"},
	} {
		_, err := Load(tt.dir)
		var eerr *Error
		if !errors.As(err, &eerr) || eerr.Code != CodeBundleInvalid || !strings.Contains(eerr.Message, tt.message) {
			t.Errorf("%s: %v", tt.dir, err)
		}
	}
}

func TestFLOPsPerCycle(t *testing.T) {
	// nova's published size: hrm-models.md gives 2.245 GFLOP per encoder
	// layer pass and 15.95 GFLOP per cycle.
	full := &Bundle{Manifest: Manifest{Family: "nova", Grid: 30, Vocab: 12, Hidden: 256, Layers: &Layers{H: 4, L: 3}}}
	got, ok := full.FLOPsPerCycle()
	if !ok || got < 15.94e9 || got > 15.96e9 {
		t.Errorf("full nova: %.4g FLOP per cycle, want 15.95e9", got)
	}
	noLayers := &Bundle{Manifest: Manifest{Family: "nova", Grid: 30, Vocab: 12, Hidden: 256}}
	if _, ok := noLayers.FLOPsPerCycle(); ok {
		t.Error("cost known without layers")
	}
	// act-v1's published size: 7.80 GFLOP a block pass at 901 positions,
	// 24 passes a step: 187 GFLOP (hrm-models.md).
	act := &Bundle{Manifest: Manifest{Family: "act-v1", Grid: 30, Vocab: 12, Hidden: 512,
		Layers:           &Layers{H: 4, L: 4, HCycles: 2, LCycles: 2, Intermediate: 1536},
		PuzzleEmbeddings: &PuzzleEmbeddings{Shape: []int64{1, 512}}}}
	if got, ok := act.FLOPsPerCycle(); !ok || got < 186.5e9 || got > 187.8e9 {
		t.Errorf("full act-v1: %.4g FLOP per step, want 187e9", got)
	}
	act.Manifest.Layers.Intermediate = 0
	if _, ok := act.FLOPsPerCycle(); ok {
		t.Error("act-v1 cost known without its intermediate size")
	}
}
