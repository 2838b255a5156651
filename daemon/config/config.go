// Package config is hrmd.yaml: its keys and defaults, reading it strictly
// and checking every value, and what each part of hrmd takes from it (the
// engine's settings, the limits on a task file, the spool's folders). The
// service (package daemon) and the one-shot commands (solve, eval, bench,
// doctor) read it through here, so that reading a config pulls in neither
// the queue client nor the service's watchers and metrics.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/spool"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/internal/errcode"
	"github.com/hrmd/hrmd/puzzles"
)

// CodeInvalid is the stable code of an hrmd.yaml that is missing,
// unreadable or wrong (as answer.Error).
const CodeInvalid = errcode.ConfigInvalid

// Config is hrmd.yaml (docs/service.md, The config). Every key has a default; a file names
// only what differs, and an unknown key is an error.
type Config struct {
	Inbox       string      `yaml:"inbox"`
	Outbox      string      `yaml:"outbox"`
	Spool       string      `yaml:"spool"`
	Model       string      `yaml:"model"`
	ONNXRuntime ONNXRuntime `yaml:"onnxruntime"`
	TensorRT    TensorRT    `yaml:"tensorrt"`
	Inference   Inference   `yaml:"inference"`
	Watch       Watch       `yaml:"watch"`
	Log         Log         `yaml:"log"`
	HTTP        HTTP        `yaml:"http"`
	Thermal     Thermal     `yaml:"thermal"`
	Answers     Answers     `yaml:"answers"`
	Queue       Queue       `yaml:"queue"`

	// older are the keys of an older hrmd the file used (Deprecated).
	older []olderUse
}

// Answers is the `answers:` section: what goes into the outbox beside
// the answers themselves.
type Answers struct {
	Trace string `yaml:"trace"` // "" (none), summary, full or raw: a per-cycle trace in each answer
	PNG   bool   `yaml:"png"`   // also outbox/<name>.png: inputs, answers, known outputs, full-trace cycles
}

// Thermal is the `thermal:` section: back-pressure on a hot device.
type Thermal struct {
	PauseC  float64  `yaml:"pause_c"`          // take no new files at or above this (°C, hottest watched zone); 0 = off
	ResumeC float64  `yaml:"resume_c"`         // take files again at or below this
	Zones   []string `yaml:"zones"`            // zone types watched (prefix, any case); empty = all
	Poll    Duration `yaml:"poll"`             // between readings
	PollS   *int     `yaml:"poll_s,omitempty"` // the older poll, in seconds (olderKeys)
}

// ONNXRuntime is the `onnxruntime:` section.
type ONNXRuntime struct {
	Library   string   `yaml:"library"`   // "" = $HRMD_ORT_LIB, then the usual places
	Providers []string `yaml:"providers"` // tried in order; the first that loads wins
	Require   string   `yaml:"require"`   // refuse to start rather than fall back
	Threads   int      `yaml:"threads"`   // intra-op threads; 0 = one per core
}

// TensorRT is the `tensorrt:` section.
type TensorRT struct {
	// Precision is the engine's: fp16, bf16 or fp32.
	Precision string `yaml:"precision"`
	// FP16 is the key before precision: false meant fp32. Still read, so
	// that a config written for an older hrmd loads; precision wins, and
	// the two may not disagree. Not in the shipped file (omitempty marks a
	// key kept only for older configs).
	FP16                     *bool  `yaml:"fp16,omitempty"`
	EngineCache              string `yaml:"engine_cache"`
	WorkspaceMB              int    `yaml:"workspace_mb"`
	BuilderOptimizationLevel int    `yaml:"builder_optimization_level"`
	// FP16Check is what an engine that fails the bundle's check set leads
	// to: fallback (build again in fp32), refuse, or off.
	FP16Check string `yaml:"fp16_check"`
	// MaxBuild caps how long a start asks systemd to wait for the model
	// (EXTEND_TIMEOUT_USEC): a TensorRT build that hangs is then stopped by
	// systemd instead of holding the service in "activating" for ever.
	MaxBuild  Duration `yaml:"max_build"`
	MaxBuildS *int     `yaml:"max_build_s,omitempty"` // the older max_build, in seconds (olderKeys)
}

