//go:build cgo

package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"go.uber.org/zap"

	"github.com/hrmd/hrmd/engine/bundle"
)

// Model is a bundle loaded into ONNX Runtime sessions, with every buffer a run
// needs allocated once for MaxBatch rows. A Model runs one batch at a time.
type Model struct {
	mu        sync.Mutex
	rt        *Runtime
	bundle    *bundle.Bundle
	provider  string // the first provider in the chain: the one that takes the graph
	precision string
	init      *ort.DynamicAdvancedSession
	step      *ort.DynamicAdvancedSession
	runOpts   *ort.RunOptions
	maxBatch  int
	seq       int
	vocab     int
	haltWidth int

	engineCache EngineCacheUse
	profileDir  string // where the sessions' profiles go, "" when not profiled

	states      []*stateBuffer // step inputs, in graphs.step.inputs order
	stepOutputs []stepOutput   // in graphs.step.outputs order
	initOutputs []*stateBuffer // in graphs.init.outputs order
	tokens      []int64
	puzzle      []float32     // the puzzle rows of a batch (act-v1), maxBatch x width
	table       *bundle.Table // the bundle's puzzle table, nil without one
	ownsTable   bool          // the model that LoadModel returns unmaps it
	logits      []float32
	halt        []float32
	views       map[int]*batchViews

	// onStep, when set (a test, or Check), sees every step's logits; active
	// maps batch positions to rows of the whole run.
	onStep func(cycle int, active []int, logits []float32)
}

// stateBuffer holds one step input for MaxBatch rows. A carried state
// alternates between its two halves: a step reads one and writes the other.
// A constant uses only the first.
type stateBuffer struct {
	shape   tensorShape
	carried bool
	data    [2][]float32
}

type stepOutput struct {
	carryTo *stateBuffer // nil for logits and halt
	logits  bool
}

// batchViews are tensors over the first b rows of the model's buffers.
// onnxruntime_go tensors wrap Go slices without copying, so a view costs no
// allocation beyond its header and is made once per batch size.
type batchViews struct {
	tokens  *ort.Tensor[int64]
	initIn  []ort.Value // tokens, and the puzzle rows when the bundle has a table
	initOut []ort.Value
	stepIn  [2][]ort.Value // [p]: reads carried states from half p
	stepOut [2][]ort.Value // [p]: writes carried states to half 1-p
	all     []ort.Value
}

// LoadModel checks the bundle's graphs against its manifest and creates the
// sessions with the configured provider chain. A TensorRT engine is built
// (or taken from the cache) and checked against the bundle's check set
// before the model is returned.
func (rt *Runtime) LoadModel(b *bundle.Bundle, opts ModelOptions) (*Model, error) {
	if opts.Progress != nil {
		defer opts.Progress(LoadStage{})
	}
	io, err := inspectBundle(b)
	if err != nil {
		return nil, err
	}
	chain, err := rt.providerChain()
	if err != nil {
		return nil, err
	}
	if b.Manifest.PuzzleEmbeddings != nil {
		if io.table, err = bundle.OpenTable(b, opts.StampDir); err != nil {
			return nil, err
		}
	}
	for {
		m, err := rt.loadOn(b, io, chain, opts)
		if err == nil {
			m.ownsTable = true
			return m, nil
		}
		// A provider that loads can still fail to take a graph (a missing
		// CUDA library, an engine build that runs out of memory, a graph
		// TensorRT cannot take whole under an explicit profile, an engine
		// that fails its check): fall back to the next one unless this one
		// is required or the check is set to refuse.
		head := chain[0]
		if head == ProviderCPU || head == rt.cfg.Require || rt.refused(err) {
			io.table.Close()
			return nil, err
		}
		rt.log.Warn("execution provider failed to load the model, falling back",
			zap.String("provider", head), zap.String("model", b.Manifest.Name), zap.Error(err))
		if opts.OnFallback != nil {
			opts.OnFallback(ORTProviderName(head), err)
		}
		chain = chain[1:]
	}
}

