// Package bundle is the model bundle's format: hrm.yaml (the manifest) read
// strictly and checked for consistency, the sha256 of every file it names,
// the check set (the exporter's fp32 reference) and act-v1's puzzle table.
// It is pure Go, without cgo: the doctor, eval and the tools read a bundle
// through it on a host without ONNX Runtime; package engine runs it.
package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hrmd/hrmd/puzzles"
)

// BundleFormat is the manifest format this engine reads.
const BundleFormat = "hrmd-bundle/1"

// ManifestFile is the manifest's name inside a bundle folder.
const ManifestFile = "hrm.yaml"

// Halting rules (hrm.yaml halting.rule).
const (
	RuleThreshold = "threshold" // halt when the halt output (a probability) exceeds threshold
	RuleQCompare  = "q_compare" // halt when q_halt > q_continue (act-v1's q head)
	RuleFixed     = "fixed"     // always run max_cycles
)

// Manifest is hrm.yaml (docs/models.md, The model bundle).
type Manifest struct {
	Format   string `yaml:"format"`
	Name     string `yaml:"name"`
	Family   string `yaml:"family"`
	Source   Source `yaml:"source"`
	Grid     int    `yaml:"grid"`
	Vocab    int    `yaml:"vocab"`
	Encoding string `yaml:"encoding"`
	Hidden   int    `yaml:"hidden"`
	// Layers is optional: the model runs without it, but its cost per cycle
	// (FLOPsPerCycle) needs it.
	Layers *Layers           `yaml:"layers,omitempty"`
	Graphs Graphs            `yaml:"graphs"`
	Carry  map[string]string `yaml:"carry"`
	// Constants are init outputs passed unchanged to every step.
	Constants []string `yaml:"constants"`
	Halting   Halting  `yaml:"halting"`
	// Check is the bundle's check set: real inputs with the fp32 reference,
	// cycle by cycle, that every TensorRT engine is held to. Optional in
	// format 1 (bundles exported before it have none).
	Check *CheckFile `yaml:"check,omitempty"`
	// PuzzleEmbeddings is act-v1's table of one learned row per puzzle
	// identifier, kept outside the graphs (it can exceed 2 GiB).
	PuzzleEmbeddings *PuzzleEmbeddings `yaml:"puzzle_embeddings,omitempty"`
}

// CheckFile names the check set file and its hash.
type CheckFile struct {
	File   string `yaml:"file"`
	SHA256 string `yaml:"sha256"`
}

// Source says where the weights came from.
type Source struct {
	Checkpoint string `yaml:"checkpoint"`
	Step       int64  `yaml:"step"`
	SHA256     string `yaml:"sha256"`
	// Proxy is set on a precision proxy (engine/export/simulate_precision.py):
	// the bundle it was made from and the format it stores tensors in.
	Proxy *ProxySource `yaml:"proxy,omitempty"`
}

// ProxySource names the bundle a precision proxy stands for.
type ProxySource struct {
	Of        string `yaml:"of" json:"of"`               // that bundle's name
	SHA256    string `yaml:"sha256" json:"sha256"`       // its hrm.yaml's sha256 (its Bundle.SHA256)
	Precision string `yaml:"precision" json:"precision"` // fp16, bf16, fp8, e4m2, ...
}

// Layers counts the encoder layers of each level.
type Layers struct {
	H int `yaml:"h"`
	L int `yaml:"l"`
	// act-v1 only: one step runs the L level LCycles times per H cycle and
	// the H level HCycles times; the feed-forward is Intermediate wide.
	HCycles      int `yaml:"h_cycles,omitempty"`
	LCycles      int `yaml:"l_cycles,omitempty"`
	Intermediate int `yaml:"intermediate,omitempty"`
}

// Graphs are the bundle's two ONNX graphs.
type Graphs struct {
	Init Graph `yaml:"init"`
	Step Graph `yaml:"step"`
}

// Graph is one ONNX file and the tensor names it has.
type Graph struct {
	File    string   `yaml:"file"`
	SHA256  string   `yaml:"sha256"`
	Inputs  []string `yaml:"inputs"`
	Outputs []string `yaml:"outputs"`
}

// Halting is how the model decides it is done.
type Halting struct {
	Output    string  `yaml:"output"`
	Rule      string  `yaml:"rule"`
	Threshold float64 `yaml:"threshold"`
	MinCycles int     `yaml:"min_cycles"`
	MaxCycles int     `yaml:"max_cycles"`
}

// MaxCyclesLimit bounds max_cycles: HRM uses 8 (nova) or 16 (act-v1).
const MaxCyclesLimit = 256

