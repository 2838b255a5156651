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

// Main runs the hrmd command with args (without the program name) and returns
// the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 {
		writeUsage(stderr, cmds)
		return exitBadInput
	}
	var err error
	switch name := args[0]; name {
	case "help", "-h", "--help":
		err = cmdHelp(cmds, args[1:], stdout)
	case "--version":
		err = cmdVersion(context.Background(), nil, stdout, stderr)
	default:
		c, ok := findCommand(cmds, name)
		if !ok {
			err = usageError("unknown command %q; see hrmd help", name)
			break
		}
		if err = c.start(args[1:], stdout, stderr); errors.Is(err, flag.ErrHelp) {
			c.writeHelp(stdout) // asked for with -h or --help
			return exitOK
		}
	}
	if err == nil {
		return exitOK
	}
	code, exit := classify(err)
	fmt.Fprintf(stderr, "error %s: %s\n", code, oneLine(answer.Message(err)))
	return exit
}

// start runs the command, stopped by Ctrl-C or SIGTERM when it is one that
// stops with `error interrupted`.
func (c command) start(args []string, stdout, stderr io.Writer) error {
	ctx := context.Background()
	if c.interrupt {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	return c.run(ctx, args, stdout, stderr)
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
