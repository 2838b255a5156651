// Command demo is `./build.sh demo`: it runs the real daemon on a temporary
// spool with the committed demo model, drops puzzles into its inbox (the demo
// family's examples, one real ARC-AGI-1 task and one broken file), prints each
// answer as grids next to its input and the known answer, shows where the files
// went, and stops the daemon with SIGTERM.
//
// It exits 1 when the daemon misbehaves (does not become ready, loses a file,
// does not stop cleanly), not when the model answers wrongly: a wrong answer
// the demo reports as wrong is the daemon working.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/hrmd/hrmd/daemon/spool"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/puzzles"
)

// brokenName and brokenPuzzle are the bad input the demo drops: its second
// row is short, so the daemon must fail it with ragged_grid.
const (
	brokenName   = "broken.json"
	brokenPuzzle = `{"train": [], "test": [{"input": [[2, 0, 0], [0, 0]]}]}` + "\n"
)

type options struct {
	hrmd     string // the hrmd binary
	model    string // the bundle folder
	examples string // folder of the family's example puzzles
	arcTask  string // one real ARC-AGI-1 task
	dir      string // where the temporary spool goes ("" = the system's temp folder)
	colour   bool
	timeout  time.Duration
}

func main() {
	var o options
	var colour string
	flag.StringVar(&o.hrmd, "hrmd", "bin/hrmd", "the hrmd binary")
	flag.StringVar(&o.model, "model", "engine/models/demo", "the model bundle")
	flag.StringVar(&o.examples, "examples", "puzzles/examples", "folder of example puzzles")
	flag.StringVar(&o.arcTask, "arc", "testdata/arc/ARC-AGI-1/training/007bbfb7.json", "a real ARC-AGI-1 task")
	flag.StringVar(&o.dir, "dir", "", "parent folder for the demo's spool (default: the system's temporary folder)")
	flag.StringVar(&colour, "colour", "auto", "auto (on a terminal, unless NO_COLOR is set), always or never")
	flag.DurationVar(&o.timeout, "timeout", 90*time.Second, "give up after this long")
	flag.Parse()
	var err error
	if o.colour, err = useColour(colour, term.IsTerminal(int(os.Stdout.Fd())), os.Getenv("NO_COLOR")); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// useColour decides on colour: -colour always or never, or auto, which means a
// terminal without NO_COLOR set (https://no-color.org: any value turns it off).
func useColour(mode string, terminal bool, noColor string) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		return terminal && noColor == "", nil
	}
	return false, fmt.Errorf("-colour is %q; use auto, always or never", mode)
}

// drop is one file the demo puts into the inbox.
type drop struct {
	name string
	data []byte
	note string // what it is, for the reader
}