// TokensInput is the init graph's input that takes the encoded grid.
const TokensInput = "tokens"

// Bundle is a model folder whose manifest is valid and whose files match it.
type Bundle struct {
	Dir      string
	Manifest Manifest
	// SHA256 identifies the bundle: the hash of hrm.yaml, which holds every
	// graph's hash in turn.
	SHA256   string
	Encoding puzzles.Encoding
	// Logits is the step output that is neither carried nor the halt output.
	Logits string
	// Puzzles names the rows of the puzzle embedding table (act-v1); nil
	// for a bundle without one.
	Puzzles *PuzzleIndex
}

// Load reads dir/hrm.yaml strictly, checks it for consistency and checks
// every graph file's sha256. Errors name the file and the field.
func Load(dir string) (*Bundle, error) {
	path := filepath.Join(dir, ManifestFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if st, serr := os.Stat(dir); serr != nil || !st.IsDir() {
				return nil, errorf(
					CodeBundleInvalid,
					"model folder %s does not exist; point --model (or model: in hrmd.yaml) at a bundle folder holding hrm.yaml, "+
						"init.onnx and step.onnx",
					dir,
				)
			}
			return nil, errorf(
				CodeBundleInvalid,
				"%s has no %s: not a model bundle (engine/export/hrm_export.py writes one)",
				dir,
				ManifestFile,
			)
		}
		return nil, &Error{Code: CodeBundleInvalid, Message: fmt.Sprintf("read %s: %v", path, err), Err: err}
	}
	var m Manifest
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, &Error{Code: CodeBundleInvalid, Message: fmt.Sprintf("%s: %v", path, err), Err: err}
	}
	b := &Bundle{Dir: dir, Manifest: m}
	if err := b.validate(); err != nil {
		return nil, errorf(CodeBundleInvalid, "%s: %s", path, err)
	}
	sum := sha256.Sum256(data)
	b.SHA256 = hex.EncodeToString(sum[:])
	for _, g := range m.files() {
		if g.lazy {
			continue
		}
		file := filepath.Join(dir, g.graph.File)
		got, _, err := FileSHA256(file)
		if err != nil {
			return nil, &Error{Code: CodeBundleInvalid, Message: fmt.Sprintf("%s.file: %v", g.key, err), Err: err}
		}
		if got != g.graph.SHA256 {
			return nil, errorf(
				CodeBundleChecksum,
				"%s has sha256 %s but %s %s.sha256 is %s: the file changed after export; re-export the bundle (or copy it again)",
				file,
				got,
				path,
				g.key,
				g.graph.SHA256,
			)
		}
	}
	if m.PuzzleEmbeddings != nil {
		if b.Puzzles, err = readPuzzleIndex(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Path is the absolute-or-relative path of a file inside the bundle.
func (b *Bundle) Path(file string) string { return filepath.Join(b.Dir, file) }

// Seq is the token sequence length: the grid's cells.
func (b *Bundle) Seq() int { return b.Manifest.Grid * b.Manifest.Grid }

// FileSHA256 is the file's sha256 and the bytes it hashed.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// validate checks the manifest on its own; each message starts with the key.
func (b *Bundle) validate() error {
	m := &b.Manifest
	if m.Format != BundleFormat {
		return fmt.Errorf("format is %q; this hrmd reads %q", m.Format, BundleFormat)
	}
	if m.Name == "" {
		return fmt.Errorf("name is empty")
	}
	if m.Family != "nova" && m.Family != "act-v1" {
		return fmt.Errorf("family is %q; known families are nova and act-v1", m.Family)
	}
	if m.Grid < 1 || m.Grid > puzzles.MaxSide {
		return fmt.Errorf("grid is %d; it must be 1 to %d", m.Grid, puzzles.MaxSide)
	}
	enc, err := puzzles.ParseEncoding(m.Encoding)
	if err != nil {
		return fmt.Errorf("encoding: %v", err)
	}
	b.Encoding = enc
	if m.Vocab != enc.Vocab() {
		return fmt.Errorf(
			"vocab is %d; the %s encoding has %d tokens: set encoding to the one the checkpoint was trained with "+
				"(arc-eos 12, raw 10, sudoku 11, maze 6), or re-export it with hrm_export.py --task",
			m.Vocab,
			enc,
			enc.Vocab(),
		)
	}
	if side := enc.Side(); side > 0 && m.Grid != side {
		return fmt.Errorf(
			"grid is %d; the %s encoding's grid is %d (seq_len %d): a %s model's grid is %d, or the encoding is not the "+
				"checkpoint's; re-export it with hrm_export.py --task",
			m.Grid,
			enc,
			side,
			side*side,
			enc,
			side,
		)
	}
	if m.Hidden < 1 {
		return fmt.Errorf("hidden is %d; it must be positive", m.Hidden)
	}
	if m.Layers != nil && (m.Layers.H < 1 || m.Layers.L < 1) {
		return fmt.Errorf("layers is {h: %d, l: %d}; each level has at least one layer", m.Layers.H, m.Layers.L)
	}
	for _, check := range []func() error{b.validateGraphs, b.validateWiring, b.validateHalting} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// bundleFile is a file the manifest names, with its key ("graphs.step").
// A lazy file's sha256 is not checked at every load (the puzzle table:
// gigabytes; verifyTable checks it once and remembers).
type bundleFile struct {
	key   string
	graph Graph
	lazy  bool
}

// files are the files the manifest names and hashes.
func (m *Manifest) files() []bundleFile {
	files := []bundleFile{{key: "graphs.init", graph: m.Graphs.Init}, {key: "graphs.step", graph: m.Graphs.Step}}
	if m.Check != nil {
		files = append(files, bundleFile{key: "check", graph: Graph{File: m.Check.File, SHA256: m.Check.SHA256}})
	}
	if p := m.PuzzleEmbeddings; p != nil {
		files = append(files,
			bundleFile{key: "puzzle_embeddings", graph: Graph{File: p.File, SHA256: p.SHA256}, lazy: true},
			bundleFile{key: "puzzle_embeddings.identifiers", graph: Graph{File: p.Identifiers, SHA256: p.IdentifiersSHA256}})
	}
	return files
}

// validateGraphs checks each graph's file, checksum and tensor names.
func (b *Bundle) validateGraphs() error {
	m := &b.Manifest
	for _, g := range m.files() {
		if g.graph.File == "" || g.graph.File != filepath.Base(g.graph.File) || strings.HasPrefix(g.graph.File, ".") {
			return fmt.Errorf("%s.file is %q; it must be a file name inside the bundle folder", g.key, g.graph.File)
		}
		if len(g.graph.SHA256) != 64 || strings.Trim(g.graph.SHA256, "0123456789abcdef") != "" {
			return fmt.Errorf("%s.sha256 is %q; it must be 64 lowercase hex digits", g.key, g.graph.SHA256)
		}
		if g.key == "check" || strings.HasPrefix(g.key, "puzzle_embeddings") {
			continue
		}
		if len(g.graph.Inputs) == 0 || len(g.graph.Outputs) == 0 {
			return fmt.Errorf("%s lists no inputs or no outputs", g.key)
		}
		if dup := firstDuplicate(append(slices.Clone(g.graph.Inputs), g.graph.Outputs...)); dup != "" {
			return fmt.Errorf("%s names %q twice; every tensor needs a name of its own", g.key, dup)
		}
	}
	return nil
}

// validateWiring checks that init and step fit together: every step input
// is carried from a step output or a constant, and init gives each its first
// value.
func (b *Bundle) validateWiring() error {
	m := &b.Manifest
	init, step := m.Graphs.Init, m.Graphs.Step
	if err := m.checkInitInputs(); err != nil {
		return err
	}
	for out, in := range m.Carry {
		if !slices.Contains(step.Outputs, out) {
			return fmt.Errorf("carry maps %q, which is not in graphs.step.outputs %v", out, step.Outputs)
		}
		if !slices.Contains(step.Inputs, in) {
			return fmt.Errorf("carry maps %q to %q, which is not in graphs.step.inputs %v", out, in, step.Inputs)
		}
	}
	carried := make([]string, 0, len(m.Carry))
	for _, in := range m.Carry {
		carried = append(carried, in)
	}
	if dup := firstDuplicate(carried); dup != "" {
		return fmt.Errorf("carry maps two outputs to %q", dup)
	}
	for _, c := range m.Constants {
		if slices.Contains(carried, c) {
			return fmt.Errorf("constants lists %q, which carry also feeds", c)
		}
		if !slices.Contains(step.Inputs, c) {
			return fmt.Errorf("constants lists %q, which is not in graphs.step.inputs %v", c, step.Inputs)
		}
	}
	for _, in := range step.Inputs {
		if !slices.Contains(carried, in) && !slices.Contains(m.Constants, in) {
			return fmt.Errorf("graphs.step.inputs has %q, which neither carry nor constants feeds", in)
		}
		if !slices.Contains(init.Outputs, in) {
			return fmt.Errorf(
				"graphs.step.inputs has %q, which graphs.init.outputs %v does not produce (init gives every step input its first "+
					"value)",
				in,
				init.Outputs,
			)
		}
	}
	for _, out := range init.Outputs {
		if !slices.Contains(step.Inputs, out) {
			return fmt.Errorf("graphs.init.outputs has %q, which no step input takes", out)
		}
	}
	return nil
}

// validateHalting checks the halting rule and finds the logits: the one step
// output that is neither carried nor the halting output.
func (b *Bundle) validateHalting() error {
	m := &b.Manifest
	step := m.Graphs.Step
	h := m.Halting
	if !slices.Contains(step.Outputs, h.Output) {
		return fmt.Errorf("halting.output is %q, which is not in graphs.step.outputs %v", h.Output, step.Outputs)
	}
	if _, ok := m.Carry[h.Output]; ok {
		return fmt.Errorf("halting.output %q is also carried", h.Output)
	}
	var rest []string
	for _, out := range step.Outputs {
		if _, ok := m.Carry[out]; !ok && out != h.Output {
			rest = append(rest, out)
		}
	}
	if len(rest) != 1 {
		return fmt.Errorf(
			"graphs.step.outputs must have exactly one output besides the carried ones and halting.output (the logits); it "+
				"has %v",
			rest,
		)
	}
	b.Logits = rest[0]
	switch h.Rule {
	case RuleThreshold:
		if h.Threshold <= 0 || h.Threshold >= 1 {
			return fmt.Errorf("halting.threshold is %g; a probability threshold lies between 0 and 1", h.Threshold)
		}
	case RuleQCompare, RuleFixed:
	default:
		return fmt.Errorf("halting.rule is %q; known rules are %s, %s and %s", h.Rule, RuleThreshold, RuleQCompare, RuleFixed)
	}
	if h.MinCycles < 1 {
		return fmt.Errorf("halting.min_cycles is %d; it must be at least 1", h.MinCycles)
	}
	if h.MaxCycles < h.MinCycles || h.MaxCycles > MaxCyclesLimit {
		return fmt.Errorf(
			"halting.max_cycles is %d; it must be between min_cycles (%d) and %d",
			h.MaxCycles,
			h.MinCycles,
			MaxCyclesLimit,
		)
	}
	return nil
}

// FLOPsPerCycle is the arithmetic of one reasoning cycle for one input,
// counting a multiply-add as two operations, from the manifest's dimensions.
// It is known for the nova family with layers given: each encoder layer at
// sequence S and width d (feed-forward 4d) costs 24·S·d² + 4·S²·d, and the
// cycle adds h_to_l and l_to_h (2·2·S·d²), the output head (2·S·d·vocab) and
// the halt head. At nova's published size that is 15.95 GFLOP.
func (b *Bundle) FLOPsPerCycle() (float64, bool) {
	m := b.Manifest
	if m.Layers == nil {
		return 0, false
	}
	s, d, v := float64(b.Seq()), float64(m.Hidden), float64(m.Vocab)
	switch m.Family {
	case "nova":
		layer := 24*s*d*d + 4*s*s*d
		return float64(m.Layers.H+m.Layers.L)*layer + 4*s*d*d + 2*s*d*v + 2*2*d, true
	case "act-v1":
		return actFLOPsPerStep(m, s, d, v)
	}
	return 0, false
}

// actFLOPsPerStep is act-v1's cost of one ACT step: over S' = S + the
// puzzle positions, a block (fused qkv and o_proj 8·S'·d², attention
// 4·S'²·d, SwiGLU 6·S'·d·i) runs H_cycles × (L_cycles × L + H) times,
// then the lm head and the q head. At the published size (d 512, i 1536,
// 4 + 4 layers, 2 × 2 cycles, 901 positions) a block is 7.80 GFLOP and a
// step 187.
func actFLOPsPerStep(m Manifest, s, d, v float64) (float64, bool) {
	l := m.Layers
	if l.HCycles < 1 || l.LCycles < 1 || l.Intermediate < 1 {
		return 0, false
	}
	positions := s
	if p := m.PuzzleEmbeddings; p != nil {
		positions += float64((p.Width() + int64(m.Hidden) - 1) / int64(m.Hidden))
	}
	block := 8*positions*d*d + 4*positions*positions*d + 6*positions*d*float64(l.Intermediate)
	passes := float64(l.HCycles * (l.LCycles*l.L + l.H))
	return passes*block + 2*s*d*v + 2*d*2, true
}

// Carries reports whether a step input is fed by a carried step output.
func (m *Manifest) Carries(input string) bool {
	for _, in := range m.Carry {
		if in == input {
			return true
		}
	}
	return false
}

func firstDuplicate(names []string) string {
	for i, n := range names {
		if slices.Contains(names[:i], n) {
			return n
		}
	}
	return ""
}
