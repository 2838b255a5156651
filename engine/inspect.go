package engine

import (
	"fmt"
	"slices"

	"github.com/hrmd/hrmd/engine/bundle"
)

// tensorInfo is what an ONNX graph says about one of its inputs or outputs.
type tensorInfo struct {
	name  string
	dtype string  // float32, int64, or ONNX Runtime's name for anything else
	dims  []int64 // -1 (or another negative) for a dynamic axis
}

// tensorShape is a tensor's shape without its batch axis.
type tensorShape struct {
	name string
	row  []int64
}

func (s tensorShape) rowSize() int {
	n := 1
	for _, d := range s.row {
		n *= int(d)
	}
	return n
}

func (s tensorShape) batch(b int) []int64 {
	return append([]int64{int64(b)}, s.row...)
}

// bundleIO is what the engine takes from a bundle's graphs once they agree
// with the manifest.
type bundleIO struct {
	stepInputs  []tensorShape // in graphs.step.inputs order
	initProfile []tensorShape // init's inputs, for the TensorRT batch profile
	stepProfile []tensorShape // step's inputs, likewise
	haltWidth   int
	puzzleWidth int           // values in a puzzle row; 0 without a table
	table       *bundle.Table // the memory-mapped table, when the bundle has one
}

// checkGraphIO compares what the ONNX files declare with what the manifest
// says. Messages name the file, the tensor and the manifest field.
func checkGraphIO(b *bundle.Bundle, initIn, initOut, stepIn, stepOut []tensorInfo) (*bundleIO, error) {
	g := graphIO{
		mf:      b.Manifest,
		logits:  b.Logits,
		seq:     int64(b.Seq()),
		initIn:  initIn,
		initOut: initOut,
		stepIn:  stepIn,
		stepOut: stepOut,
	}
	io := &bundleIO{}
	checks := []func(*bundleIO) error{g.checkNames, g.checkTokens, g.checkStates, g.checkCarry, g.checkOutputs}
	for _, check := range checks {
		if err := check(io); err != nil {
			return nil, err
		}
	}
	return io, nil
}

// graphIO is what the init and step graphs declare, checked against the
// manifest one part at a time; each check fills in its part of bundleIO.
type graphIO struct {
	mf                               bundle.Manifest
	logits                           string
	seq                              int64
	initIn, initOut, stepIn, stepOut []tensorInfo
}

// checkNames: each graph has exactly the inputs and outputs the manifest lists.
func (g graphIO) checkNames(*bundleIO) error {
	for _, c := range []struct {
		file, field string
		manifest    []string
		graph       []tensorInfo
	}{
		{g.mf.Graphs.Init.File, "graphs.init.inputs", g.mf.Graphs.Init.Inputs, g.initIn},
		{g.mf.Graphs.Init.File, "graphs.init.outputs", g.mf.Graphs.Init.Outputs, g.initOut},
		{g.mf.Graphs.Step.File, "graphs.step.inputs", g.mf.Graphs.Step.Inputs, g.stepIn},
		{g.mf.Graphs.Step.File, "graphs.step.outputs", g.mf.Graphs.Step.Outputs, g.stepOut},
	} {
		names := make([]string, len(c.graph))
		for i, t := range c.graph {
			names[i] = t.name
		}
		want := slices.Sorted(slices.Values(c.manifest))
		if got := slices.Sorted(slices.Values(names)); !slices.Equal(got, want) {
			return errorf(CodeBundleMismatch, "%s has %v but hrm.yaml %s says %v", c.file, names, c.field, c.manifest)
		}
	}
	return nil
}

// checkTokens: init takes one row of grid x grid tokens.
func (g graphIO) checkTokens(io *bundleIO) error {
	initFile := g.mf.Graphs.Init.File
	tokens, err := rowShape(initFile, "input", find(g.initIn, bundle.TokensInput), "int64")
	if err != nil {
		return err
	}
	if !slices.Equal(tokens.row, []int64{g.seq}) {
		return errorf(
			CodeBundleMismatch,
			"%s input %q has %v tokens per row; hrm.yaml grid %d means %d",
			initFile,
			bundle.TokensInput,
			tokens.row,
			g.mf.Grid,
			g.seq,
		)
	}
	io.initProfile = []tensorShape{tokens}
	p := g.mf.PuzzleEmbeddings
	if p == nil {
		return nil
	}
	row, err := rowShape(initFile, "input", find(g.initIn, p.Input), "float32")
	if err != nil {
		return err
	}
	if !slices.Equal(row.row, []int64{p.Width()}) {
		return errorf(
			CodeBundleMismatch,
			"%s input %q takes %v values per row; hrm.yaml puzzle_embeddings.shape %v has rows of %d",
			initFile,
			p.Input,
			row.row,
			p.Shape,
			p.Width(),
		)
	}
	// In graphs.init.inputs order: tokens, then the puzzle row.
	io.initProfile = append(io.initProfile, row)
	io.puzzleWidth = int(p.Width())
	return nil
}

