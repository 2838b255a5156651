package answer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/internal/atomicfile"
)

// What to do with a model whose predictions do not depend on its input
// (inference.input_invariant).
const (
	InvariantWarn   = "warn"   // load it, warn, and flag every answer
	InvariantRefuse = "refuse" // do not load it
	InvariantOff    = "off"    // do not probe it
)

// InputProbe is how a load runs the input probe.
type InputProbe struct {
	Mode string // inference.input_invariant: warn, refuse or off
	// KeepDir is where verdicts are kept, one a model (bundle.StampDir of
	// tensorrt.engine_cache, beside the puzzle tables' stamps); "" keeps
	// none, and every load probes.
	KeepDir string
}

// How a load came by the probe's verdict (the input_probe event's probe).
const (
	ProbeRan  = "ran"  // the probe ran
	ProbeKept = "kept" // read from the verdict kept for the model: no probe ran
	ProbeOff  = "off"  // inference.input_invariant: off
)

// CheckInputInvariance is the probe every model load runs, once a model
// (its verdict is kept by the bundle's sha256): a model whose predictions
// do not depend on its input is refused (mode InvariantRefuse) or loaded
// with a warning, and then every answer it gives is flagged.
func CheckInputInvariance(ctx context.Context, m *engine.Model, p InputProbe, log *zap.Logger) (bool, error) {
	b := m.Bundle()
	name := b.Manifest.Name
	if p.Mode == InvariantOff {
		log.Info("the input probe is off (inference.input_invariant: off)", zap.String("event", "input_probe"),
			zap.String("model", name), zap.String("probe", ProbeOff))
		return false, nil
	}
	how := ProbeKept
	invariant, kept := readProbeVerdict(p.KeepDir, b.SHA256)
	if !kept {
		how = ProbeRan
		var err error
		if invariant, err = engine.ProbeInputInvariance(ctx, m); err != nil {
			return false, err
		}
		// One that cannot be kept only means probing again next time.
		if err := keepProbeVerdict(p.KeepDir, name, b.SHA256, invariant); err != nil {
			log.Debug("the input probe's verdict is not kept; the next load probes again", zap.Error(err))
		}
	}
	log.Info("input probe", zap.String("event", "input_probe"), zap.String("model", name),
		zap.String("probe", how), zap.Bool("input_invariant", invariant))
	if !invariant {
		return false, nil
	}
	what := fmt.Sprintf(
		"model %s (%s) answers the same whatever its input: %d different probe grids got one identical prediction, so it "+
			"has learnt nothing about its input (the all-zeros checkpoint that scored \"71%%\" was such a model)",
		name,
		b.Dir,
		engine.ProbeCount,
	)
	if p.Mode == InvariantRefuse {
		return true, &Error{
			Code:    CodeInputInvariant,
			Message: what + "; inference.input_invariant is refuse: use another model, or set it to warn",
		}
	}
	log.Warn("the model's predictions do not depend on its input; every answer is flagged model_input_invariant",
		zap.String("event", "input_invariant"), zap.String("model", name), zap.String("detail", what))
	return true, nil
}

// probeVerdict is what is kept of a model's probe, in the form of the
// engine record and the puzzle tables' stamps: a JSON file a model.
type probeVerdict struct {
	Model  string `json:"model"`
	SHA256 string `json:"sha256"`
	// Probe names the probe that ran: a verdict of another (other grids,
	// other cycles) is not taken.
	Probe          string `json:"probe"`
	InputInvariant bool   `json:"input_invariant"`
	Checked        string `json:"checked"`
}

func probeName() string {
	return fmt.Sprintf("%d grids, %d cycles at most", engine.ProbeCount, engine.ProbeCycles)
}

func probeFile(sum string) string { return "probe-" + sum[:16] + ".json" }

// readProbeVerdict is the verdict kept in dir for the model of sha256 sum;
// kept is false when there is none to trust.
func readProbeVerdict(dir, sum string) (invariant, kept bool) {
	if dir == "" {
		return false, false
	}
	data, err := os.ReadFile(filepath.Join(dir, probeFile(sum)))
	if err != nil {
		return false, false
	}
	var v probeVerdict
	if json.Unmarshal(data, &v) != nil || v.SHA256 != sum || v.Probe != probeName() {
		return false, false
	}
	return v.InputInvariant, true
}

func keepProbeVerdict(dir, model, sum string, invariant bool) error {
	if dir == "" {
		return nil
	}
	v := probeVerdict{Model: model, SHA256: sum, Probe: probeName(), InputInvariant: invariant,
		Checked: time.Now().UTC().Format(time.RFC3339)}
	data, _ := json.MarshalIndent(v, "", "  ") // a struct of plain fields always marshals
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// atomicfile writes it 0644: the service reads what solve wrote as another user.
	return atomicfile.Write(dir, probeFile(sum), append(data, '\n'))
}