// Inference is the `inference:` section.
type Inference struct {
	// MaxBatch is the rows run together in one batch: auto (1 on the CPU
	// provider, GPUBatch on TensorRT or CUDA) or a number for every provider.
	MaxBatch      MaxBatch `yaml:"max_batch"`
	GPUBatch      int      `yaml:"gpu_batch"`     // rows a batch on TensorRT or CUDA, with max_batch auto
	Halting       string   `yaml:"halting"`       // model | converged | fixed
	MaxCycles     int      `yaml:"max_cycles"`    // 0 = the manifest's
	DemoCheck     bool     `yaml:"demo_check"`    // also run the demo inputs and count exact matches
	Augmentations int      `yaml:"augmentations"` // test-time augmentation variants; 0 = off
	// InputInvariant is what to do with a model whose predictions do not
	// depend on its input (the probe at load): warn (flag every answer),
	// refuse, or off (no probe).
	InputInvariant string `yaml:"input_invariant"`
}

// Watch is the `watch:` section, with the limits on what one file may hold
// (puzzles.Limits, answer.Options.MaxRows): hrmd solve and eval read them too.
type Watch struct {
	Settle        Duration `yaml:"settle"` // a file is taken once unchanged this long
	Rescan        Duration `yaml:"rescan"` // a full scan of the inbox besides inotify; 0 = off
	MaxFileBytes  int64    `yaml:"max_file_bytes"`
	MaxTasks      int      `yaml:"max_tasks"`       // tasks in a multi-task file
	MaxTrainPairs int      `yaml:"max_train_pairs"` // demonstration pairs a task
	MaxTestInputs int      `yaml:"max_test_inputs"` // test inputs a task
	// MaxRows is the rows through the model a file: test inputs with their
	// variants, and the demo check's.
	MaxRows int `yaml:"max_rows"`
	// The older settle and rescan, in milliseconds and seconds (olderKeys).
	SettleMS *int `yaml:"settle_ms,omitempty"`
	RescanS  *int `yaml:"rescan_s,omitempty"`
}

// Log is the `log:` section.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // auto | json | console
}

// HTTP is the `http:` section.
type HTTP struct {
	Listen string `yaml:"listen"` // "" = off
}

// Default is the configuration with nothing set: what works on a Jetson
// with the systemd unit as shipped.
func Default() Config {
	e := engine.DefaultConfig()
	return Config{
		Inbox:  "/var/lib/hrmd/inbox",
		Outbox: "/var/lib/hrmd/outbox",
		Spool:  "/var/lib/hrmd",
		Model:  "/usr/share/hrmd/models/default",
		ONNXRuntime: ONNXRuntime{
			Providers: e.Providers,
		},
		TensorRT: TensorRT{
			Precision:                e.TensorRT.Precision,
			EngineCache:              e.TensorRT.EngineCache,
			WorkspaceMB:              e.TensorRT.WorkspaceMB,
			BuilderOptimizationLevel: e.TensorRT.BuilderOptimizationLevel,
			FP16Check:                e.TensorRT.FP16Check,
			// A first build of the largest HRM on an Orin Nano takes minutes;
			// an hour is far beyond any that is still making progress.
			MaxBuild: Duration(time.Hour),
		},
		Inference: Inference{
			MaxBatch:       MaxBatchAuto,
			GPUBatch:       4,
			Halting:        engine.HaltModel,
			DemoCheck:      true,
			InputInvariant: "warn",
		},
		Watch: Watch{Settle: Duration(250 * time.Millisecond), Rescan: Duration(10 * time.Second),
			MaxFileBytes: puzzles.DefaultMaxBytes, MaxTasks: puzzles.DefaultMaxTasks,
			MaxTrainPairs: puzzles.DefaultMaxTrainPairs, MaxTestInputs: puzzles.DefaultMaxTestInputs,
			MaxRows: answer.DefaultMaxRows},
		Log:  Log{Level: "info", Format: "auto"},
		HTTP: HTTP{Listen: "127.0.0.1:9464"},
		// Jetsons throttle their clocks near 99 °C; pausing below that keeps
		// answers coming at full speed once it has cooled. PMIC-Die (a fixed
		// 100 °C on Xavier and Nano) and the fan estimate are not watched.
		Thermal: Thermal{PauseC: 90, ResumeC: 80, Zones: []string{"cpu", "gpu", "soc", "tj"},
			Poll: Duration(5 * time.Second)},
		Queue: defaultQueue(),
	}
}

