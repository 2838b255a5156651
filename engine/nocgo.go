//go:build !cgo

package engine

import (
	"context"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/engine/bundle"
)

// This hrmd was built without cgo, so it cannot load ONNX Runtime. Everything
// that does not run a model (task files, config, bundles) still works.

func errNoCgo() error {
	return errorf(
		CodeNoCgo,
		"this hrmd was built without cgo and cannot load onnxruntime; rebuild with CGO_ENABLED=1 (./build.sh build)",
	)
}

// Runtime is unavailable without cgo.
type Runtime struct{}

// Open always fails without cgo.
func Open(Config, *zap.Logger) (*Runtime, error) { return nil, errNoCgo() }

// Close does nothing.
func (*Runtime) Close() error { return nil }

// Reconfigure always fails without cgo.
func (*Runtime) Reconfigure(Config) error { return errNoCgo() }

// Version is empty.
func (*Runtime) Version() string { return "" }

// LibraryPath is empty.
func (*Runtime) LibraryPath() string { return "" }

// Library is empty.
func (*Runtime) Library() LibraryChoice { return LibraryChoice{} }

// ProviderStatus says whether the library can use an execution provider.
type ProviderStatus struct {
	Name, ORTName string
	Available     bool
	Reason        string
}

// Providers lists none.
func (*Runtime) Providers() []ProviderStatus { return nil }

// Model is unavailable without cgo.
type Model struct{}

// LoadModel always fails without cgo.
func (*Runtime) LoadModel(*bundle.Bundle, ModelOptions) (*Model, error) { return nil, errNoCgo() }

// Run always fails without cgo.
func (*Model) Run(context.Context, [][]int64, RunOptions) ([]RowResult, error) {
	return nil, errNoCgo()
}

// RunPuzzles always fails without cgo.
func (*Model) RunPuzzles(context.Context, [][]int64, []int, RunOptions) ([]RowResult, error) {
	return nil, errNoCgo()
}

// Bundle is nil.
func (*Model) Bundle() *bundle.Bundle { return nil }

// Provider is empty.
func (*Model) Provider() string { return "" }

// Precision is empty.
func (*Model) Precision() string { return "" }

// Placements needs cgo.
func (*Model) Placements() ([]GraphPlacement, error) { return nil, errNoCgo() }

// MaxBatch is 0.
func (*Model) MaxBatch() int { return 0 }

// TunedBatch is 0.
func (*Model) TunedBatch() int { return 0 }

// Close does nothing.
func (*Model) Close() error { return nil }

// TensorRTVersion needs cgo.
func (*Runtime) TensorRTVersion() (string, error) { return "", errNoCgo() }

// EngineCacheDir needs cgo.
func (*Runtime) EngineCacheDir(*bundle.Bundle, string, int) string { return "" }

// EngineCache needs cgo.
func (*Model) EngineCache() EngineCacheUse { return EngineCacheUse{} }

// CheckBundle needs cgo.
func (*Runtime) CheckBundle(*bundle.Bundle) error { return errNoCgo() }

// Check needs cgo.
func (*Model) Check(*bundle.CheckSet) (*PrecisionCheck, error) { return nil, errNoCgo() }