// loadOn loads the model with chain's first provider taking the graphs.
func (rt *Runtime) loadOn(b *bundle.Bundle, io *bundleIO, chain []string, opts ModelOptions) (*Model, error) {
	batch := max(opts.MaxBatch, 1)
	switch chain[0] {
	case ProviderTensorRT:
		return (&trtLoad{rt: rt, b: b, io: io, chain: chain, opts: opts}).run()
	case ProviderCUDA:
		m, err := rt.newModel(b, io, chain, opts, rt.engineBuild(PrecisionFP32, batch), "", nil)
		if err != nil {
			return nil, err
		}
		return rt.checkCUDA(b, m, opts)
	case ProviderCPU:
		if opts.CPUMaxBatch > 0 {
			batch = opts.CPUMaxBatch
		}
	}
	return rt.newModel(b, io, chain, opts, rt.engineBuild(PrecisionFP32, batch), "", nil)
}

// checkCUDA holds a model the CUDA provider took to the bundle's check set,
// as a TensorRT engine is held: a model whose engine failed its check must
// not move to a provider nobody checked. A miss closes m and is an error,
// so the next provider (the CPU, the reference's) takes the model, unless
// tensorrt.fp16_check is refuse. It runs at every load: there is no engine
// to keep a verdict beside. The check set's policy is the engine's
// (Runtime.checkSet).
func (rt *Runtime) checkCUDA(b *bundle.Bundle, m *Model, opts ModelOptions) (*Model, error) {
	cs, err := rt.checkSet(b, "the CUDA provider's answers")
	if err != nil {
		m.Close()
		return nil, err
	}
	if cs == nil {
		return m, nil
	}
	if opts.Progress != nil {
		opts.Progress(LoadStage{What: "checking the CUDA provider against fp32", Since: time.Now()})
	}
	check, err := m.Check(cs)
	if err != nil {
		m.Close()
		return nil, err
	}
	m.engineCache.Check = check.withoutCycles()
	if check.Passed {
		return m, nil
	}
	m.Close()
	rt.log.Error(
		"the CUDA provider's answers differ from the bundle's fp32 reference",
		zap.String("model", b.Manifest.Name),
		zap.String("check", check.Summary()),
	)
	return nil, errorf(
		CodePrecisionCheck,
		"the CUDA provider's answers for %s fail the bundle's check set: %s; the next provider takes the model",
		b.Manifest.Name,
		check.Summary(),
	)
}

