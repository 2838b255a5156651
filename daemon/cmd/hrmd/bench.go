package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/jetson"
	"github.com/hrmd/hrmd/puzzles"
)

// benchSeed seeds the generated grids: every run of hrmd bench, on every
// machine, feeds the model the same inputs.
const benchSeed = 13

// benchInputs says in the report what the model was fed.
const benchInputs = "generated grids (seed 13): sizes 3x3 to the model's grid, about a fifth of the cells coloured 1-9"

// benchMaxBatch bounds --batch as inference.max_batch bounds a batch.
const benchMaxBatch = 256

// benchOptions are hrmd bench's command line, checked.
type benchOptions struct {
	cfg     config.Config
	sysroot string
	batches []int // ascending, no repeats
	cycles  int   // 0 = the manifest's max_cycles
	runs    int
	json    bool
	verbose bool
}

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseBenchFlags(args)
	if err != nil {
		return err
	}
	log := cliLogger(stderr, o.verbose)
	// Loaded for the largest batch on every provider, the CPU included:
	// the point is to measure each batch, whatever max_batch would pick.
	largest := o.batches[len(o.batches)-1]
	om, err := openModel(o.cfg, engine.ModelOptions{MaxBatch: largest, CPUMaxBatch: largest}, o.sysroot, log)
	if err != nil {
		return err
	}
	defer om.Close()
	if got := om.model.MaxBatch(); got < largest {
		return fmt.Errorf("the model was loaded for batches of %d, not %d: --batch cannot be measured", got, largest)
	}
	b := &bench{om: om, opts: o, fs: jetson.NewFS(o.sysroot), stderr: stderr}
	b.bar = newProgressBar(stderr, o.runs*len(o.batches), "runs")
	rep, err := b.run(ctx)
	b.bar.clear()
	if err != nil {
		return err
	}
	if o.json {
		return writeBenchJSON(stdout, rep)
	}
	printBench(stdout, rep)
	return nil
}

// benchFlags are bench's command line as parsed, before parseBenchFlags
// checks it.
type benchFlags struct {
	loadFlags
	batch        *string
	cycles, runs *int
	json         *bool
}

func newBenchFlags() (*flag.FlagSet, benchFlags) {
	fl := newFlagSet("bench")
	return fl, benchFlags{
		loadFlags: addLoadFlags(fl, "the onnxruntime and tensorrt settings"),
		batch:     fl.String("batch", "1,2,4", "the batch `SIZES` to measure, separated by commas"),
		cycles:    fl.Int("cycles", 0, "`N` reasoning cycles every row runs (default: the manifest's max_cycles)"),
		runs:      fl.Int("runs", 20, "`N` timed runs of each batch size"),
		json:      fl.Bool("json", false, "print one JSON document instead of the table"),
	}
}

// parseBenchFlags reads the command line; every message names its flag.
func parseBenchFlags(args []string) (benchOptions, error) {
	fl, f := newBenchFlags()
	if err := parseNoArgs(fl, args, "bench"); err != nil {
		return benchOptions{}, err
	}
	o := benchOptions{sysroot: *f.sysroot, cycles: *f.cycles, runs: *f.runs, json: *f.json, verbose: *f.verbose}
	var err error
	if o.batches, err = parseBatches(*f.batch); err != nil {
		return o, err
	}
	if o.runs < 1 {
		return o, usageError("bench: --runs is %d; use 1 or more timed runs of each batch size", o.runs)
	}
	if err := (engine.RunOptions{Halting: engine.HaltFixed, MaxCycles: o.cycles}).Validate(); err != nil {
		return o, usageError("bench: --cycles %d: %v", o.cycles, err)
	}
	o.cfg, err = cliConfig("bench", *f.configPath, *f.model)
	return o, err
}

