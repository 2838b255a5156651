package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/jetson"
	"github.com/hrmd/hrmd/puzzles"
)

// Version is stamped in at build time (build.sh: -ldflags -X).
var Version = "dev"

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1 // anything but bad input: model, library, I/O
	exitBadInput = 2 // the task file or the command line
)

// codeUsage is the error code for a bad command line.
const codeUsage = "usage"

const usage = `usage: hrmd COMMAND [ARGS]

  run [--config /etc/hrmd/hrmd.yaml] [--instance NAME] [--shutdown-timeout 30s] [--sysroot /]
        the daemon: answer the task files dropped into the inbox (see README.md)
  solve TASK.json --model DIR [--max-cycles N] [--halting model|converged|fixed]
                  [--trace summary|full] [--png FILE] [--config FILE] [--sysroot /] [-v]
        answer one task file (or a multi-task bundle); the answer JSON goes to stdout
  eval DIR|challenges.json [--solutions FILE] [--submission OUT.json] [--report OUT.json]
                  [--max-tasks N] --model DIR [--max-cycles N] [--halting ...] [--config FILE] [--sysroot /] [-v]
        score a model on tasks with known answers: exact pass@1 and pass@2 by the
        ARC rule and pixel accuracy, beside all-zeros, copy-input and common-colour
  doctor [--config /etc/hrmd/hrmd.yaml] [--sysroot /]
        check the library, providers, GPU, folders and model; say what is wrong
        and how to fix it; exit status 1 when something keeps hrmd from running
  version
        hrmd's version, the onnxruntime library and the providers it offers
`

// Main runs the hrmd command with args (without the program name) and returns
// the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitBadInput
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(args[1:], stderr)
	case "solve":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = cmdSolve(ctx, args[1:], stdout, stderr)
	case "eval":
		err = cmdEval(args[1:], stdout, stderr)
	case "doctor":
		err = cmdDoctor(args[1:], stdout, stderr)
	case "version", "--version":
		err = cmdVersion(stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		err = usageError("unknown command %q; see hrmd help", args[0])
	}
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage) // asked for with -h or --help
		return exitOK
	}
	code, exit := classify(err)
	fmt.Fprintf(stderr, "error %s: %s\n", code, oneLine(message(err)))
	return exit
}

type usageErr struct{ err error }

func (e *usageErr) Error() string { return e.err.Error() }

func (e *usageErr) Unwrap() error { return errors.Unwrap(e.err) }

func usageError(format string, args ...any) error {
	return &usageErr{err: fmt.Errorf(format, args...)}
}

// classify maps an error to its stable code and the exit status.
func classify(err error) (string, int) {
	var perr *puzzles.Error
	var eerr *engine.Error
	var derr *Error
	var uerr *usageErr
	switch {
	case errors.As(err, &perr):
		return perr.Code, exitBadInput
	case errors.As(err, &uerr):
		return codeUsage, exitBadInput
	// Before not_found: a missing file of a bundle, a config or a folder is theirs.
	case errors.As(err, &eerr):
		return eerr.Code, exitFailure
	case errors.As(err, &derr):
		return derr.Code, exitFailure
	case errors.Is(err, fs.ErrNotExist):
		return "not_found", exitBadInput
	case errors.Is(err, context.Canceled):
		return "interrupted", exitFailure
	}
	return "failed", exitFailure
}

// message is the error without its code prefix (the code is printed apart).
func message(err error) string {
	var perr *puzzles.Error
	var eerr *engine.Error
	var derr *Error
	switch {
	case errors.As(err, &perr):
		return perr.Message
	case errors.As(err, &eerr):
		return eerr.Message
	case errors.As(err, &derr):
		return derr.Message
	}
	return err.Error()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cliLogger logs to stderr for one-shot commands: warnings only, unless -v.
func cliLogger(stderr io.Writer, verbose bool) *zap.Logger {
	level := zapcore.WarnLevel
	if verbose {
		level = zapcore.DebugLevel
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.TimeKey = ""
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(stderr), level))
}

func cmdSolve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("solve", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	mf := addModelFlags(fl)
	trace := fl.String("trace", "", "add a per-cycle trace to each answer: summary or full (default: the config's answers.trace)")
	picture := fl.String("png", "", "also draw the task, its answers and (with --trace full) every cycle into this PNG file")
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
	file, err := puzzles.ReadFile(taskPath, cfg.Watch.MaxFileBytes)
	if err != nil {
		return err
	}
	s, closeModel, err := mf.openSolver(cfg, run, stderr)
	if err != nil {
		return err
	}
	defer closeModel()
	answers, err := s.Solve(ctx, file)
	if err != nil {
		return err
	}
	out, err := puzzles.MarshalAnswers(answers, file.Bundle)
	if err != nil {
		return err
	}
	if *picture != "" {
		png, err := answerPicture(file, answers)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Dir(*picture), filepath.Base(*picture), png); err != nil {
			return fmt.Errorf("--png: %w", err)
		}
	}
	_, err = stdout.Write(out)
	return err
}

