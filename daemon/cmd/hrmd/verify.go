package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/engine/bundle"
)

// verifyReport is hrmd verify --json.
type verifyReport struct {
	Model    string                 `json:"model"`
	Dir      string                 `json:"dir"`
	SHA256   string                 `json:"sha256"`
	Proxy    *bundle.ProxySource    `json:"proxy"` // the bundle a precision proxy stands for; null for a model's own
	Provider string                 `json:"provider"`
	Passed   bool                   `json:"passed"`
	Check    *engine.PrecisionCheck `json:"check"`
	// Rejected is an engine of another precision that failed its check
	// during this load (or when it was built) and that this one replaced.
	Rejected *engine.PrecisionCheck `json:"rejected"`
	grid     int
}

// verifyFlags are verify's command line.
type verifyFlags struct {
	loadFlags
	json *bool
}

func newVerifyFlags() (*flag.FlagSet, verifyFlags) {
	fl := newFlagSet("verify")
	return fl, verifyFlags{
		loadFlags: addLoadFlags(fl, "onnxruntime, tensorrt and inference settings"),
		json:      fl.Bool("json", false, "print the verdict as JSON, every case and cycle included"),
	}
}

// cmdVerify is `hrmd verify`: the bundle's check set run through the model
// as the daemon loads it (the configured providers and batch, the model's
// own halting), held to its fp32 reference by the rule an engine build
// uses (engine.Model.Check). Exit 0 on a pass, 1 on a miss.
func cmdVerify(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fl, f := newVerifyFlags()
	if err := parseNoArgs(fl, args, "verify"); err != nil {
		return err
	}
	cfg, err := cliConfig("verify", *f.configPath, *f.model)
	if err != nil {
		return err
	}
	log := cliLogger(stderr, *f.verbose)
	om, err := openModel(cfg, cfg.ModelOptions(), *f.sysroot, log)
	if err != nil {
		return err
	}
	defer om.Close()
	b := om.model.Bundle()
	cs, err := bundle.LoadCheckSet(b)
	if err != nil {
		return err
	}
	if cs == nil {
		return &engine.Error{Code: engine.CodeBundleInvalid, Message: fmt.Sprintf(
			"%s has no check set (check: in hrm.yaml) to verify against; give it one with engine/export/hrm_export.py "+
				"--add-check-set %s",
			b.Dir,
			b.Dir,
		)}
	}
	check, err := om.model.Check(cs)
	if err != nil {
		return err
	}
	if p := b.Manifest.Source.Proxy; p != nil {
		// What the numbers stand for: the CPU runs the proxy in fp32, with
		// every tensor rounded to the format it proxies.
		check.Precision = p.Precision + " proxy"
	}
	rep := verifyReport{Model: b.Manifest.Name, Dir: b.Dir, SHA256: b.SHA256, Proxy: b.Manifest.Source.Proxy,
		Provider: om.model.Provider(), Passed: check.Passed, Check: check,
		Rejected: om.model.EngineCache().Rejected, grid: b.Manifest.Grid}
	if *f.json {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if _, err := stdout.Write(append(data, '\n')); err != nil {
			return err
		}
	} else if _, err := io.WriteString(stdout, rep.text()); err != nil {
		return err
	}
	if !check.Passed {
		return &engine.Error{Code: engine.CodePrecisionCheck, Message: fmt.Sprintf("%s on %s (%s) misses its check set: %s",
			b.Manifest.Name, rep.Provider, check.Precision, check.Reason)}
	}
	return nil
}

// text is the verdict for a person: what ran, the rule, the figures, the
// worst miss, and the cycles that flipped a cell.
func (r verifyReport) text() string {
	var b strings.Builder
	c := r.Check
	verdict := "PASSED"
	if !c.Passed {
		verdict = "FAILED"
	}
	what := fmt.Sprintf("%s (%s) on %s", r.Model, r.Dir, r.Provider)
	if r.Proxy != nil {
		what += fmt.Sprintf(", the %s precision proxy of %s", r.Proxy.Precision, r.Proxy.Of)
	}
	fmt.Fprintf(&b, "%s\n%s\n%s\n", verdict, what, c.Summary())
	fmt.Fprintf(
		&b,
		"rule: a cell counts where the reference's margin is above tau %g; a halting decision where its halt logit is "+
			"delta %g or more from the boundary; the halt within %g\n",
		c.Tau,
		c.Delta,
		engine.CheckMaxHaltDiff,
	)
	if w := c.WorstMiss; w != nil {
		fmt.Fprintf(
			&b,
			"worst decided miss: %s cycle %d, cell %d (row %d, column %d): %d instead of %d, reference margin %.3f\n",
			w.Case,
			w.Cycle,
			w.Cell,
			w.Cell/r.grid,
			w.Cell%r.grid,
			w.Got,
			w.Want,
			w.Margin,
		)
	}
	for _, row := range c.Cycles {
		if row.Flips == 0 {
			continue
		}
		fmt.Fprintf(&b, "  case %d cycle %d: %d cells flipped, %d of them decided; reference margins %s\n",
			row.Case, row.Cycle, row.Flips, row.FlipsCounted, margins(row.FlipMargins, row.Flips))
	}
	if r.Rejected != nil {
		fmt.Fprintf(&b, "replaced: %s\n", r.Rejected.Summary())
	}
	return b.String()
}

// margins lists a cycle's largest flip margins, saying how many more there were.
func margins(m []float64, flips int) string {
	parts := make([]string, len(m))
	for i, v := range m {
		parts[i] = fmt.Sprintf("%.3f", v)
	}
	s := strings.Join(parts, " ")
	if flips > len(m) {
		s += fmt.Sprintf(" (and %d smaller)", flips-len(m))
	}
	return s
}