// parseBatches reads --batch: sizes 1 to 256, separated by commas; they are
// measured smallest first, each once.
func parseBatches(s string) ([]int, error) {
	var out []int
	for field := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 1 || n > benchMaxBatch {
			return nil, usageError(
				"bench: --batch %q: %q is not a batch size; use sizes 1 to %d separated by commas (1,2,4)",
				s,
				field,
				benchMaxBatch,
			)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// benchGrids are n grids that fit side, the same on every run: ARC-like
// sizes and mostly black cells, so that the encoding's end-of-row and
// padding tokens are there as in real tasks. The model runs a whole
// side x side grid whatever the size, so the sizes do not change the time.
func benchGrids(n, side int) []puzzles.Grid {
	r := rand.New(rand.NewPCG(benchSeed, benchSeed))
	grids := make([]puzzles.Grid, n)
	lo := min(3, side)
	for i := range grids {
		g := puzzles.NewGrid(lo+r.IntN(side-lo+1), lo+r.IntN(side-lo+1))
		for _, row := range g {
			for c := range row {
				if r.IntN(5) == 0 {
					row[c] = 1 + r.IntN(9)
				}
			}
		}
		grids[i] = g
	}
	return grids
}

// bench measures one loaded model.
type bench struct {
	om     *openedModel
	opts   benchOptions
	fs     jetson.FS
	stderr io.Writer    // the progress lines, in a pipe too: a full model's bench takes minutes
	bar    *progressBar // nil unless stderr is a terminal
	done   int          // timed runs so far, for the bar
}

// say prints a progress line on stderr (above the bar, on a terminal).
func (b *bench) say(format string, args ...any) {
	b.bar.clear()
	fmt.Fprintf(b.stderr, "bench: "+format+"\n", args...)
	b.bar.show(b.done)
}

// run warms the model up, times every batch size and reads the device
// around it.
func (b *bench) run(ctx context.Context) (*benchReport, error) {
	rep := b.header()
	rows := b.rows()
	run := engine.RunOptions{Halting: engine.HaltFixed, MaxCycles: rep.Cycles}
	if b.om.device.Jetson {
		rep.Jetson = &benchJetson{Before: b.readDevice()}
	}
	// One untimed run of each size: the first run of a shape pays for
	// onnxruntime's set-up (and TensorRT's, for a profile not built yet).
	started := time.Now()
	for _, n := range b.opts.batches {
		if _, err := b.om.model.Run(ctx, rows[:n], run); err != nil {
			return nil, fmt.Errorf("warm-up, batch %d: %w", n, err)
		}
	}
	rep.WarmupMS = ms(time.Since(started))
	b.say("loaded in %.0f ms, warmed up in %.0f ms; %d timed runs of each batch size, %d cycles every row",
		rep.LoadMS, rep.WarmupMS, b.opts.runs, rep.Cycles)
	for _, n := range b.opts.batches {
		res, err := b.measure(ctx, rows[:n], run)
		if err != nil {
			return nil, fmt.Errorf("batch %d: %w", n, err)
		}
		s := res.summary(n, rep.Model.FLOPsPerCycle)
		rep.Batches = append(rep.Batches, s)
		b.say("batch %d: %d runs in %.1f s, %.1f ms a batch (p50)", n, s.Runs, s.Seconds, s.BatchMSP50)
	}
	if rep.Jetson != nil {
		rep.Jetson.After = b.readDevice()
	}
	if rss, err := peakRSS("/proc/self/status"); err == nil {
		rep.PeakRSSBytes = &rss
	} else {
		b.om.log.Warn("cannot read the peak resident memory: " + err.Error())
	}
	return rep, nil
}

// header is the report's part that the load decided.
func (b *bench) header() *benchReport {
	m := b.om.model
	bd := m.Bundle()
	rep := &benchReport{
		HRMDVersion: version, ONNXRuntime: b.om.rt.Version(),
		Model:  benchModel{Name: bd.Manifest.Name, Family: bd.Manifest.Family, SHA256: bd.SHA256, Path: b.opts.cfg.Model},
		Device: b.om.device.String(), Provider: m.Provider(), Precision: m.Precision(),
		MaxBatch: m.MaxBatch(), Threads: b.opts.cfg.ONNXRuntime.Threads, LoadMS: ms(b.om.took),
		Cycles: b.opts.cycles, Runs: b.opts.runs, Inputs: benchInputs,
	}
	if rep.Cycles == 0 {
		rep.Cycles = bd.Manifest.Halting.MaxCycles
	}
	if flops, ok := bd.FLOPsPerCycle(); ok {
		rep.Model.FLOPsPerCycle = &flops
	}
	if c := m.EngineCache(); c.Dir != "" {
		rep.EngineCache = &benchEngineCache{
			Dir:        c.Dir,
			Found:      c.Found,
			Built:      c.Built,
			BuildMS:    ms(c.BuildTook),
			TunedBatch: m.TunedBatch(),
			Check:      c.Check,
			Rejected:   c.Rejected,
		}
	}
	return rep
}

// rows encodes the largest batch's grids; a smaller batch takes the first.
func (b *bench) rows() [][]int64 {
	bd := b.om.model.Bundle()
	side := bd.Manifest.Grid
	n := b.opts.batches[len(b.opts.batches)-1]
	grids := bd.Encoding.SampleGrids(n, benchSeed) // a Sudoku or a maze model's own puzzles
	if grids == nil {
		grids = benchGrids(n, side)
	}
	rows := make([][]int64, len(grids))
	for i, g := range grids {
		rows[i] = make([]int64, side*side)
		bd.Encoding.Encode(g, side, rows[i])
	}
	return rows
}

// batchRuns are the timed runs of one batch size.
type batchRuns struct {
	took   []time.Duration
	cycles int // over every row of every run
}

func (b *bench) measure(ctx context.Context, rows [][]int64, run engine.RunOptions) (batchRuns, error) {
	var br batchRuns
	for range b.opts.runs {
		started := time.Now()
		res, err := b.om.model.Run(ctx, rows, run)
		if err != nil {
			return br, err
		}
		br.took = append(br.took, time.Since(started))
		for _, r := range res {
			br.cycles += r.Cycles
		}
		b.done++
		b.bar.show(b.done)
	}
	return br, nil
}

// summary turns the runs of batch size n into the report's line; flops is
// the model's arithmetic per row and cycle, nil when unknown.
func (br batchRuns) summary(n int, flops *float64) benchBatch {
	sorted := slices.Clone(br.took)
	slices.Sort(sorted)
	var total time.Duration
	for _, d := range sorted {
		total += d
	}
	rows := n * len(sorted)
	s := benchBatch{
		Batch: n, Runs: len(sorted), Rows: rows, CyclesRun: br.cycles, Seconds: total.Seconds(),
		BatchMSP50: ms(percentile(sorted, 50)), BatchMSP95: ms(percentile(sorted, 95)),
		RowsPerS: float64(rows) / total.Seconds(),
	}
	s.RowMSP50, s.RowMSP95 = s.BatchMSP50/float64(n), s.BatchMSP95/float64(n)
	if flops != nil {
		g := *flops * float64(br.cycles) / total.Seconds() / 1e9
		s.GFLOPPerS = &g
	}
	return s
}

// percentile is the nearest-rank percentile p of sorted (ascending).
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := int(math.Ceil(float64(p) / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// readDevice reads a Jetson's temperatures and GPU load. A sensor that
// cannot be read is logged and left out: the figures still stand.
func (b *bench) readDevice() benchDeviceReading {
	var r benchDeviceReading
	zones, err := b.fs.Thermals()
	if err != nil {
		b.om.log.Warn("cannot read every thermal zone: " + err.Error())
	}
	for _, z := range zones {
		r.Thermal = append(r.Thermal, benchZone{Zone: z.Zone, Type: z.Type, Celsius: z.Celsius})
	}
	switch load, ok, err := b.fs.GPULoad(); {
	case err != nil:
		b.om.log.Warn("cannot read the GPU load: " + err.Error())
	case ok:
		r.GPULoad = &load
	}
	return r
}

// peakRSS is the process's peak resident memory in bytes (VmHWM in
// /proc/self/status): the most the model took, warm-up included.
func peakRSS(status string) (int64, error) {
	data, err := os.ReadFile(status)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		value, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: VmHWM %q: %w", status, value, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("%s has no VmHWM line", status)
}

func writeBenchJSON(w io.Writer, rep *benchReport) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("bench report: %w", err)
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// benchReport is hrmd bench --json (docs/commands.md names every field).
// Fields are never left out: what is unknown is null, so scripts find
// every key.
type benchReport struct {
	HRMDVersion string            `json:"hrmd_version"`
	ONNXRuntime string            `json:"onnxruntime_version"`
	Model       benchModel        `json:"model"`
	Device      string            `json:"device"`
	Provider    string            `json:"provider"`
	Precision   string            `json:"precision"`
	MaxBatch    int               `json:"max_batch"` // the largest batch the model was loaded for
	Threads     int               `json:"threads"`   // onnxruntime.threads; 0 = one per core
	LoadMS      float64           `json:"load_ms"`
	WarmupMS    float64           `json:"warmup_ms"`
	EngineCache *benchEngineCache `json:"engine_cache"` // nil unless TensorRT runs the model
	Cycles      int               `json:"cycles"`       // every row runs this many
	Runs        int               `json:"runs"`         // timed runs of each batch size
	Inputs      string            `json:"inputs"`
	Batches     []benchBatch      `json:"batches"`
	// PeakRSSBytes is VmHWM after the last run; nil where /proc cannot tell.
	PeakRSSBytes *int64       `json:"peak_rss_bytes"`
	Jetson       *benchJetson `json:"jetson"` // nil when not a Jetson
}

type benchModel struct {
	Name          string   `json:"name"`
	Family        string   `json:"family"`
	SHA256        string   `json:"sha256"`
	Path          string   `json:"path"`
	FLOPsPerCycle *float64 `json:"flops_per_cycle"` // one row, one cycle; nil when the manifest cannot tell
}

type benchEngineCache struct {
	Dir     string  `json:"dir"`
	Found   bool    `json:"found"`
	Built   bool    `json:"built"`
	BuildMS float64 `json:"build_ms"`
	// TunedBatch is the batch the engine's profile is tuned for (its opt
	// shapes): the largest --batch. It takes 1 to that, but a smaller batch
	// runs on kernels TensorRT chose for this one.
	TunedBatch int `json:"tuned_batch"`
	// Check is the engine's fp16 check against the bundle's reference (nil:
	// not checked); Rejected an fp16 engine's failed one, when fp32 replaced it.
	Check    *engine.PrecisionCheck `json:"check"`
	Rejected *engine.PrecisionCheck `json:"rejected"`
}

type benchBatch struct {
	Batch      int      `json:"batch"`
	Runs       int      `json:"runs"`
	Rows       int      `json:"rows"`
	CyclesRun  int      `json:"cycles_run"`
	Seconds    float64  `json:"seconds"`
	BatchMSP50 float64  `json:"batch_ms_p50"`
	BatchMSP95 float64  `json:"batch_ms_p95"`
	RowMSP50   float64  `json:"row_ms_p50"`
	RowMSP95   float64  `json:"row_ms_p95"`
	RowsPerS   float64  `json:"rows_per_s"`
	GFLOPPerS  *float64 `json:"gflop_per_s"`
}

type benchJetson struct {
	Before benchDeviceReading `json:"before"`
	After  benchDeviceReading `json:"after"`
}

type benchDeviceReading struct {
	Thermal []benchZone `json:"thermal"`
	GPULoad *float64    `json:"gpu_load"` // 0..1; nil when the driver publishes none
}

type benchZone struct {
	Zone    string  `json:"zone"`
	Type    string  `json:"type"`
	Celsius float64 `json:"celsius"`
}

// printBench prints the report for a person: what ran, then one line per
// batch size.
func printBench(w io.Writer, rep *benchReport) {
	m := rep.Model
	fmt.Fprintf(w, "model    %s (%s, sha256 %.12s) at %s\n", m.Name, m.Family, m.SHA256, m.Path)
	fmt.Fprintf(
		w,
		"runtime  %s, %s, onnxruntime %s, %s; hrmd %s\n",
		rep.Provider,
		rep.Precision,
		rep.ONNXRuntime,
		threads(rep.Threads),
		rep.HRMDVersion,
	)
	fmt.Fprintf(w, "device   %s\n", rep.Device)
	fmt.Fprintf(w, "load     %.0f ms, warm-up %.0f ms; %s\n", rep.LoadMS, rep.WarmupMS, engineLine(rep.EngineCache))
	fmt.Fprintf(
		w,
		"runs     %d a batch size, %d cycles every row (halting fixed), %s\n\n",
		rep.Runs,
		rep.Cycles,
		rep.Inputs,
	)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "batch\tbatch p50\tbatch p95\trow p50\trow p95\trows/s\tGFLOP/s\tcycles run")
	for _, b := range rep.Batches {
		gflops := "-"
		if b.GFLOPPerS != nil {
			gflops = fmt.Sprintf("%.1f", *b.GFLOPPerS)
		}
		fmt.Fprintf(tw, "%d\t%.1f ms\t%.1f ms\t%.1f ms\t%.1f ms\t%.1f\t%s\t%d\n", b.Batch, b.BatchMSP50, b.BatchMSP95,
			b.RowMSP50, b.RowMSP95, b.RowsPerS, gflops, b.CyclesRun)
	}
	tw.Flush()
	if line := tunedLine(rep); line != "" {
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
	if rep.PeakRSSBytes != nil {
		fmt.Fprintf(w, "peak RSS %.1f MiB (VmHWM)\n", float64(*rep.PeakRSSBytes)/(1<<20))
	}
	if rep.Jetson == nil {
		fmt.Fprintln(w, "jetson   not a Jetson: no temperatures or GPU load")
		return
	}
	fmt.Fprintf(w, "before   %s\n", readingLine(rep.Jetson.Before))
	fmt.Fprintf(w, "after    %s\n", readingLine(rep.Jetson.After))
}

func threads(n int) string {
	if n == 0 {
		return "a thread per core"
	}
	return fmt.Sprintf("%d threads", n)
}

func engineLine(c *benchEngineCache) string {
	line := engineSource(c)
	if c != nil && c.Rejected != nil {
		line += "; " + c.Rejected.Summary() + ", replaced by fp32"
	}
	if c != nil && c.Check != nil {
		line += "; " + c.Check.Summary()
	}
	return line
}

// tunedLine says which batch the TensorRT engine is tuned for and which
// batches measured ran on kernels chosen for another; "" without an engine.
func tunedLine(rep *benchReport) string {
	c := rep.EngineCache
	if c == nil || c.TunedBatch == 0 {
		return ""
	}
	var others []string
	for _, b := range rep.Batches {
		if b.Batch != c.TunedBatch {
			others = append(others, strconv.Itoa(b.Batch))
		}
	}
	line := fmt.Sprintf(
		"tuned    the TensorRT engine's profile is tuned for batch %d (it takes 1 to %d)",
		c.TunedBatch,
		rep.MaxBatch,
	)
	if len(others) == 0 {
		return line
	}
	noun := "batch"
	if len(others) > 1 {
		noun = "batches"
	}
	return fmt.Sprintf(
		"%s: %s %s ran on kernels chosen for %d; --batch N alone measures N on an engine tuned for it (another build)",
		line,
		noun,
		strings.Join(others, ", "),
		c.TunedBatch,
	)
}

func engineSource(c *benchEngineCache) string {
	switch {
	case c == nil:
		return "no TensorRT engine (the provider is not TensorRT)"
	case c.Built && c.BuildMS > 0:
		return fmt.Sprintf("TensorRT engine built in %.1f s into %s", c.BuildMS/1000, c.Dir)
	case c.Built || !c.Found:
		return "TensorRT engine built during the load (none was cached) into " + c.Dir
	}
	return "TensorRT engine loaded from " + c.Dir
}

func readingLine(r benchDeviceReading) string {
	var parts []string
	for _, z := range r.Thermal {
		parts = append(parts, fmt.Sprintf("%s %.1f °C", z.Type, z.Celsius))
	}
	if r.GPULoad != nil {
		parts = append(parts, fmt.Sprintf("GPU load %.0f%%", *r.GPULoad*100))
	} else {
		parts = append(parts, "GPU load unknown")
	}
	return strings.Join(parts, ", ")
}