// checkStates: every step input has the shape of the init output that gives
// its first value, and a carried state is hidden wide.
func (g graphIO) checkStates(io *bundleIO) error {
	initFile, stepFile := g.mf.Graphs.Init.File, g.mf.Graphs.Step.File
	for _, name := range g.mf.Graphs.Step.Inputs {
		in, err := rowShape(stepFile, "input", find(g.stepIn, name), "float32")
		if err != nil {
			return err
		}
		first, err := rowShape(initFile, "output", find(g.initOut, name), "float32")
		if err != nil {
			return err
		}
		if !slices.Equal(first.row, in.row) {
			return errorf(
				CodeBundleMismatch,
				"%s output %q has shape %v per row but %s input %q has %v",
				initFile,
				name,
				first.row,
				stepFile,
				name,
				in.row,
			)
		}
		if g.mf.Carries(name) && in.row[len(in.row)-1] != int64(g.mf.Hidden) {
			return errorf(
				CodeBundleMismatch,
				"%s input %q has width %d; hrm.yaml hidden is %d",
				stepFile,
				name,
				in.row[len(in.row)-1],
				g.mf.Hidden,
			)
		}
		io.stepInputs = append(io.stepInputs, in)
		io.stepProfile = append(io.stepProfile, in)
	}
	return nil
}

// checkCarry: each carried output has the shape of the input it feeds.
func (g graphIO) checkCarry(*bundleIO) error {
	stepFile := g.mf.Graphs.Step.File
	for out, to := range g.mf.Carry {
		o, err := rowShape(stepFile, "output", find(g.stepOut, out), "float32")
		if err != nil {
			return err
		}
		if in := find(g.stepIn, to); !slices.Equal(o.row, in.dims[1:]) {
			return errorf(
				CodeBundleMismatch,
				"%s output %q has shape %v per row but feeds input %q of %v (hrm.yaml carry)",
				stepFile,
				out,
				o.row,
				to,
				in.dims[1:],
			)
		}
	}
	return nil
}

// checkOutputs: the logits are grid x grid by vocab, and the halting output
// has the width its rule needs.
func (g graphIO) checkOutputs(io *bundleIO) error {
	stepFile, mf := g.mf.Graphs.Step.File, g.mf
	logits, err := rowShape(stepFile, "output", find(g.stepOut, g.logits), "float32")
	if err != nil {
		return err
	}
	if !slices.Equal(logits.row, []int64{g.seq, int64(mf.Vocab)}) {
		return errorf(
			CodeBundleMismatch,
			"%s output %q (the logits) has shape %v per row; hrm.yaml grid %d and vocab %d mean [%d %d]",
			stepFile,
			g.logits,
			logits.row,
			mf.Grid,
			mf.Vocab,
			g.seq,
			mf.Vocab,
		)
	}
	halt, err := haltWidth(stepFile, find(g.stepOut, mf.Halting.Output))
	if err != nil {
		return err
	}
	halts := map[string][]int{bundle.RuleThreshold: {1}, bundle.RuleQCompare: {2}, bundle.RuleFixed: {1, 2}}
	want := halts[mf.Halting.Rule]
	if !slices.Contains(want, halt) {
		return errorf(
			CodeBundleMismatch,
			"%s output %q (halting.output) has %d values per row; halting.rule %s needs %v",
			stepFile,
			mf.Halting.Output,
			halt,
			mf.Halting.Rule,
			want,
		)
	}
	io.haltWidth = halt
	return nil
}

// find is the tensor named name (checkNames made sure it is there).
func find(list []tensorInfo, name string) tensorInfo {
	i := slices.IndexFunc(list, func(t tensorInfo) bool { return t.name == name })
	return list[i]
}

// rowShape checks a tensor's dtype and its dynamic batch axis and returns
// the shape of one row.
func rowShape(file, kind string, t tensorInfo, dtype string) (tensorShape, error) {
	if t.dtype != dtype {
		return tensorShape{}, errorf(
			CodeBundleMismatch,
			"%s %s %q is %s; hrmd expects %s",
			file,
			kind,
			t.name,
			t.dtype,
			dtype,
		)
	}
	if len(t.dims) < 2 || t.dims[0] >= 0 {
		return tensorShape{}, errorf(
			CodeBundleMismatch,
			"%s %s %q has shape %v; it needs a dynamic batch axis first (export with dynamic_axes {0: \"batch\"})",
			file,
			kind,
			t.name,
			t.dims,
		)
	}
	for _, d := range t.dims[1:] {
		if d <= 0 {
			return tensorShape{}, errorf(
				CodeBundleMismatch,
				"%s %s %q has shape %v; only the batch axis may be dynamic",
				file,
				kind,
				t.name,
				t.dims,
			)
		}
	}
	return tensorShape{name: t.name, row: t.dims[1:]}, nil
}

// haltWidth checks the halt output, float32 [batch, n], and returns n.
func haltWidth(file string, t tensorInfo) (int, error) {
	if t.dtype != "float32" || len(t.dims) != 2 || t.dims[0] >= 0 || t.dims[1] <= 0 {
		return 0, errorf(
			CodeBundleMismatch,
			"%s output %q is %s %v; the halt output is float32 [batch, 1 or 2]",
			file,
			t.name,
			t.dtype,
			t.dims,
		)
	}
	return int(t.dims[1]), nil
}

func (t tensorInfo) String() string { return fmt.Sprintf("%s %s %v", t.name, t.dtype, t.dims) }
