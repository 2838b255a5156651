package answer

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/engine"
)

// What to do with a model whose predictions do not depend on its input
// (inference.input_invariant).
const (
	InvariantWarn   = "warn"   // load it, warn, and flag every answer
	InvariantRefuse = "refuse" // do not load it
)

// CheckInputInvariance runs the probe every model load runs: a model whose
// predictions do not depend on its input is refused (mode InvariantRefuse)
// or loaded with a warning, and then every answer it gives is flagged.
func CheckInputInvariance(
	ctx context.Context,
	m *engine.Model,
	run engine.RunOptions,
	mode string,
	log *zap.Logger,
) (bool, error) {
	invariant, err := engine.ProbeInputInvariance(ctx, m, run)
	if err != nil || !invariant {
		return false, err
	}
	name := m.Bundle().Manifest.Name
	what := fmt.Sprintf(
		"model %s (%s) answers the same whatever its input: %d different probe grids got one identical prediction, so it "+
			"has learnt nothing about its input (the all-zeros checkpoint that scored \"71%%\" was such a model)",
		name,
		m.Bundle().Dir,
		engine.ProbeCount,
	)
	if mode == InvariantRefuse {
		return true, &Error{
			Code:    CodeInputInvariant,
			Message: what + "; inference.input_invariant is refuse: use another model, or set it to warn",
		}
	}
	log.Warn("the model's predictions do not depend on its input; every answer is flagged model_input_invariant",
		zap.String("event", "input_invariant"), zap.String("model", name), zap.String("detail", what))
	return true, nil
}
