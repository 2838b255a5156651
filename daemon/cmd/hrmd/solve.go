package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/device"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/internal/atomicfile"
	"github.com/hrmd/hrmd/jetson"
	"github.com/hrmd/hrmd/puzzles"
)

// solveFlags are solve's options beyond the model's.
type solveFlags struct {
	model          modelFlags
	trace, picture *string
}

func newSolveFlags() (*flag.FlagSet, solveFlags) {
	fl := newFlagSet("solve")
	return fl, solveFlags{
		model: addModelFlags(fl),
		trace: fl.String(
			"trace",
			"",
			"add a per-cycle trace to each answer, `summary|full|raw` (default: the config's answers.trace)",
		),
		picture: fl.String(
			"png",
			"",
			"also draw the task, its answers and (with --trace full) every cycle into this PNG `FILE`",
		),
	}
}

func cmdSolve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl, sf := newSolveFlags()
	mf, trace, picture := sf.model, sf.trace, sf.picture
	taskPath, err := parseOneArg(fl, args, "solve", "task file")
	if err != nil {
		return err
	}
	if taskPath == "" {
		return usageError("solve needs a task file: hrmd solve TASK.json --model DIR")
	}
	cfg, run, err := mf.settings("solve", *trace)
	if err != nil {
		return err
	}

	// The task is checked before anything is loaded: bad input fails fast.
	file, err := puzzles.ReadFile(taskPath, cfg.Limits())
	if err != nil {
		return config.NameLimit(err)
	}
	s, closeModel, err := mf.openSolver(ctx, cfg, run, stderr)
	if err != nil {
		return err
	}
	defer closeModel()
	warnUnknownPuzzles(cliLogger(stderr, *mf.verbose), s.Model.Bundle(), file, taskPath)
	answers, err := s.Solve(ctx, file)
	if err != nil {
		return err
	}
	out, err := puzzles.MarshalAnswers(answers, file.Bundle)
	if err != nil {
		return err
	}
	if *picture != "" {
		png, err := answer.Picture(file, answers)
		if err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Dir(*picture), filepath.Base(*picture), png); err != nil {
			return fmt.Errorf("--png: %w", err)
		}
	}
	_, err = stdout.Write(out)
	return err
}

// warnUnknownPuzzles says on stderr which of the file's tasks an act-v1
// model has no puzzle embedding for: their answers carry only a flag, and a
// task named otherwise than in the dataset looks answered as usual.
func warnUnknownPuzzles(log *zap.Logger, b *bundle.Bundle, file *puzzles.File, path string) {
	names := answer.UnknownPuzzles(b, file)
	if len(names) == 0 {
		return
	}
	shown := strings.Join(names[:min(len(names), 3)], ", ")
	if len(names) > 3 {
		shown += fmt.Sprintf(" and %d more", len(names)-3)
	}
	log.Warn(
		fmt.Sprintf(
			"%s: model %s's puzzle table (%s) has no row for %s: it runs with the blank row 0, out of the model's "+
				"distribution; its answers' confidence is halved and they are flagged unknown_puzzle. To run a task with "+
				"its own row, name it as the dataset did (its file name or \"name\" field)",
			path,
			b.Manifest.Name,
			b.Manifest.PuzzleEmbeddings.Identifiers,
			shown,
		),
		zap.String("event", "unknown_puzzle"), zap.String("file", path), zap.Strings("puzzles", names),
	)
}

// loadFlags choose a model and the config it loads with, for every
// command that loads one.
type loadFlags struct {
	model, configPath, sysroot *string
	verbose                    *bool
}

// addLoadFlags adds them; configText says what --config is read for.
func addLoadFlags(fl *flag.FlagSet, configText string) loadFlags {
	return loadFlags{
		model:      fl.String("model", "", "the model bundle folder `DIR` (default: model: in --config)"),
		configPath: fl.String("config", "", "the hrmd.yaml `FILE` for "+configText),
		sysroot:    fl.String("sysroot", "/", "read the device's /proc, /sys and /etc below this `DIR`"),
		verbose:    fl.Bool("v", false, "log what the engine does on stderr"),
	}
}

// modelFlags are the options that choose the model and how it runs, shared by
// solve and eval so that both read --config and the flags over it alike.
type modelFlags struct {
	loadFlags
	halting, inputInvariant *string
	maxCycles               *int
}