func run(ctx context.Context, o options, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	drops, err := collect(o)
	if err != nil {
		return err
	}
	d, err := newDemo(o)
	if err != nil {
		return err
	}
	defer d.cleanup()
	if err := d.start(ctx, out); err != nil {
		return err
	}
	defer d.kill()
	problems, err := d.show(ctx, out, drops)
	if err != nil {
		return err
	}
	if err := d.stop(out); err != nil {
		return err
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// demo is one run of the daemon on a temporary spool.
type demo struct {
	o                           options
	root, config, logPath, addr string
	spool                       spool.Layout
	p                           *hrmdtest.Process
}

// newDemo makes the demo's folder and writes its config.
func newDemo(o options) (*demo, error) {
	model, err := filepath.Abs(o.model)
	if err != nil {
		return nil, fmt.Errorf("the model folder %s: %w", o.model, err)
	}
	root, err := os.MkdirTemp(o.dir, "hrmd-demo-")
	if err != nil {
		return nil, fmt.Errorf("make the demo's folder: %w", err)
	}
	d := &demo{o: o, root: root, config: filepath.Join(root, "hrmd.yaml"), logPath: filepath.Join(root, "hrmd.log"),
		spool: hrmdtest.SpoolIn(root, "")}
	if d.addr, err = hrmdtest.FreeAddr(); err != nil {
		return d, fmt.Errorf("find a free port for hrmd's HTTP endpoint: %w", err)
	}
	// %q: a path with ": " or " #" in it stays one YAML string.
	yaml := fmt.Sprintf(
		"# written by ./build.sh demo\ninbox: %q\noutbox: %q\nspool: %q\nmodel: %q\nhttp:\n  listen: %q\nlog:\n  format: "+
			"console\n",
		d.spool.Inbox,
		d.spool.Outbox,
		d.spool.Root,
		model,
		d.addr,
	)
	if err := os.WriteFile(d.config, []byte(yaml), 0o644); err != nil {
		return d, fmt.Errorf("write the demo's config: %w", err)
	}
	return d, nil
}

// cleanup removes the demo's folder unless the daemon started: then it
// holds what the demo shows, for the reader to look at.
func (d *demo) cleanup() {
	if d.p == nil {
		os.RemoveAll(d.root)
	}
}

// start starts hrmd and waits until it is ready.
func (d *demo) start(ctx context.Context, out io.Writer) error {
	fmt.Fprintf(out, "$ %s run --config %s\n", d.o.hrmd, d.config)
	p, err := hrmdtest.Start(hrmdtest.Options{Bin: d.o.hrmd, Config: d.config, Log: d.logPath, Addr: d.addr})
	if err != nil {
		return fmt.Errorf("%w (run ./build.sh build first)", err)
	}
	d.p = p
	start := time.Now()
	if err := d.wait(ctx, "it was ready", "hrmd was not ready", func() bool {
		code, _, err := p.Get("/readyz")
		return err == nil && code == http.StatusOK
	}); err != nil {
		d.kill()
		return fmt.Errorf("%w; the daemon's log is %s:\n%s", err, d.logPath, tail(d.logPath, 20))
	}
	fmt.Fprintf(out, "hrmd is ready after %.1f s (http://%s/readyz answers 200); its log: %s\n\n",
		time.Since(start).Seconds(), d.addr, d.logPath)
	return nil
}

// wait polls cond until it holds; hrmd exiting first (before what) or ctx
// ending (Ctrl-C, or the demo's time: not yet) ends it with an error.
func (d *demo) wait(ctx context.Context, before, notYet string, cond func() bool) error {
	var ok bool
	err := hrmdtest.WaitFor(before, d.o.timeout, func() bool {
		ok = cond()
		return ok || ctx.Err() != nil || !d.p.Running()
	})
	switch {
	case ok:
		return nil
	case ctx.Err() != nil:
		return stopped(ctx, notYet)
	case !d.p.Running():
		return fmt.Errorf("hrmd exited before %s (%v)", before, d.p.State())
	}
	return err
}

// kill ends hrmd if it still runs.
func (d *demo) kill() {
	if d.p.Running() {
		_ = d.p.Kill9()
	}
}

// show drops every file, reports what became of each, and lists the
// folders; problems are what the daemon did wrong.
func (d *demo) show(ctx context.Context, out io.Writer, drops []drop) (problems []string, err error) {
	for _, f := range drops {
		if err := hrmdtest.Drop(d.spool.Inbox, f.name, f.data); err != nil {
			return nil, fmt.Errorf("drop %s into the inbox: %w", f.name, err)
		}
		fmt.Fprintf(out, "dropped inbox/%-22s %s\n", f.name, f.note)
	}
	fmt.Fprintln(out)
	done, failed := d.spool.Done(), d.spool.Failed()
	for _, f := range drops {
		outcome, err := d.waitOutcome(ctx, f.name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w; the daemon's log is %s:\n%s", f.name, err, d.logPath, tail(d.logPath, 20))
		}
		if p := report(out, d.o.colour, f, outcome); p != "" {
			problems = append(problems, p)
		}
	}
	fmt.Fprintf(out, "where the files are (under %s):\n", d.root)
	for _, dir := range []string{d.spool.Outbox, done, failed, d.spool.Inbox} {
		names, err := listDir(dir)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", dir, err)
		}
		rel, _ := filepath.Rel(d.root, dir)
		fmt.Fprintf(out, "  %-14s %s\n", rel+"/", strings.Join(names, "  "))
	}
	return problems, nil
}

// stop sends SIGTERM and checks that hrmd stops cleanly.
func (d *demo) stop(out io.Writer) error {
	if err := d.p.Stop(15 * time.Second); err != nil {
		return fmt.Errorf("hrmd did not stop cleanly after SIGTERM: %w:\n%s", err, tail(d.logPath, 20))
	}
	fmt.Fprintf(out, "\nsent SIGTERM: hrmd stopped cleanly (exit 0). Remove the demo's files with: rm -r %s\n", d.root)
	return nil
}

// collect reads what the demo will drop, so a missing file stops it before the daemon starts.
func collect(o options) ([]drop, error) {
	names, err := filepath.Glob(filepath.Join(o.examples, "*.json"))
	if err != nil || len(names) == 0 {
		return nil, fmt.Errorf("no example puzzles in %s (want *.json)", o.examples)
	}
	slices.Sort(names)
	var drops []drop
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("read an example puzzle: %w", err)
		}
		drops = append(drops, drop{filepath.Base(n), data, "an example of the demo model's family"})
	}
	if o.arcTask != "" {
		data, err := os.ReadFile(o.arcTask)
		if err != nil {
			return nil, fmt.Errorf("the real ARC-AGI-1 task: %w (point -arc at one, or -arc \"\" to leave it out)", err)
		}
		drops = append(
			drops,
			drop{filepath.Base(o.arcTask), data, "a real ARC-AGI-1 task the demo model was not trained for"},
		)
	}
	drops = append(drops, drop{brokenName, []byte(brokenPuzzle), "a broken file (its second row is short)"})
	return drops, nil
}

// outcome is what became of one dropped file.
type outcome struct {
	answerPath string
	answer     *puzzles.AnswerFile
	errorPath  string
	failure    struct{ Code, Message string }
}