// newModel creates the sessions and buffers, with opts' session settings.
// For TensorRT, cacheDir is the folder its engine is read from or built
// into, and onBuild (when a build is to happen) hears each graph's build
// start.
func (rt *Runtime) newModel(
	b *bundle.Bundle,
	io *bundleIO,
	chain []string,
	opts ModelOptions,
	build engineBuild,
	cacheDir string,
	onBuild func(graph string),
) (_ *Model, err error) {
	m := &Model{
		rt: rt, bundle: b, provider: chain[0], precision: build.Precision,
		maxBatch: build.MaxBatch, seq: b.Seq(), vocab: b.Manifest.Vocab, haltWidth: io.haltWidth,
		views: map[int]*batchViews{}, table: io.table,
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if opts.ProfileDir != "" {
		// A folder for each model: a load that falls back or builds again
		// creates sessions more than once, and each writes its profile.
		if m.profileDir, err = os.MkdirTemp(opts.ProfileDir, "model-"); err != nil {
			return nil, &Error{Code: CodeInference, Message: "make a folder for the profiles: " + err.Error(), Err: err}
		}
	}
	mf := b.Manifest
	started := time.Now()
	for _, g := range []struct {
		session **ort.DynamicAdvancedSession
		graph   bundle.Graph
		profile []tensorShape
	}{{&m.init, mf.Graphs.Init, io.initProfile}, {&m.step, mf.Graphs.Step, io.stepProfile}} {
		if onBuild != nil {
			onBuild(g.graph.File)
		}
		spec := sessionSpec{
			bundle:        b,
			graph:         g.graph,
			chain:         chain,
			profile:       g.profile,
			cacheDir:      cacheDir,
			build:         build,
			noCPUFallback: opts.NoCPUFallback,
		}
		if m.profileDir != "" {
			spec.profilePrefix = filepath.Join(m.profileDir, strings.TrimSuffix(g.graph.File, ".onnx"))
		}
		*g.session, err = rt.openSession(spec)
		if err != nil {
			return nil, err
		}
	}
	if m.runOpts, err = ort.NewRunOptions(); err != nil {
		return nil, &Error{Code: CodeInference, Message: "create run options: " + err.Error(), Err: err}
	}
	rt.log.Info("model loaded", zap.String("model", mf.Name), zap.String("provider", ORTProviderName(m.provider)),
		zap.String("precision", m.precision), zap.Duration("took", time.Since(started)))
	m.allocate(io)
	return m, nil
}

// allocate makes the buffers every run uses, for maxBatch rows.
func (m *Model) allocate(io *bundleIO) {
	mf := m.bundle.Manifest
	byName := map[string]*stateBuffer{}
	for _, in := range io.stepInputs {
		carried := mf.Carries(in.name)
		sb := &stateBuffer{shape: in, carried: carried}
		halves := 1
		if carried {
			halves = 2
		}
		for h := range halves {
			sb.data[h] = make([]float32, m.maxBatch*in.rowSize())
		}
		m.states = append(m.states, sb)
		byName[in.name] = sb
	}
	for _, out := range mf.Graphs.Init.Outputs {
		m.initOutputs = append(m.initOutputs, byName[out])
	}
	for _, out := range mf.Graphs.Step.Outputs {
		switch {
		case out == m.bundle.Logits:
			m.stepOutputs = append(m.stepOutputs, stepOutput{logits: true})
		case out == mf.Halting.Output:
			m.stepOutputs = append(m.stepOutputs, stepOutput{})
		default:
			m.stepOutputs = append(m.stepOutputs, stepOutput{carryTo: byName[mf.Carry[out]]})
		}
	}
	m.tokens = make([]int64, m.maxBatch*m.seq)
	if m.table != nil {
		m.puzzle = make([]float32, m.maxBatch*m.table.Width())
	}
	m.logits = make([]float32, m.maxBatch*m.seq*m.vocab)
	m.halt = make([]float32, m.maxBatch*m.haltWidth)
}

// sessionSpec is one graph's session: the providers in order and, for
// TensorRT, its engine folder and build.
type sessionSpec struct {
	bundle   *bundle.Bundle
	graph    bundle.Graph
	chain    []string
	profile  []tensorShape
	cacheDir string
	build    engineBuild
	// noCPUFallback: ModelOptions.NoCPUFallback; profilePrefix: where
	// onnxruntime writes the session's profile ("" for none).
	noCPUFallback bool
	profilePrefix string
}

func (rt *Runtime) openSession(s sessionSpec) (*ort.DynamicAdvancedSession, error) {
	if rt.open != nil {
		return rt.open(s)
	}
	return rt.newSession(s)
}

func (rt *Runtime) newSession(s sessionSpec) (*ort.DynamicAdvancedSession, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, &Error{Code: CodeInference, Message: "create session options: " + err.Error(), Err: err}
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(rt.cfg.Threads); err != nil {
		return nil, &Error{Code: CodeInference, Message: "set threads: " + err.Error(), Err: err}
	}
	if err := so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll); err != nil {
		return nil, &Error{Code: CodeInference, Message: "set graph optimisation: " + err.Error(), Err: err}
	}
	for _, p := range s.chain {
		if err := rt.appendProvider(so, p, s.profile, s.cacheDir, s.build); err != nil {
			return nil, &Error{
				Code:    CodeProviderUnavailable,
				Message: fmt.Sprintf("%s: %s", ORTProviderName(p), ortReason(err)),
				Err:     err,
			}
		}
	}
	if err := s.applySettings(so); err != nil {
		return nil, &Error{Code: CodeInference, Message: err.Error(), Err: err}
	}
	path := s.bundle.Path(s.graph.File)
	sess, err := ort.NewDynamicAdvancedSession(path, s.graph.Inputs, s.graph.Outputs, so)
	if err != nil {
		// On the CPU a graph that will not load is the bundle's fault; on
		// a GPU provider it is usually the provider's (an engine build that
		// failed, a graph TensorRT cannot take whole under an explicit
		// profile), and the CPU may still take it.
		code := CodeBundleInvalid
		if s.chain[0] != ProviderCPU {
			code = CodeProviderFailed
		}
		return nil, &Error{
			Code:    code,
			Message: fmt.Sprintf("onnxruntime cannot load %s with %v: %v", path, s.chain, err),
			Err:     err,
		}
	}
	return sess, nil
}

