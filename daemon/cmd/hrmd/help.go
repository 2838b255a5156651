package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Widths of what help prints: synopsis lines, and the text under a flag.
const (
	synopsisWidth = 100
	textWidth     = 80
	flagIndent    = "        "
)

// command is one of hrmd's commands: what help says of it, the flags it
// parses and how it runs.
type command struct {
	name    string
	args    string // its positional arguments as the synopsis shows them; "" for none
	summary string // what it does, in a sentence or two
	// flags makes the flag set the command parses: help prints that very
	// set, so that no flag can be missing from it.
	flags func() *flag.FlagSet
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	// interrupt: Ctrl-C or SIGTERM ends its context, and it stops with
	// `error interrupted`. `hrmd run` handles its signals itself.
	interrupt bool
}

// commands are hrmd's commands, in the order `hrmd help` lists them.
func commands() []command {
	return []command{
		{name: "run", flags: flagsOf(newRunFlags), run: cmdRun,
			summary: "The daemon: answer the task files dropped into the inbox and write the answers to the outbox, " +
				"for as long as it runs (docs/service.md)."},
		{name: "solve", args: "TASK.json", flags: flagsOf(newSolveFlags), run: cmdSolve, interrupt: true,
			summary: "Answer one task file (or a multi-task bundle); the answer JSON goes to stdout."},
		{name: "eval", args: "DIR|challenges.json", flags: flagsOf(newEvalFlags), run: cmdEval, interrupt: true,
			summary: "Score a model on tasks with known answers: exact pass@1 and pass@2 by the ARC rule and " +
				"pixel accuracy, beside all-zeros, copy-input and common-colour."},
		{name: "bench", flags: flagsOf(newBenchFlags), run: cmdBench, interrupt: true,
			summary: "Time the model on generated grids, per batch size: latency, rows/s, GFLOP/s, peak memory, " +
				"provider, engine build, and a Jetson's temperatures and GPU load."},
		{name: "verify", flags: flagsOf(newVerifyFlags), run: cmdVerify,
			summary: "Run the bundle's check set through the model as hrmd run loads it (the configured providers " +
				"and batch) and hold it to its fp32 reference; exit status 1 on a miss."},
		{name: "doctor", flags: flagsOf(newDoctorFlags), run: cmdDoctor,
			summary: "Check the library, providers, GPU, folders and model, say what is wrong and how to fix it; " +
				"exit status 1 when something keeps hrmd from running."},
		{name: "version", flags: flagsOf(newVersionFlags), run: cmdVersion,
			summary: "hrmd's version, the onnxruntime library and the providers it offers."},
	}
}

// flagsOf is a command's flag set alone, for help.
func flagsOf[T any](newFlags func() (*flag.FlagSet, T)) func() *flag.FlagSet {
	return func() *flag.FlagSet {
		fl, _ := newFlags()
		return fl
	}
}

// newFlagSet is an empty flag set for a command: its errors are returned,
// not printed (Main prints them, and help for -h).
func newFlagSet(name string) *flag.FlagSet {
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	return fl
}

// findCommand is the command of that name.
func findCommand(cmds []command, name string) (command, bool) {
	i := slices.IndexFunc(cmds, func(c command) bool { return c.name == name })
	if i < 0 {
		return command{}, false
	}
	return cmds[i], true
}

// cmdHelp is `hrmd help [COMMAND]`.
func cmdHelp(cmds []command, args []string, stdout io.Writer) error {
	switch len(args) {
	case 0:
		writeUsage(stdout, cmds)
		return nil
	case 1:
		if args[0] == "help" {
			writeUsage(stdout, cmds) // what help itself does
			return nil
		}
		c, ok := findCommand(cmds, args[0])
		if !ok {
			return usageError("help: unknown command %q; the commands are %s", args[0], commandNames(cmds))
		}
		c.writeHelp(stdout)
		return nil
	}
	return usageError("help takes one command; got %q", strings.Join(args, " "))
}

func commandNames(cmds []command) string {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// writeUsage is `hrmd help`: every command's synopsis and what it does.
func writeUsage(w io.Writer, cmds []command) {
	fmt.Fprint(w, "usage: hrmd COMMAND [ARGS]; hrmd help COMMAND shows a command's flags\n\n")
	for _, c := range cmds {
		for line := range strings.Lines(c.synopsis()) {
			fmt.Fprint(w, "  "+line)
		}
		fmt.Fprintln(w, indented(c.summary, flagIndent, textWidth))
	}
}

// writeHelp is `hrmd help COMMAND`: its synopsis, what it does, and every
// flag with its text and default.
func (c command) writeHelp(w io.Writer) {
	fmt.Fprint(w, c.synopsis())
	fmt.Fprintf(w, "\n%s\n", indented(c.summary, "", textWidth))
	fl := c.flags()
	if hasFlags(fl) {
		fmt.Fprint(w, "\nflags:\n")
		fl.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(w, "  %s\n%s\n", flagWithValue(f), indented(flagText(f), flagIndent, textWidth))
		})
	}
	fmt.Fprintf(w, "\nMore in docs/commands.md, hrmd %s.\n", c.name)
}

func hasFlags(fl *flag.FlagSet) bool {
	n := 0
	fl.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// synopsis is `hrmd NAME ARGS [--flag VALUE] ...`, every flag of the set in
// name order, wrapped under its first argument; it ends with a newline.
func (c command) synopsis() string {
	words := []string{"hrmd " + c.name}
	if c.args != "" {
		words = append(words, c.args)
	}
	c.flags().VisitAll(func(f *flag.Flag) { words = append(words, "["+flagWithValue(f)+"]") })
	indent := strings.Repeat(" ", len("hrmd "+c.name+" "))
	var b strings.Builder
	line := words[0]
	for _, word := range words[1:] {
		if len(line)+1+len(word) > synopsisWidth {
			b.WriteString(line + "\n")
			line = indent + word
			continue
		}
		line += " " + word
	}
	b.WriteString(line + "\n")
	return b.String()
}

// flagWithValue is a flag as typed: --name VALUE, -v for a one-letter one;
// VALUE is the word its help text puts in back quotes.
func flagWithValue(f *flag.Flag) string {
	dash := "--"
	if len(f.Name) == 1 {
		dash = "-"
	}
	name, _ := flag.UnquoteUsage(f)
	if name == "" { // a boolean
		return dash + f.Name
	}
	return dash + f.Name + " " + name
}

// flagText is a flag's help text with its default, unless that is the
// zero value or the text says what the default is.
func flagText(f *flag.Flag) string {
	_, usage := flag.UnquoteUsage(f)
	switch {
	case strings.Contains(usage, "(default"), slices.Contains([]string{"", "0", "false", "0s"}, f.DefValue):
		return usage
	}
	return fmt.Sprintf("%s (default %s)", usage, f.DefValue)
}

// indented is text wrapped to width, each line after indent.
func indented(text, indent string, width int) string {
	lines := wrap(text, width-len(indent))
	for i := range lines {
		lines[i] = indent + lines[i]
	}
	return strings.Join(lines, "\n")
}