// waitOutcome waits until name has its answer (or error file) and has been
// moved out of work/ into done/ (or failed/): the daemon writes the answer
// first, so seeing only the answer would list the folders a moment too early.
func (d *demo) waitOutcome(ctx context.Context, name string) (outcome, error) {
	var o outcome
	var readErr error
	answer := filepath.Join(d.spool.Outbox, spool.AnswerName(name))
	errFile := filepath.Join(d.spool.Failed(), spool.ErrorName(name))
	err := d.wait(ctx, "answering", "no answer and no error file", func() bool {
		if data, err := os.ReadFile(answer); err == nil && exists(filepath.Join(d.spool.Done(), name)) {
			o.answerPath = answer
			o.answer = new(puzzles.AnswerFile)
			if err := json.Unmarshal(data, o.answer); err != nil {
				readErr = fmt.Errorf("read the answer %s: %w", answer, err)
			}
			return true
		}
		if data, err := os.ReadFile(errFile); err == nil && exists(filepath.Join(d.spool.Failed(), name)) {
			o.errorPath = errFile
			if err := json.Unmarshal(data, &o.failure); err != nil {
				readErr = fmt.Errorf("read the error file %s: %w", errFile, err)
			}
			return true
		}
		return false
	})
	if err == nil {
		err = readErr
	}
	return o, err
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// stopped says why ctx ended: the person pressed Ctrl-C, or the demo's time ran out.
func stopped(ctx context.Context, what string) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("interrupted (%s yet)", what)
	}
	return fmt.Errorf("%s within the demo's time (-timeout)", what)
}

// report prints one file's outcome and returns a problem when the daemon did
// something other than what the demo expects of it.
func report(out io.Writer, colour bool, d drop, o outcome) string {
	if o.errorPath != "" {
		fmt.Fprintf(
			out,
			"── %s → failed/%s\n   %s: %s\n\n",
			d.name,
			filepath.Base(o.errorPath),
			o.failure.Code,
			o.failure.Message,
		)
		if d.name != brokenName {
			return fmt.Sprintf("%s failed (%s) but should have been answered", d.name, o.failure.Code)
		}
		return ""
	}
	fmt.Fprintf(out, "── %s → outbox/%s", d.name, filepath.Base(o.answerPath))
	if dc := o.answer.DemoCheck; dc != nil {
		fmt.Fprintf(out, "  (the model solves %d of the task's %d demo pairs)", dc.Solved, dc.Pairs)
	}
	fmt.Fprintln(out)
	if d.name == brokenName {
		return "the broken file was answered instead of failed"
	}
	file, err := puzzles.Parse(d.data, d.name, puzzles.Limits{})
	if err != nil || len(file.Tasks) != 1 || len(file.Tasks[0].Test) != len(o.answer.Answers) {
		return fmt.Sprintf("%s: the answer file does not match the puzzle", d.name)
	}
	for i, a := range o.answer.Answers {
		test := file.Tasks[0].Test[i]
		flags := "none"
		if len(a.Flags) > 0 {
			flags = strings.Join(a.Flags, ", ")
		}
		fmt.Fprintf(
			out,
			"   test %d: %d cycles, halted by %s (halt %.2f), confidence %.2f, flags: %s; %.0f ms for the file\n",
			i+1,
			a.Cycles,
			a.HaltedBy,
			a.Halt,
			a.Confidence,
			flags,
			o.answer.Runtime.LatencyMS,
		)
		titles := []string{"input " + test.Input.Size(), "hrmd's answer " + a.Attempt1.Size()}
		grids := []puzzles.Grid{test.Input, a.Attempt1}
		if test.Output != nil {
			titles = append(titles, "known answer "+test.Output.Size())
			grids = append(grids, test.Output)
		}
		blocks := make([][]string, len(grids))
		widths := make([]int, len(grids))
		for j, g := range grids {
			blocks[j] = puzzles.TextLines(g, colour)
			widths[j] = g.Cols()
		}
		for _, line := range strings.Split(strings.TrimRight(puzzles.SideBySide(titles, blocks, widths, 4), "\n"), "\n") {
			fmt.Fprintf(out, "   %s\n", line)
		}
		fmt.Fprintf(out, "   %s\n", verdict(a.Attempt1, test.Output))
	}
	if dc := o.answer.DemoCheck; dc != nil && dc.Solved < dc.Pairs {
		fmt.Fprintf(out, "   ! the model fails %d of the task's %d demonstrations: whatever its halt signal says,\n"+
			"     it does not know this task, and its answer deserves no trust\n", dc.Pairs-dc.Solved, dc.Pairs)
	}
	fmt.Fprintln(out)
	return ""
}

func verdict(got, want puzzles.Grid) string {
	switch {
	case want == nil:
		return "? the puzzle carries no known answer to check against"
	case got.Equal(want):
		return "✓ EXACT: equals the known answer"
	case got.Rows() != want.Rows() || got.Cols() != want.Cols():
		return fmt.Sprintf("✗ WRONG: the answer is %s, the known answer %s", got.Size(), want.Size())
	}
	diff := 0
	for r := range want {
		for c := range want[r] {
			if got[r][c] != want[r][c] {
				diff++
			}
		}
	}
	return fmt.Sprintf("✗ WRONG: %d of %d cells differ from the known answer", diff, want.Rows()*want.Cols())
}

func listDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) == 0 {
		names = append(names, "(empty)")
	}
	return names, nil
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}