// applySettings sets the session settings beyond the providers'.
func (s sessionSpec) applySettings(so *ort.SessionOptions) error {
	if s.noCPUFallback && s.chain[0] == ProviderTensorRT {
		if err := so.AddSessionConfigEntry(disableCPUFallbackKey, "1"); err != nil {
			return fmt.Errorf("set %s: %w", disableCPUFallbackKey, err)
		}
	}
	if s.profilePrefix != "" {
		// onnxruntime writes <prefix>_<time>.json when the session ends.
		if err := so.EnableProfiling(s.profilePrefix); err != nil {
			return fmt.Errorf("turn on profiling: %w", err)
		}
	}
	return nil
}

// disableCPUFallbackKey is onnxruntime's session setting
// (kOrtSessionOptionsDisableCPUEPFallback) that fails a session whose nodes
// are not all taken by a provider other than the CPU.
const disableCPUFallbackKey = "session.disable_cpu_ep_fallback"

// EngineCache is the model's TensorRT engine folder and whether its engine
// came from there.
func (m *Model) EngineCache() EngineCacheUse { return m.engineCache }

// Placements reads which provider ran each graph's nodes from the model's
// profiles. It needs a model loaded with ModelOptions.ProfileDir, run at
// least once and closed: onnxruntime records a node when it runs, and
// writes a session's profile when the session ends.
func (m *Model) Placements() ([]GraphPlacement, error) {
	m.mu.Lock()
	open := m.step != nil
	m.mu.Unlock()
	switch {
	case m.profileDir == "":
		return nil, fmt.Errorf(
			"model %s was loaded without a profile folder (ModelOptions.ProfileDir)",
			m.bundle.Manifest.Name,
		)
	case open:
		return nil, fmt.Errorf("model %s is open: onnxruntime writes its profiles when it is closed", m.bundle.Manifest.Name)
	}
	g := m.bundle.Manifest.Graphs
	return readPlacements(m.profileDir, g.Init.File, g.Step.File)
}

// Bundle is the bundle this model was loaded from.
func (m *Model) Bundle() *bundle.Bundle { return m.bundle }

// Provider is ONNX Runtime's name for the provider that runs the model.
func (m *Model) Provider() string { return ORTProviderName(m.provider) }

// Precision is fp16 for a TensorRT fp16 engine, else fp32.
func (m *Model) Precision() string { return m.precision }

// MaxBatch is the most rows one step runs together.
func (m *Model) MaxBatch() int { return m.maxBatch }

// TunedBatch is the batch the TensorRT engine's optimisation profile is
// tuned for: the engine takes batches 1 to MaxBatch, and TensorRT picks its
// kernels for MaxBatch (trt_profile_opt_shapes in tensorRTOptions), so a
// smaller batch runs on kernels chosen for a larger one. 0 when TensorRT
// does not run the model.
func (m *Model) TunedBatch() int {
	if m.provider != ProviderTensorRT {
		return 0
	}
	return m.maxBatch
}

// Close frees the sessions and tensors.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.views {
		for _, t := range v.all {
			t.Destroy()
		}
	}
	m.views = nil
	if m.init != nil {
		m.init.Destroy()
	}
	if m.step != nil {
		m.step.Destroy()
	}
	if m.runOpts != nil {
		m.runOpts.Destroy()
	}
	m.init, m.step, m.runOpts = nil, nil, nil
	if m.ownsTable {
		return m.table.Close()
	}
	return nil
}

