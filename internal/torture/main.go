// Command torture is `./build.sh torture`: it runs the real hrmd through
// what breaks daemons in the field (kill -9 at random moments, several
// daemons on one spool, hostile inbox entries, a full disk, a SIGHUP storm,
// idle connections, a long stream of files) and holds it to the spool's
// invariants after each: every file dropped ends in exactly one of done/ or
// failed/, every file in done/ has exactly one answer, nothing is left in
// the inbox or work/, nothing anyone wrote is overwritten, /healthz answers
// throughout, and onnxruntime leaves no telemetry behind.
//
// Each scenario prints one summary line; the exit status is 1 when any
// scenario found a violation, and its folder is kept for a look.
// -short is the version `./build.sh test` runs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type options struct {
	hrmd, model, zeroModel, arcDir string
	fleetArc                       string // the 500 tasks the fleet scenario drops
	natsServer                     string // the nats-server binary ("" = none: the fleet scenario cannot run)
	dir                            string // where the run's folder goes ("" = the system's temporary folder)
	short                          bool
	requireRoot                    bool     // a scenario that needs root or a nats-server fails instead of being skipped
	only                           []string // scenarios to run (all when empty)
	seed                           int64
	keep                           bool // keep every scenario's folder, not only failed ones'
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "torture: %v\n", err)
		os.Exit(2)
	}
	// No signal handling: Ctrl-C ends the driver, and its daemons die with
	// it (Pdeathsig); the run's folder stays for a look.
	ok, err := runAll(o, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "torture: %v\n", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	var full bool
	var only string
	fs := flag.NewFlagSet("torture", flag.ContinueOnError)
	fs.StringVar(&o.hrmd, "hrmd", "bin/hrmd", "the hrmd binary")
	fs.StringVar(&o.model, "model", "engine/testdata/nova-tiny", "the model bundle")
	fs.StringVar(&o.zeroModel, "zero-model", "engine/testdata/nova-zero", "the second bundle the SIGHUP storm switches to")
	fs.StringVar(&o.arcDir, "arc", "testdata/arc/ARC-AGI-1", "the ARC-AGI-1 tasks (their training/ folder is dropped)")
	fs.StringVar(
		&o.fleetArc,
		"fleet-arc",
		"testdata/arc/fleet",
		"the ARC tasks of the fleet scenario (its training/ and evaluation/ folders)",
	)
	fs.StringVar(
		&o.natsServer,
		"nats-server",
		"",
		"the nats-server binary of the fleet scenario's cluster (./build.sh deps installs it in .cache/bin)",
	)
	fs.StringVar(&o.dir, "dir", "", "parent folder of the run's folder (default: the system's temporary folder)")
	fs.BoolVar(&o.short, "short", false, "the short version (./build.sh test)")
	fs.BoolVar(&full, "full", false, "the full version (the default)")
	fs.BoolVar(
		&o.requireRoot,
		"require-root",
		false,
		"fail, not skip, a scenario that cannot run here: it needs root, or -nats-server (CI)",
	)
	fs.StringVar(
		&only,
		"only",
		"",
		"comma-separated scenarios to run (default: all but fleet): "+strings.Join(scenarioNames(), ","),
	)
	fs.Int64Var(&o.seed, "seed", time.Now().UnixNano(), "seed of the random moments (printed, to replay a run)")
	fs.BoolVar(&o.keep, "keep", false, "keep every scenario's folder")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hrmd-torture [-short|-full] [-only NAMES] [flags]\n\nscenarios:\n")
		for _, sc := range scenarios() {
			fmt.Fprintf(fs.Output(), "  %-11s %s\n", sc.name, sc.about)
		}
		fmt.Fprintf(fs.Output(), "\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	if full && o.short {
		return o, errors.New("-short and -full: choose one")
	}
	if only != "" {
		o.only = strings.Split(only, ",")
		for _, n := range o.only {
			if !slices.Contains(scenarioNames(), n) {
				return o, fmt.Errorf("-only: no scenario %q (there are %s)", n, strings.Join(scenarioNames(), ", "))
			}
		}
	}
	for _, p := range []*string{&o.hrmd, &o.model, &o.zeroModel, &o.arcDir, &o.fleetArc, &o.natsServer} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return o, err
		}
		*p = abs
	}
	return o, nil
}

// runAll runs the chosen scenarios one after the other (they share the
// machine's cores), printing each one's summary line to out and what went
// wrong to errOut. It reports whether every scenario passed.
func runAll(o options, out, errOut io.Writer) (bool, error) {
	if _, err := os.Stat(o.hrmd); err != nil {
		return false, fmt.Errorf("%v (./build.sh build makes bin/hrmd)", err)
	}
	tasks, err := loadTasks(filepath.Join(o.arcDir, "training"))
	if err != nil {
		return false, err
	}
	root, err := os.MkdirTemp(o.dir, "hrmd-torture-")
	if err != nil {
		return false, err
	}
	mode := "full"
	if o.short {
		mode = "short"
	}
	fmt.Fprintf(errOut, "torture: %s version, seed %d, folders under %s\n", mode, o.seed, root)
	start, ok := time.Now(), true
	for i, sc := range scenarios() {
		if !sc.chosen(o.only) {
			continue
		}
		r := runScenario(o, root, tasks, sc, o.seed+int64(i))
		fmt.Fprintln(out, r.line())
		for _, p := range r.problems {
			fmt.Fprintf(errOut, "  %s: %s\n", sc.name, p)
		}
		ok = ok && r.passed()
	}
	verdict := "all passed"
	if !ok {
		verdict = "FAILED (the failed scenarios' folders and daemon logs are kept under " + root + ")"
	} else if !o.keep {
		os.RemoveAll(root)
	}
	fmt.Fprintf(out, "torture (%s): %s in %.1f s\n", mode, verdict, time.Since(start).Seconds())
	return ok, nil
}
