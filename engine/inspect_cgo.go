//go:build cgo

package engine

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/hrmd/hrmd/engine/bundle"
)

// inspectBundle reads each graph's declared inputs and outputs and checks them
// against the manifest, so a disagreement is reported by name before
// ONNX Runtime ever runs the graph.
func inspectBundle(b *bundle.Bundle) (*bundleIO, error) {
	read := func(g bundle.Graph) ([]tensorInfo, []tensorInfo, error) {
		path := b.Path(g.File)
		ins, outs, err := ort.GetInputOutputInfo(path)
		if err != nil {
			return nil, nil, &Error{
				Code:    CodeBundleInvalid,
				Message: fmt.Sprintf("onnxruntime cannot read %s: %v", path, err),
				Err:     err,
			}
		}
		return convertInfo(ins), convertInfo(outs), nil
	}
	initIn, initOut, err := read(b.Manifest.Graphs.Init)
	if err != nil {
		return nil, err
	}
	stepIn, stepOut, err := read(b.Manifest.Graphs.Step)
	if err != nil {
		return nil, err
	}
	return checkGraphIO(b, initIn, initOut, stepIn, stepOut)
}

func convertInfo(list []ort.InputOutputInfo) []tensorInfo {
	out := make([]tensorInfo, len(list))
	for i, t := range list {
		dtype := t.DataType.String()
		switch t.DataType {
		case ort.TensorElementDataTypeFloat:
			dtype = "float32"
		case ort.TensorElementDataTypeInt64:
			dtype = "int64"
		}
		out[i] = tensorInfo{name: t.Name, dtype: dtype, dims: []int64(t.Dimensions)}
	}
	return out
}