// batch returns the tensors for a batch of b rows, making them on first use.
func (m *Model) batch(b int) (*batchViews, error) {
	if v, ok := m.views[b]; ok {
		return v, nil
	}
	v := &batchViews{}
	var err error
	keep := func(t ort.Value) ort.Value { v.all = append(v.all, t); return t }
	floats := func(shape tensorShape, data []float32) ort.Value {
		if err != nil {
			return nil
		}
		var t *ort.Tensor[float32]
		t, err = ort.NewTensor(ort.Shape(shape.batch(b)), data)
		if err != nil {
			return nil
		}
		return keep(t)
	}
	v.tokens, err = ort.NewTensor(ort.NewShape(int64(b), int64(m.seq)), m.tokens)
	if err != nil {
		return nil, &Error{Code: CodeInference, Message: "create tokens tensor: " + err.Error(), Err: err}
	}
	keep(v.tokens)
	v.initIn = []ort.Value{v.tokens}
	if m.table != nil {
		v.initIn = append(v.initIn, floats(tensorShape{row: []int64{int64(m.table.Width())}}, m.puzzle))
	}
	for _, sb := range m.initOutputs {
		v.initOut = append(v.initOut, floats(sb.shape, sb.data[0]))
	}
	for p := range 2 {
		for _, sb := range m.states {
			half := 0
			if sb.carried {
				half = p
			}
			v.stepIn[p] = append(v.stepIn[p], floats(sb.shape, sb.data[half]))
		}
		for _, out := range m.stepOutputs {
			switch {
			case out.carryTo != nil:
				v.stepOut[p] = append(v.stepOut[p], floats(out.carryTo.shape, out.carryTo.data[1-p]))
			case out.logits:
				v.stepOut[p] = append(v.stepOut[p], floats(tensorShape{row: []int64{int64(m.seq), int64(m.vocab)}}, m.logits))
			default:
				v.stepOut[p] = append(v.stepOut[p], floats(tensorShape{row: []int64{int64(m.haltWidth)}}, m.halt))
			}
		}
	}
	if err != nil {
		for _, t := range v.all {
			t.Destroy()
		}
		return nil, &Error{Code: CodeInference, Message: "create tensors: " + err.Error(), Err: err}
	}
	m.views[b] = v
	return v, nil
}

// Run runs the reasoning cycles for each row of tokens (grid x grid each, in
// the bundle's encoding) and returns one result per row, in order. Rows halt
// independently: a halted row keeps its result and leaves the batch, so the
// remaining rows run as a smaller batch.
func (m *Model) Run(ctx context.Context, tokens [][]int64, opts RunOptions) ([]RowResult, error) {
	return m.RunPuzzles(ctx, tokens, nil, opts)
}

// RunPuzzles is Run with each row's puzzle: puzzles[i] is row i's row of the
// bundle's puzzle table (PuzzleIndex.Row). nil runs every row with the
// blank row 0, as does a bundle without a table.
func (m *Model) RunPuzzles(ctx context.Context, tokens [][]int64, puzzles []int, opts RunOptions) ([]RowResult, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	for i, row := range tokens {
		if len(row) != m.seq {
			return nil, fmt.Errorf("row %d has %d tokens; the model takes %d", i, len(row), m.seq)
		}
	}
	if err := m.checkPuzzles(len(tokens), puzzles); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.step == nil {
		return nil, fmt.Errorf("model %s is closed", m.bundle.Manifest.Name)
	}
	stop := m.terminateOnCancel(ctx)
	defer stop()
	policy := newHaltPolicy(m.bundle.Manifest.Halting, opts)
	results := make([]RowResult, 0, len(tokens))
	for start := 0; start < len(tokens); start += m.maxBatch {
		end := min(start+m.maxBatch, len(tokens))
		var rows []int
		if puzzles != nil {
			rows = puzzles[start:end]
		}
		res, err := m.runChunk(ctx, start, tokens[start:end], rows, policy, opts.Trace)
		if err != nil {
			return nil, err
		}
		results = append(results, res...)
	}
	return results, nil
}

// fill copies a chunk's tokens, and their puzzle rows, into the buffers
// the init graph reads.
func (m *Model) fill(rows [][]int64, puzzles []int) error {
	for i, row := range rows {
		copy(m.tokens[i*m.seq:], row)
		if m.table == nil {
			continue
		}
		p := 0
		if puzzles != nil {
			p = puzzles[i]
		}
		w := m.table.Width()
		if err := m.table.Row(p, m.puzzle[i*w:(i+1)*w]); err != nil {
			return &Error{Code: CodeInference, Message: err.Error(), Err: err}
		}
	}
	return nil
}

// checkPuzzles: one puzzle row for each input, each in the table.
func (m *Model) checkPuzzles(rows int, puzzles []int) error {
	if puzzles == nil {
		return nil
	}
	if len(puzzles) != rows {
		return fmt.Errorf("%d puzzle rows for %d inputs", len(puzzles), rows)
	}
	if m.table == nil {
		for _, p := range puzzles {
			if p != 0 {
				return fmt.Errorf("puzzle row %d asked of %s, which has no puzzle table", p, m.bundle.Manifest.Name)
			}
		}
		return nil
	}
	n := m.bundle.Puzzles.Len()
	for i, p := range puzzles {
		if p < 0 || p >= n {
			return fmt.Errorf("input %d asks for puzzle row %d; the table has rows 0 to %d", i, p, n-1)
		}
	}
	return nil
}