// Load reads path over the defaults and validates the result. A file
// with no settings at all means every default.
func Load(path string) (Config, error) { return load(path, true) }

// Reload is Load for a SIGHUP, which refuses a file with no settings: more
// likely one caught while an editor saves it than a wish to go back to
// every default (write {} for that).
func Reload(path string) (Config, error) { return load(path, false) }

func load(path string, emptyIsDefault bool) (Config, error) {
	cfg := Default()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, &answer.Error{
			Code: CodeInvalid,
			Message: fmt.Sprintf("read %s: %v (pass --config FILE; systemd/hrmd.yaml is the template)",
				path, errcode.PathCause(err)),
			Err: err,
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err = dec.Decode(&cfg)
	switch {
	case errors.Is(err, io.EOF) && !emptyIsDefault:
		return cfg, &answer.Error{Code: CodeInvalid, Err: err, Message: fmt.Sprintf(
			"%s holds no settings (caught while being saved?); save it whole, or write {} for every default", path)}
	case err != nil && !errors.Is(err, io.EOF): // EOF: an empty file, all defaults
		var nd *notADuration
		if errors.As(err, &nd) {
			err = fmt.Errorf("%s: %w", keyAt(data, nd.line, nd.column), err)
		}
		return cfg, &answer.Error{Code: CodeInvalid, Message: fmt.Sprintf("%s: %v", path, err), Err: err}
	}
	if err := cfg.upgrade(data); err != nil {
		return cfg, &answer.Error{Code: CodeInvalid, Message: fmt.Sprintf("%s: %v", path, err), Err: err}
	}
	if err := cfg.validate(); err != nil {
		err = cfg.nameOlder(err)
		return cfg, &answer.Error{Code: CodeInvalid, Message: fmt.Sprintf("%s: %v", path, err), Err: err}
	}
	return cfg, nil
}

// EnginePrecision is tensorrt.precision, or fp32 where the older
// tensorrt.fp16 is false and precision is the default (fp16): a config
// written for an hrmd before precision keeps its meaning.
func (t TensorRT) EnginePrecision() string {
	if t.FP16 != nil && !*t.FP16 && t.Precision == engine.PrecisionFP16 {
		return engine.PrecisionFP32
	}
	return t.Precision
}

// Engine is the engine's part of the configuration.
func (c Config) Engine() engine.Config {
	return engine.Config{
		Library:   c.ONNXRuntime.Library,
		Providers: c.ONNXRuntime.Providers,
		Require:   c.ONNXRuntime.Require,
		Threads:   c.ONNXRuntime.Threads,
		TensorRT: engine.TensorRTConfig{
			Precision:                c.TensorRT.EnginePrecision(),
			EngineCache:              c.TensorRT.EngineCache,
			WorkspaceMB:              c.TensorRT.WorkspaceMB,
			BuilderOptimizationLevel: c.TensorRT.BuilderOptimizationLevel,
			FP16Check:                c.TensorRT.FP16Check,
		},
	}
}

// ModelOptions are the engine's load options from inference.max_batch and
// inference.gpu_batch: the batch on TensorRT or CUDA, and on the CPU, where
// batching does not pay (docs/benchmarks.md), 1 unless max_batch says
// otherwise; and where the stamps of checked puzzle tables are kept.
func (c Config) ModelOptions() engine.ModelOptions {
	in := c.Inference
	opts := engine.ModelOptions{
		MaxBatch:    int(in.MaxBatch),
		CPUMaxBatch: int(in.MaxBatch),
		StampDir:    bundle.StampDir(c.TensorRT.EngineCache),
	}
	if in.MaxBatch == MaxBatchAuto {
		opts.MaxBatch, opts.CPUMaxBatch = in.GPUBatch, 1
	}
	return opts
}

// InputProbe is how a load runs the input probe: inference.input_invariant,
// with its verdicts kept beside the puzzle tables' stamps.
func (c Config) InputProbe() answer.InputProbe {
	return answer.InputProbe{Mode: c.Inference.InputInvariant, KeepDir: bundle.StampDir(c.TensorRT.EngineCache)}
}

// RunOptions are the engine's run options from `inference:`.
func (c Config) RunOptions() engine.RunOptions {
	return engine.RunOptions{Halting: c.Inference.Halting, MaxCycles: c.Inference.MaxCycles, Trace: c.Answers.Trace}
}

// AnswerOptions are how tasks are planned and answered, for the run options
// run (whose Trace decides whether answers carry traces).
func (c Config) AnswerOptions(run engine.RunOptions) answer.Options {
	return answer.Options{
		DemoCheck:     c.Inference.DemoCheck,
		Augmentations: c.Inference.Augmentations,
		Trace:         run.Trace != "",
		RawTrace:      run.Trace == engine.TraceRaw,
		MaxRows:       c.Watch.MaxRows,
	}
}

// Layout is where the spool puts the files of the daemon named instance
// (work/ itself for instance "").
func (c Config) Layout(instance string) spool.Layout {
	return spool.Layout{Inbox: c.Inbox, Outbox: c.Outbox, Root: c.Spool, Instance: instance}
}

// Limits are what one task file may hold, for every reader of task files.
func (c Config) Limits() puzzles.Limits {
	w := c.Watch
	return puzzles.Limits{
		Bytes:      w.MaxFileBytes,
		Tasks:      w.MaxTasks,
		TrainPairs: w.MaxTrainPairs,
		TestInputs: w.MaxTestInputs,
	}
}

// NameLimit adds to the message of a file refused for a limit the hrmd.yaml
// key that sets it: the file's author may split the file, its operator
// raise the limit. Other errors pass unchanged.
func NameLimit(err error) error {
	var perr *puzzles.Error
	if !errors.As(err, &perr) {
		return err
	}
	key := ""
	switch perr.Code {
	case puzzles.CodeTooBig:
		key = "watch.max_file_bytes"
	case puzzles.CodeTooManyTasks:
		key = "watch.max_tasks"
	case puzzles.CodeTooManyTrainPairs:
		key = "watch.max_train_pairs"
	case puzzles.CodeTooManyTestInputs:
		key = "watch.max_test_inputs"
	case puzzles.CodeTooManyRows:
		key = "watch.max_rows"
	}
	if key != "" && !strings.Contains(perr.Message, key) {
		perr.Message += " (" + key + " in hrmd.yaml)"
	}
	return err
}

// validate checks every key, in the order of hrmd.yaml's sections; each
// message names the key. The first wrong key is the one reported.
func (c Config) validate() error {
	for _, step := range []func() error{
		c.validateFolders, c.validateEngine, c.validateInference, c.validateDurations,
		c.validateLog, c.validateThermal, c.Queue.validate, c.validateHTTP,
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// validateFolders checks that every folder key names one.
func (c Config) validateFolders() error {
	for _, f := range []struct{ key, value string }{
		{"inbox", c.Inbox}, {"outbox", c.Outbox}, {"spool", c.Spool}, {"model", c.Model},
	} {
		if f.value == "" {
			return fmt.Errorf("%s is empty; it needs a folder", f.key)
		}
	}
	return nil
}

// validateEngine checks onnxruntime and tensorrt.
func (c Config) validateEngine() error {
	if t := c.TensorRT; t.FP16 != nil &&
		(*t.FP16 && t.Precision != engine.PrecisionFP16 || !*t.FP16 && t.Precision == engine.PrecisionBF16) {
		return fmt.Errorf(
			"tensorrt.fp16 is %v but tensorrt.precision is %s; remove fp16 (precision replaces it)",
			*t.FP16,
			t.Precision,
		)
	}
	if err := c.Engine().Validate(); err != nil {
		return err
	}
	return nil
}

// validateInference checks inference and answers.
func (c Config) validateInference() error {
	in := c.Inference
	if err := in.MaxBatch.validate(); err != nil {
		return err
	}
	if in.GPUBatch < 1 || in.GPUBatch > maxBatchLimit {
		return fmt.Errorf(
			"inference.gpu_batch is %d; use 1 to %d rows (4; 1 or 2 on a 4 GB board)",
			in.GPUBatch,
			maxBatchLimit,
		)
	}
	switch c.Answers.Trace {
	case "", engine.TraceSummary, engine.TraceFull, engine.TraceRaw:
	default:
		return fmt.Errorf("answers.trace is %q; use \"\" (no trace), summary, full or raw", c.Answers.Trace)
	}
	if err := c.RunOptions().Validate(); err != nil {
		return fmt.Errorf("inference: %w (keys inference.halting, inference.max_cycles, answers.trace)", err)
	}
	if in.Augmentations < 0 || in.Augmentations > puzzles.MaxAugmentations {
		return fmt.Errorf(
			"inference.augmentations is %d; use 0 (off) to %d variants per test input",
			in.Augmentations,
			puzzles.MaxAugmentations,
		)
	}
	switch in.InputInvariant {
	case answer.InvariantWarn, answer.InvariantRefuse, answer.InvariantOff:
	default:
		return fmt.Errorf(
			"inference.input_invariant is %q; use warn (flag every answer), refuse (do not load such a model) or off "+
				"(no input probe)",
			in.InputInvariant,
		)
	}
	return nil
}

// validateDurations checks every duration key and the watch limits.
func (c Config) validateDurations() error {
	if err := checkDurations([]durationRule{
		{"tensorrt.max_build", c.TensorRT.MaxBuild, time.Second, 0, "1h: a first engine build takes minutes on a Jetson"},
		{"watch.settle", c.Watch.Settle, 0, 0, "250ms; 0s takes a file at once"},
		{"watch.rescan", c.Watch.Rescan, 0, 0, "10s, or 0s for off"},
		{"thermal.poll", c.Thermal.Poll, time.Second, 0, "5s"},
	}); err != nil {
		return err
	}
	return c.Watch.validate(c.Inference.Augmentations)
}

// validateLog checks log.
func (c Config) validateLog() error {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level is %q; use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "json", "console":
	default:
		return fmt.Errorf("log.format is %q; use auto, json or console", c.Log.Format)
	}
	return nil
}

// validateThermal checks thermal.
func (c Config) validateThermal() error {
	if t := c.Thermal; t.PauseC != 0 {
		if t.PauseC < 0 || t.PauseC > 150 {
			return fmt.Errorf("thermal.pause_c is %g; use a temperature in °C (90) or 0 for off", t.PauseC)
		}
		if t.ResumeC >= t.PauseC {
			return fmt.Errorf(
				"thermal.resume_c is %g, not below thermal.pause_c %g; resume a few degrees cooler (e.g. %g)",
				t.ResumeC,
				t.PauseC,
				t.PauseC-10,
			)
		}
	}
	return nil
}

// validateHTTP checks http.
func (c Config) validateHTTP() error {
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			return fmt.Errorf("http.listen is %q: %v; use host:port (127.0.0.1:9464) or \"\" for off", c.HTTP.Listen, err)
		}
	}
	return nil
}

// validate checks the limits; augmentations is inference.augmentations,
// whose variants of one test input must fit in a file's rows.
func (w Watch) validate(augmentations int) error {
	if w.MaxFileBytes < 1 {
		return fmt.Errorf("watch.max_file_bytes is %d; it must be positive", w.MaxFileBytes)
	}
	for _, l := range []struct {
		key   string
		value int
	}{
		{"watch.max_tasks", w.MaxTasks},
		{"watch.max_train_pairs", w.MaxTrainPairs},
		{"watch.max_test_inputs", w.MaxTestInputs},
	} {
		if l.value < 1 {
			return fmt.Errorf("%s is %d; it must be positive", l.key, l.value)
		}
	}
	if w.MaxRows < 1+augmentations {
		return fmt.Errorf(
			"watch.max_rows is %d; one test input with inference.augmentations %d takes %d rows: use at least that (default %d)",
			w.MaxRows,
			augmentations,
			1+augmentations,
			answer.DefaultMaxRows,
		)
	}
	return nil
}
