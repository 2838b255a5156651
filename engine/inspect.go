package engine

import (
	"fmt"
	"slices"
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
}

// checkGraphIO compares what the ONNX files declare with what the manifest
// says. Messages name the file, the tensor and the manifest field.
func checkGraphIO(b *Bundle, initIn, initOut, stepIn, stepOut []tensorInfo) (*bundleIO, error) {
	mf := b.Manifest
	initFile, stepFile := mf.Graphs.Init.File, mf.Graphs.Step.File
	for _, c := range []struct {
		file, field string
		manifest    []string
		graph       []tensorInfo
	}{
		{initFile, "graphs.init.inputs", mf.Graphs.Init.Inputs, initIn},
		{initFile, "graphs.init.outputs", mf.Graphs.Init.Outputs, initOut},
		{stepFile, "graphs.step.inputs", mf.Graphs.Step.Inputs, stepIn},
		{stepFile, "graphs.step.outputs", mf.Graphs.Step.Outputs, stepOut},
	} {
		names := make([]string, len(c.graph))
		for i, t := range c.graph {
			names[i] = t.name
		}
		want := slices.Sorted(slices.Values(c.manifest))
		if got := slices.Sorted(slices.Values(names)); !slices.Equal(got, want) {
			return nil, errorf(CodeBundleMismatch, "%s has %v but hrm.yaml %s says %v", c.file, names, c.field, c.manifest)
		}
	}
	seq := int64(b.Seq())
	find := func(list []tensorInfo, name string) tensorInfo {
		i := slices.IndexFunc(list, func(t tensorInfo) bool { return t.name == name })
		return list[i]
	}
	// rowShape checks dtype and a dynamic batch axis and returns the rest.
	rowShape := func(file, kind string, t tensorInfo, dtype string) (tensorShape, error) {
		if t.dtype != dtype {
			return tensorShape{}, errorf(CodeBundleMismatch, "%s %s %q is %s; hrmd expects %s", file, kind, t.name, t.dtype, dtype)
		}
		if len(t.dims) < 2 || t.dims[0] >= 0 {
			return tensorShape{}, errorf(CodeBundleMismatch, "%s %s %q has shape %v; it needs a dynamic batch axis first (export with dynamic_axes {0: \"batch\"})", file, kind, t.name, t.dims)
		}
		for _, d := range t.dims[1:] {
			if d <= 0 {
				return tensorShape{}, errorf(CodeBundleMismatch, "%s %s %q has shape %v; only the batch axis may be dynamic", file, kind, t.name, t.dims)
			}
		}
		return tensorShape{name: t.name, row: t.dims[1:]}, nil
	}
	io := &bundleIO{}
	tokens, err := rowShape(initFile, "input", find(initIn, tokensInput), "int64")
	if err != nil {
		return nil, err
	}
	if !slices.Equal(tokens.row, []int64{seq}) {
		return nil, errorf(CodeBundleMismatch, "%s input %q has %v tokens per row; hrm.yaml grid %d means %d", initFile, tokensInput, tokens.row, mf.Grid, seq)
	}
	io.initProfile = []tensorShape{tokens}
	for _, name := range mf.Graphs.Step.Inputs {
		in, err := rowShape(stepFile, "input", find(stepIn, name), "float32")
		if err != nil {
			return nil, err
		}
		first, err := rowShape(initFile, "output", find(initOut, name), "float32")
		if err != nil {
			return nil, err
		}
		if !slices.Equal(first.row, in.row) {
			return nil, errorf(CodeBundleMismatch, "%s output %q has shape %v per row but %s input %q has %v", initFile, name, first.row, stepFile, name, in.row)
		}
		if isCarried(mf, name) && in.row[len(in.row)-1] != int64(mf.Hidden) {
			return nil, errorf(CodeBundleMismatch, "%s input %q has width %d; hrm.yaml hidden is %d", stepFile, name, in.row[len(in.row)-1], mf.Hidden)
		}
		io.stepInputs = append(io.stepInputs, in)
		io.stepProfile = append(io.stepProfile, in)
	}
	for out, to := range mf.Carry {
		o, err := rowShape(stepFile, "output", find(stepOut, out), "float32")
		if err != nil {
			return nil, err
		}
		if in := find(stepIn, to); !slices.Equal(o.row, in.dims[1:]) {
			return nil, errorf(CodeBundleMismatch, "%s output %q has shape %v per row but feeds input %q of %v (hrm.yaml carry)", stepFile, out, o.row, to, in.dims[1:])
		}
	}
	logits, err := rowShape(stepFile, "output", find(stepOut, b.Logits), "float32")
	if err != nil {
		return nil, err
	}
	if !slices.Equal(logits.row, []int64{seq, int64(mf.Vocab)}) {
		return nil, errorf(CodeBundleMismatch, "%s output %q (the logits) has shape %v per row; hrm.yaml grid %d and vocab %d mean [%d %d]", stepFile, b.Logits, logits.row, mf.Grid, mf.Vocab, seq, mf.Vocab)
	}
	halt, err := haltWidth(stepFile, find(stepOut, mf.Halting.Output))
	if err != nil {
		return nil, err
	}
	want := map[string][]int{RuleThreshold: {1}, RuleQCompare: {2}, RuleFixed: {1, 2}}[mf.Halting.Rule]
	if !slices.Contains(want, halt) {
		return nil, errorf(CodeBundleMismatch, "%s output %q (halting.output) has %d values per row; halting.rule %s needs %v", stepFile, mf.Halting.Output, halt, mf.Halting.Rule, want)
	}
	io.haltWidth = halt
	return io, nil
}

// haltWidth checks the halt output, float32 [batch, n], and returns n.
func haltWidth(file string, t tensorInfo) (int, error) {
	if t.dtype != "float32" || len(t.dims) != 2 || t.dims[0] >= 0 || t.dims[1] <= 0 {
		return 0, errorf(CodeBundleMismatch, "%s output %q is %s %v; the halt output is float32 [batch, 1 or 2]", file, t.name, t.dtype, t.dims)
	}
	return int(t.dims[1]), nil
}

func (t tensorInfo) String() string { return fmt.Sprintf("%s %s %v", t.name, t.dtype, t.dims) }