// terminateOnCancel makes a cancelled context stop a step that is running
// (a full-size cycle takes about a second on a CPU). The returned func waits
// for the watcher to end, so no goroutine outlives the run.
func (m *Model) terminateOnCancel(ctx context.Context) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			m.runOpts.Terminate()
		case <-done:
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		if ctx.Err() != nil {
			m.runOpts.UnsetTerminate()
		}
	}
}

// runChunk runs rows, which start at row first of the whole run.
func (m *Model) runChunk(
	ctx context.Context,
	first int,
	rows [][]int64,
	puzzles []int,
	policy haltPolicy,
	trace string,
) ([]RowResult, error) {
	n := len(rows)
	if err := m.fill(rows, puzzles); err != nil {
		return nil, err
	}
	v, err := m.batch(n)
	if err != nil {
		return nil, err
	}
	if err := m.init.RunWithOptions(v.initIn, v.initOut, m.runOpts); err != nil {
		return nil, m.runError(ctx, "init", err)
	}
	results := make([]RowResult, n)
	// prev and cur hold each row's prediction of the last and this cycle.
	prev := make([][]int64, n)
	cur := make([][]int64, n)
	for i := range n {
		prev[i] = slices.Clone(rows[i])
		cur[i] = make([]int64, m.seq)
	}
	active := make([]int, n) // active[k] is the original row now at batch position k
	for i := range active {
		active[i] = i
	}
	for cycle, p := 1, 0; len(active) > 0; cycle, p = cycle+1, 1-p {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v, err := m.batch(len(active))
		if err != nil {
			return nil, err
		}
		if err := m.step.RunWithOptions(v.stepIn[p], v.stepOut[p], m.runOpts); err != nil {
			return nil, m.runError(ctx, fmt.Sprintf("step (cycle %d)", cycle), err)
		}
		if m.onStep != nil {
			m.onStep(cycle, shifted(active, first), m.logits)
		}
		kept := 0
		for k, row := range active {
			changed := argmaxInto(cur[row], prev[row], m.logits[k*m.seq*m.vocab:(k+1)*m.seq*m.vocab], m.vocab)
			haltOut := m.halt[k*m.haltWidth : (k+1)*m.haltWidth]
			prob, modelStops := policy.haltSignal(haltOut)
			r := &results[row]
			r.Trace = append(r.Trace, traceCycle(trace, cycle, prob, changed, cur[row], haltOut))
			prev[row], cur[row] = cur[row], prev[row]
			if halted, by := policy.decide(cycle, modelStops, changed); halted {
				r.Cycles, r.HaltedBy, r.Halt = cycle, by, prob
				r.Tokens = slices.Clone(prev[row])
				continue
			}
			// Move the row down to its place in the smaller batch of the next cycle.
			if kept != k {
				for _, sb := range m.states {
					half := 0
					if sb.carried {
						half = 1 - p
					}
					size := sb.shape.rowSize()
					copy(sb.data[half][kept*size:(kept+1)*size], sb.data[half][k*size:(k+1)*size])
				}
			}
			active[kept] = row
			kept++
		}
		active = active[:kept]
	}
	return results, nil
}

// traceCycle is one cycle of a row's trace at level trace: the
// prediction and the raw halt output are copied only where it keeps them.
func traceCycle(trace string, cycle int, prob float64, changed int, tokens []int64, haltOut []float32) CycleTrace {
	c := CycleTrace{Cycle: cycle, Halt: prob, Changed: changed}
	if trace == TraceFull || trace == TraceRaw {
		c.Tokens = slices.Clone(tokens)
	}
	if trace == TraceRaw {
		c.HaltOut = slices.Clone(haltOut)
	}
	return c
}

// shifted is rows with first added to each: a chunk's rows as rows of the run.
func shifted(rows []int, first int) []int {
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = r + first
	}
	return out
}

func (m *Model) runError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &Error{
		Code:    CodeInference,
		Message: fmt.Sprintf("%s %s on %s: %v", m.bundle.Manifest.Name, what, m.Provider(), err),
		Err:     err,
	}
}
