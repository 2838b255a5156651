package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/internal/errcode"
	"github.com/hrmd/hrmd/jetson"
)

// codeDoctor is the error code of a doctor run that found something blocking.
const codeDoctor = errcode.DoctorFoundProblems

// Check outcomes, from fine to blocking, as --json writes them.
const (
	checkOK   = "ok"
	checkInfo = "info"
	checkWarn = "warn"
	checkFail = "fail" // hrmd cannot run (or cannot run as configured)
	checkSkip = "skip" // the check does not apply here; the report leaves it out
)

// check is one named look at something `hrmd run` needs. Checks run in
// order, and a later one may use what an earlier one found (the device,
// the library, the model) through the doctor. Each reports its findings
// with d.add, or says with d.skip why it does not apply.
type check struct {
	name string
	run  func()
}

// result is one finding of a check: a line of the report, an element of
// --json's results.
type result struct {
	Check   string `json:"check"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"` // what to do; empty when nothing is to be done
}

// doctor checks, for one configuration, everything `hrmd run` needs, and
// says how to fix what is wrong. Everything is read below sysroot.
type doctor struct {
	cfg     config.Config
	sysroot string
	opts    doctorOptions
	// configFile is the config the checks read, "" for none (the
	// defaults): the fixes name it.
	configFile string
	results    []result
	current    string // the check running

	// What the checks found, for the checks after them.
	device jetson.Device
	rt     *engine.Runtime // nil when the library does not load
	engine engine.Config   // the configuration's engine part, on this device
	bundle *bundle.Bundle  // nil when the model does not load
}

// doctorOptions are the doctor's flags.
type doctorOptions struct {
	place    placeFlags // --config, --home, --model, as run takes them
	deep     bool
	verify   bool
	json     bool
	args     []string  // as given, for the commands the doctor suggests
	progress io.Writer // where --deep says what takes minutes
}

func (d *doctor) add(status, what, fix string) {
	d.results = append(d.results, result{Check: d.current, Status: status, Message: what, Fix: fix})
}

// skip says why the running check does not apply.
func (d *doctor) skip(why string) { d.add(checkSkip, why, "") }

// doctorFlags are the doctor's command line.
type doctorFlags struct {
	place                placeFlags
	sysroot              *string
	deep, verify, asJSON *bool
}

func newDoctorFlags() (*flag.FlagSet, doctorFlags) {
	fl := newFlagSet("doctor")
	return fl, doctorFlags{
		place: addPlaceFlags(fl, "the hrmd.yaml `FILE` to check (default "+defaultConfig+" when it exists, else "+
			"the defaults; with --home, none)"),
		sysroot: fl.String("sysroot", "/", "read the device's /proc, /sys, /etc and /dev below this `DIR`"),
		deep: fl.Bool("deep", false, "also load the model with the configured providers (a TensorRT build on a "+
			"first run) and run one step"),
		verify: fl.Bool("verify", false, "also read the model's puzzle table (act-v1) through to check its sha256, "+
			"whatever its stamp says"),
		asJSON: fl.Bool("json", false, "print the results as JSON (docs/commands.md, hrmd doctor --json)"),
	}
}

func cmdDoctor(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fl, f := newDoctorFlags()
	if err := parseNoArgs(fl, args, "doctor"); err != nil {
		return err
	}
	d := &doctor{cfg: config.Default(), sysroot: *f.sysroot, opts: doctorOptions{
		place: f.place, deep: *f.deep, verify: *f.verify, json: *f.asJSON, args: args, progress: stderr,
	}}
	log := cliLogger(stderr, false)
	defer log.Sync()
	d.run(check{"config", d.checkConfig})
	for _, c := range d.checks(log) {
		d.run(c)
	}
	if d.rt != nil {
		d.rt.Close()
	}
	return d.verdict(stdout)
}

// run runs one check; one that reports nothing is skipped.
func (d *doctor) run(c check) {
	d.current = c.name
	before := len(d.results)
	c.run()
	if len(d.results) == before {
		d.skip("nothing to check with this configuration")
	}
}

// checks are the checks after the config's, for the configuration it read.
func (d *doctor) checks(log *zap.Logger) []check {
	first := []check{{"user", d.checkUser}, {"device", d.checkDevice}, {"queue", d.checkQueue}}
	spool := []check{{"folder", d.checkFolders}, {"sandbox", d.checkSandbox}, {"inotify", d.checkInotify}}
	if d.cfg.Queue.Role == config.RoleGateway {
		return slices.Concat(first, []check{{"model", d.gatewayModel}}, spool)
	}
	library := []check{
		{"library", func() { d.checkLibrary(log) }}, {"provider", d.checkProviders},
		{"gpu library", d.checkGPULibraries}, {"gpu devices", d.checkGPUNodes},
	}
	model := []check{
		{"model", d.checkModel}, {"puzzle table", d.checkPuzzleTable}, {"engine cache", d.checkEngineCache},
		{"deep", d.checkDeep}, {"input probe", d.checkInputInvariance},
	}
	return slices.Concat(first, library, spool, model)
}

// verdict prints the report, and is an error when something blocks running.
func (d *doctor) verdict(stdout io.Writer) error {
	failures := d.failures()
	if d.opts.json {
		if err := d.writeJSON(stdout, failures); err != nil {
			return err
		}
	} else {
		d.report(stdout, failures)
	}
	if failures > 0 {
		return &answer.Error{
			Code:    codeDoctor,
			Message: fmt.Sprintf("%d problem(s) above keep hrmd from running as configured", failures),
		}
	}
	return nil
}

func (d *doctor) failures() int {
	n := 0
	for _, r := range d.results {
		if r.Status == checkFail {
			n++
		}
	}
	return n
}

// report prints the findings, skipped checks left out.
func (d *doctor) report(w io.Writer, failures int) {
	for _, r := range d.results {
		if r.Status == checkSkip {
			continue
		}
		label := r.Status
		if label == checkFail {
			label = "FAIL"
		}
		fmt.Fprintf(w, "%-4s  %-12s %s\n", label, r.Check, r.Message)
		if r.Fix != "" {
			fmt.Fprintf(w, "      %-12s fix: %s\n", "", r.Fix)
		}
	}
	switch failures {
	case 0:
		fmt.Fprintln(w, "hrmd can run with this configuration.")
	default:
		fmt.Fprintf(w, "%d problem(s) keep hrmd from running; fix the FAIL lines above.\n", failures)
	}
}

// doctorReport is what --json prints (docs/commands.md).
type doctorReport struct {
	CanRun   bool     `json:"can_run"`
	Failures int      `json:"failures"`
	Results  []result `json:"results"`
}

func (d *doctor) writeJSON(w io.Writer, failures int) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doctorReport{CanRun: failures == 0, Failures: failures, Results: d.results})
}
