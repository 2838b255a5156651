package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/internal/errcode"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = errcode.ExitFailure  // anything but bad input: model, library, I/O
	exitBadInput = errcode.ExitBadInput // the task file or the command line
)

// codeUsage is the error code for a bad command line.
const codeUsage = errcode.Usage

const usage = `usage: hrmd COMMAND [ARGS]

  run [--config /etc/hrmd/hrmd.yaml] [--instance NAME] [--shutdown-timeout 30s] [--sysroot /]
        the daemon: answer the task files dropped into the inbox (see docs/service.md)
  solve TASK.json --model DIR [--max-cycles N] [--halting model|converged|fixed]
                  [--trace summary|full] [--png FILE] [--config FILE] [--sysroot /] [-v]
        answer one task file (or a multi-task bundle); the answer JSON goes to stdout
  eval DIR|challenges.json [--solutions FILE] [--submission OUT.json] [--report OUT.json]
                  [--max-tasks N] --model DIR [--max-cycles N] [--halting ...] [--config FILE] [--sysroot /] [-v]
        score a model on tasks with known answers: exact pass@1 and pass@2 by the
        ARC rule and pixel accuracy, beside all-zeros, copy-input and common-colour
  bench --model DIR [--batch 1,2,4] [--cycles N] [--runs 20] [--json] [--config FILE] [--sysroot /] [-v]
        time the model on generated grids, per batch size: latency, rows/s, GFLOP/s,
        peak memory, provider, engine build, and a Jetson's temperatures and GPU load
  verify --model DIR [--config FILE] [--json] [--sysroot /] [-v]
        run the bundle's check set through the model as hrmd run loads it (the configured
        providers and batch) and hold it to its fp32 reference; exit status 1 on a miss
  doctor [--config /etc/hrmd/hrmd.yaml] [--sysroot /] [--deep] [--verify]
        check the library, providers, GPU, folders and model; say what is wrong
        and how to fix it; exit status 1 when something keeps hrmd from running;
        --deep also loads the model on the configured providers and runs a step;
        --verify reads an act-v1 puzzle table through to check its sha256
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
		err = cmdRun(args[1:], stderr) // it handles its signals itself
	case "solve", "eval", "bench":
		// Ctrl-C or SIGTERM stops them with `error interrupted`.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		switch args[0] {
		case "solve":
			err = cmdSolve(ctx, args[1:], stdout, stderr)
		case "eval":
			err = cmdEval(ctx, args[1:], stdout, stderr)
		default:
			err = cmdBench(ctx, args[1:], stdout, stderr)
		}
	case "doctor":
		err = cmdDoctor(args[1:], stdout, stderr)
	case "verify":
		err = cmdVerify(args[1:], stdout, stderr)
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
	fmt.Fprintf(stderr, "error %s: %s\n", code, oneLine(answer.Message(err)))
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
	var uerr *usageErr
	switch {
	case errors.As(err, &uerr):
		return codeUsage, exitBadInput
	case answer.IsBadInput(err):
		return answer.Code(err), exitBadInput
	}
	return answer.Code(err), exitFailure
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

// parseNoArgs parses a command that takes flags only.
func parseNoArgs(fl *flag.FlagSet, args []string, cmd string) error {
	if err := fl.Parse(args); err != nil {
		return usageError("%s: %w", cmd, err)
	}
	if fl.NArg() > 0 {
		return usageError("%s takes no arguments, only flags; got %q", cmd, fl.Arg(0))
	}
	return nil
}