func addModelFlags(fl *flag.FlagSet) modelFlags {
	return modelFlags{
		loadFlags: addLoadFlags(fl, "onnxruntime, tensorrt and inference settings"),
		maxCycles: fl.Int("max-cycles", -1,
			"`N` reasoning cycles at most (default: the config's, else the manifest's)"),
		halting: fl.String("halting", "",
			"when a row stops, `model|converged|fixed` (default: the config's, model)"),
		inputInvariant: fl.String("input-invariant", "",
			"what to do with a model whose answers ignore its input, `warn|refuse|off` (off: no input probe; "+
				"default: the config's, warn)"),
	}
}

// settings is --config (or the defaults) with the flags over it, and trace
// over answers.trace unless it is ""; cmd names the command in messages.
func (f modelFlags) settings(cmd, trace string) (config.Config, engine.RunOptions, error) {
	cfg, err := cliConfig(cmd, *f.configPath, *f.model)
	if err != nil {
		return cfg, engine.RunOptions{}, err
	}
	if *f.inputInvariant != "" {
		switch *f.inputInvariant {
		case answer.InvariantWarn, answer.InvariantRefuse, answer.InvariantOff:
			cfg.Inference.InputInvariant = *f.inputInvariant
		default:
			return cfg, engine.RunOptions{}, usageError("%s: --input-invariant %q is not one of warn, refuse, off", cmd,
				*f.inputInvariant)
		}
	}
	run := cfg.RunOptions()
	if *f.maxCycles >= 0 {
		run.MaxCycles = *f.maxCycles
	}
	if *f.halting != "" {
		run.Halting = *f.halting
	}
	if trace != "" {
		run.Trace = trace
	}
	if err := run.Validate(); err != nil {
		return cfg, run, usageError("%s: %v", cmd, err)
	}
	return cfg, run, nil
}

// cliConfig is configPath (or the defaults) with model over its model:; a
// command needs one or the other. cmd names the command in messages.
func cliConfig(cmd, configPath, model string) (config.Config, error) {
	cfg, err := config.Over{Model: model}.Read(configPath, false)
	if err != nil {
		return cfg, err
	}
	if model == "" && configPath == "" {
		return cfg, usageError("%s needs a model: --model DIR (a bundle folder with hrm.yaml), or --config with model: "+
			"set", cmd)
	}
	return cfg, nil
}

// openSolver loads cfg's model on the runtime cfg asks for, with the input
// probe (once a model: its verdict is kept), logging to stderr (all of it
// with -v). closeModel releases the model and the runtime.
func (f modelFlags) openSolver(
	ctx context.Context,
	cfg config.Config,
	run engine.RunOptions,
	stderr io.Writer,
) (s *answer.Solver, closeModel func(), err error) {
	log := cliLogger(stderr, *f.verbose)
	om, err := openModel(cfg, cfg.ModelOptions(), *f.sysroot, log)
	if err != nil {
		return nil, nil, err
	}
	invariant, err := answer.CheckInputInvariance(ctx, om.model, cfg.InputProbe(), log)
	if err != nil {
		om.Close()
		return nil, nil, err
	}
	s = &answer.Solver{Model: om.model, Assembler: answer.NewAssembler(om.model, om.device.String(), invariant), Run: run,
		Options: cfg.AnswerOptions(run)}
	return s, om.Close, nil
}

// openedModel is a model loaded on the runtime its config asks for.
type openedModel struct {
	rt     *engine.Runtime
	model  *engine.Model
	device jetson.Device
	took   time.Duration // LoadModel's, a TensorRT engine build included
	log    *zap.Logger
}

// openModel loads cfg's model with opts as the daemon would: the same
// library, providers and engine cache, keyed by the device below sysroot.
func openModel(cfg config.Config, opts engine.ModelOptions, sysroot string, log *zap.Logger) (*openedModel, error) {
	b, err := bundle.Load(cfg.Model)
	if err != nil {
		return nil, err
	}
	device := device.Probe(sysroot, log)
	ec := cfg.Engine()
	ec.Device = device.CacheKey()
	rt, err := engine.Open(ec, log)
	if err != nil {
		return nil, err
	}
	// A TensorRT build takes minutes on a Jetson: say so as it starts, and
	// refuse one the board has no memory for, as the daemon does.
	opts.MemAvailable = jetson.NewFS(sysroot).MemAvailable
	opts.Progress = func(s engine.LoadStage) {
		if s.What != "" {
			log.Info(s.String() + " (minutes on a Jetson the first time)")
		}
	}
	started := time.Now()
	m, err := rt.LoadModel(b, opts)
	if err != nil {
		rt.Close()
		return nil, err
	}
	return &openedModel{rt: rt, model: m, device: device, took: time.Since(started), log: log}, nil
}

// Close releases the model and the runtime.
func (o *openedModel) Close() {
	o.model.Close()
	o.rt.Close()
	o.log.Sync()
}