// parseOneArg parses a command's flags and its one argument, which may come
// before or after them (what names it in the message when there are two).
// It returns "" when there is none.
func parseOneArg(fl *flag.FlagSet, args []string, cmd, what string) (string, error) {
	var arg string
	for len(args) > 0 {
		if err := fl.Parse(args); err != nil {
			return "", usageError("%s: %w", cmd, err)
		}
		args = fl.Args()
		if len(args) > 0 {
			if arg != "" {
				return "", usageError("%s takes one %s; got %q and %q", cmd, what, arg, args[0])
			}
			arg, args = args[0], args[1:]
		}
	}
	return arg, nil
}

// modelFlags are the options that choose the model and how it runs, shared by
// solve and eval so that both read --config and the flags over it alike.
type modelFlags struct {
	model, configPath, halting, sysroot *string
	maxCycles                           *int
	verbose                             *bool
}

func addModelFlags(fl *flag.FlagSet) modelFlags {
	return modelFlags{
		model:      fl.String("model", "", "model bundle folder (default: model: in --config)"),
		configPath: fl.String("config", "", "hrmd.yaml for onnxruntime, tensorrt and inference settings"),
		maxCycles:  fl.Int("max-cycles", -1, "reasoning cycles at most (default: the config's, else the manifest's)"),
		halting:    fl.String("halting", "", "model, converged or fixed (default: the config's, model)"),
		verbose:    fl.Bool("v", false, "log what the engine does on stderr"),
		sysroot:    fl.String("sysroot", "/", "read the device's /proc, /sys and /etc below this folder"),
	}
}

// settings is --config (or the defaults) with the flags over it, and trace
// over answers.trace unless it is ""; cmd names the command in messages.
func (f modelFlags) settings(cmd, trace string) (Config, engine.RunOptions, error) {
	cfg := DefaultConfig()
	if *f.configPath != "" {
		var err error
		if cfg, err = LoadConfig(*f.configPath); err != nil {
			return cfg, engine.RunOptions{}, err
		}
	}
	if *f.model != "" {
		cfg.Model = *f.model
	} else if *f.configPath == "" {
		return cfg, engine.RunOptions{}, usageError("%s needs a model: --model DIR (a bundle folder with hrm.yaml), or --config with model: set", cmd)
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

// openSolver loads cfg's model on the runtime cfg asks for, with the input
// probe every load runs, logging to stderr (all of it with -v). closeModel
// releases the model and the runtime.
func (f modelFlags) openSolver(cfg Config, run engine.RunOptions, stderr io.Writer) (s *Solver, closeModel func(), err error) {
	log := cliLogger(stderr, *f.verbose)
	bundle, err := engine.LoadBundle(cfg.Model)
	if err != nil {
		return nil, nil, err
	}
	device := probeDevice(*f.sysroot, log)
	ec := cfg.Engine()
	ec.Device = device.CacheKey()
	rt, err := engine.Open(ec, log)
	if err != nil {
		return nil, nil, err
	}
	m, err := rt.LoadModel(bundle, engine.ModelOptions{MaxBatch: cfg.Inference.MaxBatch})
	if err != nil {
		rt.Close()
		return nil, nil, err
	}
	closeModel = func() {
		m.Close()
		rt.Close()
		log.Sync()
	}
	invariant, err := checkInputInvariance(m, run, cfg.Inference.InputInvariant, log)
	if err != nil {
		closeModel()
		return nil, nil, err
	}
	s = &Solver{Model: m, Device: device.String(), DemoCheck: cfg.Inference.DemoCheck, Run: run, InputInvariant: invariant,
		Augmentations: cfg.Inference.Augmentations}
	return s, closeModel, nil
}

// probeDevice is the device below sysroot ("/" but in tests and containers);
// its String is runtime.device. A probe that fails is logged, not fatal:
// hrmd runs anywhere, it only describes the device less.
func probeDevice(sysroot string, log *zap.Logger) jetson.Device {
	d, err := deviceAt(sysroot)
	if err != nil {
		log.Warn("cannot identify the device", zap.String("sysroot", sysroot), zap.Error(err))
	}
	return d
}

// deviceAt probes the device below sysroot; what it could not read is in
// the error, and what it could is in the Device, named at least by its
// platform.
func deviceAt(sysroot string) (jetson.Device, error) {
	d, err := jetson.NewFS(sysroot).Probe()
	if d.Model == "" {
		d.Model = runtime.GOOS + "/" + runtime.GOARCH
	}
	return d, err
}

func cmdVersion(stdout, stderr io.Writer) error {
	fmt.Fprintf(stdout, "hrmd %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	log := cliLogger(stderr, false)
	defer log.Sync()
	cfg := engine.DefaultConfig()
	cfg.Providers = []string{engine.ProviderCPU}
	rt, err := engine.Open(cfg, log)
	if err != nil {
		return err
	}
	defer rt.Close()
	fmt.Fprintf(stdout, "onnxruntime %s (%s)\n", rt.Version(), rt.LibraryPath())
	fmt.Fprintln(stdout, "execution providers:")
	for _, p := range rt.Providers() {
		status := "available"
		if !p.Available {
			status = "unavailable: " + oneLine(p.Reason)
		}
		fmt.Fprintf(stdout, "  %-26s %s\n", p.ORTName, status)
	}
	return nil
}
