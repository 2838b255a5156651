//go:build cgo

package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/internal/testenv"
)

// fakeTensorRT plays onnxruntime's TensorRT provider on this CPU-only
// machine, from the outside: the provider is reported available, with
// TensorRT version (10.3.0.30 unless set); a session builds its engine by
// writing an engine and a profile file into the cache folder, as the
// provider does, or reads it back from there; an engine file that says
// "truncated", or any engine while unloadable is set (an intact engine
// TensorRT refuses: no GPU memory, another TensorRT build), fails the way
// the provider fails on one (EP_FAIL "TensorRT EP could not deserialize
// engine from cache"). onBuild, when set, hears each build of an engine
// file start, outside the fake's lock. The graphs themselves run on the
// CPU; an fp16 session runs fp16From's graphs when set, playing an fp16
// engine whose answers drift from the reference.
type fakeTensorRT struct {
	mu         sync.Mutex // two loads may build at once
	rt         *Runtime
	fp16From   string
	cudaFrom   string // the graphs a CUDA session runs (on the CPU), when set
	failBuild  error
	unloadable bool
	version    string
	onBuild    func(cacheDir string)
	opened     map[string]int // sessions opened, by precision
	built      int            // engine files written
}

func playTensorRT(rt *Runtime) *fakeTensorRT {
	f := &fakeTensorRT{rt: rt, opened: map[string]int{}, version: "10.3.0.30"}
	rt.probe = func(string) error { return nil }
	rt.open = f.open
	rt.readTensorRT = func() (string, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.version, nil
	}
	return f
}

func (f *fakeTensorRT) open(s sessionSpec) (*ort.DynamicAdvancedSession, error) {
	if s.chain[0] == ProviderCUDA {
		cpu := s
		cpu.chain = []string{ProviderCPU}
		if f.cudaFrom != "" {
			b, err := bundle.Load(f.cudaFrom)
			if err != nil {
				return nil, err
			}
			cpu.bundle = b
		}
		return f.rt.newSession(cpu)
	}
	if s.chain[0] != ProviderTensorRT {
		return f.rt.newSession(s)
	}
	engine := filepath.Join(
		s.cacheDir,
		"TensorrtExecutionProvider_TRTKernel_"+strings.TrimSuffix(s.graph.File, ".onnx")+".engine",
	)
	if _, err := os.Stat(engine); err != nil && f.onBuild != nil {
		f.onBuild(s.cacheDir)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened[s.build.Precision]++
	data, err := os.ReadFile(engine)
	switch {
	case err == nil && (string(data) == "truncated" || f.unloadable):
		return nil, &Error{Code: CodeBundleInvalid, Message: "onnxruntime cannot load " + s.graph.File +
			": [ONNXRuntimeError] : 1 : FAIL : TensorRT EP could not deserialize engine from cache: " + engine}
	case err != nil && f.failBuild != nil:
		return nil, f.failBuild
	case err != nil:
		if err := os.WriteFile(engine, []byte("engine"), 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(strings.TrimSuffix(engine, ".engine")+".profile", []byte("profile"), 0o644); err != nil {
			return nil, err
		}
		f.built++
	}
	cpu := s
	cpu.chain = []string{ProviderCPU}
	if s.build.Precision == "fp16" && f.fp16From != "" {
		b, err := bundle.Load(f.fp16From)
		if err != nil {
			return nil, err
		}
		cpu.bundle = b
	}
	return f.rt.newSession(cpu)
}

func trtConfig(t *testing.T) Config {
	cfg := cpuConfig()
	cfg.Providers = []string{ProviderTensorRT, ProviderCPU}
	cfg.TensorRT.EngineCache = filepath.Join(t.TempDir(), "trt")
	return cfg
}

// withEngine opens a runtime on a played TensorRT and builds the tiny
// bundle's engine for batch 1 into its folder, dir.
func withEngine(t *testing.T, cfg Config) (*Runtime, *observer.ObservedLogs, *fakeTensorRT, string) {
	t.Helper()
	rt, logs := openRuntime(t, cfg)
	fake := playTensorRT(rt)
	m, err := loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	return rt, logs, fake, m.EngineCache().Dir
}

func loadWith(t *testing.T, rt *Runtime, dir string, opts ModelOptions) (*Model, error) {
	t.Helper()
	b, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.LoadModel(b, opts)
	if m != nil {
		t.Cleanup(func() { m.Close() })
	}
	return m, err
}

// fallbacks counts the log lines whose error holds what.
func fallbacks(logs *observer.ObservedLogs, what string) int {
	return logs.FilterFieldKey("error").Filter(func(e observer.LoggedEntry) bool {
		return strings.Contains(e.ContextMap()["error"].(string), what)
	}).Len()
}

// cacheFolders lists the engine cache root's folders, hidden ones included
// (the build locks are files).
func cacheFolders(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != timingCacheDir {
			names = append(names, e.Name())
		}
	}
	return names
}

// The first load builds the engine in a hidden folder, checks it, and puts
// it in place with its verdict; the next takes it from there, unchecked.
func TestTensorRTBuildCheckAndReuse(t *testing.T) {
	cfg := trtConfig(t)
	rt, _ := openRuntime(t, cfg)
	fake := playTensorRT(rt)
	var stages []string
	opts := ModelOptions{MaxBatch: 2, Progress: func(s LoadStage) { stages = append(stages, s.String()) }}
	m, err := loadWith(t, rt, fixtureDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := m.EngineCache()
	if m.Provider() != "TensorrtExecutionProvider" || m.Precision() != "fp16" || !c.Built || c.Found || c.Check == nil ||
		!c.Check.Passed ||
		c.Rejected != nil {
		t.Fatalf("provider %s %s, cache %+v", m.Provider(), m.Precision(), c)
	}
	if c.Check.Inputs != 6 || c.Check.GridsSame != 6 || c.Check.MinCellAgreement != 1 {
		t.Errorf("check %s", c.Check.Summary())
	}
	want := []string{
		"building TensorRT engine for init.onnx",
		"building TensorRT engine for step.onnx",
		"checking fp16 against fp32",
		"",
	}
	if strings.Join(stages, "|") != strings.Join(want, "|") {
		t.Errorf("stages %q, want %q", stages, want)
	}
	if got := cacheFolders(t, cfg.TensorRT.EngineCache); len(got) != 1 || got[0] != filepath.Base(c.Dir) {
		t.Errorf("cache holds %v, want only %s", got, filepath.Base(c.Dir))
	}
	rec, err := ReadEngineRecord(c.Dir)
	if err != nil || rec == nil || rec.Check == nil || !rec.Check.Passed || rec.Build.Precision != "fp16" ||
		rec.Build.MaxBatch != 2 {
		t.Fatalf("record %+v, %v", rec, err)
	}
	// The record keeps the TensorRT that built the engine, also in the
	// folder's name, and every file onnxruntime wrote, with its size and sha256.
	if rec.TensorRT != "10.3.0.30" || !strings.Contains(filepath.Base(c.Dir), "-trt10.3.0.30-fp16-b2-") {
		t.Errorf("TensorRT %q in the record, folder %s", rec.TensorRT, filepath.Base(c.Dir))
	}
	var files []string
	for _, f := range rec.Files {
		sum := sha256.Sum256([]byte(strings.TrimPrefix(filepath.Ext(f.Name), ".")))
		if f.Size != int64(len(strings.TrimPrefix(filepath.Ext(f.Name), "."))) || f.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: %d bytes, sha256 %s", f.Name, f.Size, f.SHA256)
		}
		files = append(files, f.Name)
	}
	kept := []string{"TensorrtExecutionProvider_TRTKernel_init.engine", "TensorrtExecutionProvider_TRTKernel_init.profile",
		"TensorrtExecutionProvider_TRTKernel_step.engine", "TensorrtExecutionProvider_TRTKernel_step.profile"}
	if !slices.Equal(files, kept) {
		t.Errorf("record lists %q, want %q", files, kept)
	}
	m.Close()

	stages = nil
	m, err = loadWith(t, rt, fixtureDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c := m.EngineCache(); !c.Found || c.Built || c.Check == nil || !c.Check.Passed || fake.built != 2 {
		t.Errorf("second load: cache %+v, %d engines built in all", c, fake.built)
	}
	if len(stages) != 1 {
		t.Errorf("a cached, checked engine reported stages %q", stages)
	}
}

// An fp16 engine whose answers drift fails the check: it is not used, the
// engine is built again in fp32, and the failed verdict is kept so the next
// start goes straight to fp32, with no error line this time (the daemon
// says it once, as information). Under refuse the load fails.
func TestTensorRTFP16CheckFails(t *testing.T) {
	cfg := trtConfig(t)
	rt, logs := openRuntime(t, cfg)
	fake := playTensorRT(rt)
	fake.fp16From = "testdata/nova-zero" // the same shapes, a constant answer
	m, err := loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := m.EngineCache()
	if m.Provider() != "TensorrtExecutionProvider" || m.Precision() != "fp32" || c.Check == nil || !c.Check.Passed {
		t.Fatalf("after a failed fp16 check: %s %s, check %+v", m.Provider(), m.Precision(), c.Check)
	}
	if c.Rejected == nil || c.Rejected.Passed || c.Rejected.Precision != "fp16" || c.Rejected.GridsSame == 6 ||
		c.Rejected.Reason == "" {
		t.Fatalf("rejected %+v", c.Rejected)
	}
	failed := logs.FilterMessage("the TensorRT engine's answers differ from the bundle's fp32 reference").All()
	if len(failed) != 1 || !strings.Contains(failed[0].ContextMap()["check"].(string), "fp16 check FAILED") {
		t.Errorf("error lines %v", failed)
	}
	if logs.FilterMessageSnippet("building the engine again in fp32").Len() != 1 {
		t.Error("no line says the engine is built again in fp32")
	}
	if c.RejectedStored() {
		t.Error("a verdict made by this load is said to come from the record")
	}
	m.Close()
	opened := fake.opened["fp16"]
	errorsBefore := logs.FilterLevelExact(zap.ErrorLevel).Len()
	m, err = loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m.Precision() != "fp32" || m.EngineCache().Rejected == nil || !m.EngineCache().RejectedStored() ||
		fake.opened["fp16"] != opened {
		t.Errorf(
			"restart: %s, rejected %v (stored %v), fp16 sessions %d then %d",
			m.Precision(),
			m.EngineCache().Rejected,
			m.EngineCache().RejectedStored(),
			opened,
			fake.opened["fp16"],
		)
	}
	if n := logs.FilterLevelExact(zap.ErrorLevel).Len(); n != errorsBefore {
		t.Errorf("a restart after a stored fp16 miss logged %d error lines", n-errorsBefore)
	}

	rt.cfg.TensorRT.FP16Check = CheckRefuse
	_, err = loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodePrecisionCheck || !strings.Contains(e.Message, "fp16_check is refuse") {
		t.Errorf("refuse: %v", err)
	}

	// With the check off, the engine that failed is used, and says so.
	rt.cfg.TensorRT.FP16Check = CheckOff
	m, err = loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1})
	if err != nil || m.Precision() != "fp16" || m.EngineCache().Check == nil || m.EngineCache().Check.Passed {
		t.Errorf("off: %v, %s, check %+v", err, m.Precision(), m.EngineCache().Check)
	}
	if logs.FilterMessageSnippet("fp16_check is off, so it is used anyway").Len() != 1 {
		t.Error("no line says a failed engine is used because the check is off")
	}
}

// A cached engine that onnxruntime cannot read back and whose files
// changed since it was built is moved aside and built again; a second
// one within a day makes the next provider take the model instead, and
// once the folder moved aside is a day old it no longer holds back a build.
func TestTensorRTRepairsATruncatedEngine(t *testing.T) {
	cfg := trtConfig(t)
	rt, logs, fake, dir := withEngine(t, cfg)
	testenv.WriteFile(t, dir, "TensorrtExecutionProvider_TRTKernel_step.engine", "truncated")

	m, err := loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if c := m.EngineCache(); m.Provider() != "TensorrtExecutionProvider" || !c.Built || c.Dir != dir || fake.built != 4 {
		t.Fatalf("after a truncated engine: %s, cache %+v, %d engines built", m.Provider(), c, fake.built)
	}
	folders := cacheFolders(t, cfg.TensorRT.EngineCache)
	if len(folders) != 2 || !strings.HasPrefix(folders[1], filepath.Base(dir)+".broken-") {
		t.Errorf("cache holds %v, want the engine and the broken one beside it", folders)
	}
	moved := logs.FilterMessageSnippet("cannot be read back").All()
	if len(moved) != 1 ||
		!strings.Contains(
			moved[0].ContextMap()["changed"].(string),
			"TensorrtExecutionProvider_TRTKernel_step.engine has 9 bytes, 6 when built",
		) {
		t.Errorf("lines saying the engine was moved aside: %v", moved)
	}
	entries, err := ListEngineCache(cfg.TensorRT.EngineCache)
	if err != nil || len(entries) != 2 || !entries[1].Broken || entries[0].Broken {
		t.Errorf("listing %+v, %v", entries, err)
	}

	// The same again: building a third time is unlikely to help, so the
	// next provider takes the model, and the line says why and until when.
	m.Close()
	testenv.WriteFile(t, dir, "TensorrtExecutionProvider_TRTKernel_step.engine", "truncated")
	m, err = loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1})
	if err != nil || m.Provider() != "CPUExecutionProvider" || fake.built != 4 {
		t.Fatalf("a second unreadable engine: %v, %v, %d built", err, m, fake.built)
	}
	if fallbacks(logs, "was moved aside for the same reason less than 24 hours ago") != 1 ||
		fallbacks(logs, "once they are 24 hours old") != 1 {
		t.Error("no fallback line says the engine was moved aside before, and when that stops counting")
	}

	// A day later the folder moved aside no longer counts: the engine is
	// moved aside and built again, and the older folder goes.
	m.Close()
	expired := filepath.Join(
		cfg.TensorRT.EngineCache,
		filepath.Base(dir)+".broken-"+time.Now().Add(-25*time.Hour).UTC().Format("20060102T150405Z"),
	)
	if err := os.Rename(filepath.Join(cfg.TensorRT.EngineCache, folders[1]), expired); err != nil {
		t.Fatal(err)
	}
	m, err = loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1})
	if err != nil || m.Provider() != "TensorrtExecutionProvider" || !m.EngineCache().Built || fake.built != 6 {
		t.Fatalf("after a day: %v, %v, %d built", err, m, fake.built)
	}
	folders = cacheFolders(t, cfg.TensorRT.EngineCache)
	if len(folders) != 2 || !strings.HasPrefix(folders[1], filepath.Base(dir)+".broken-") ||
		folders[1] == filepath.Base(expired) {
		t.Errorf("cache holds %v, want the engine and only the newer broken one", folders)
	}
}

// An engine that onnxruntime cannot read back although its files are as
// they were built (TensorRT short of GPU memory, or another TensorRT
// build) stays where it is: the next provider takes the model for this
// load, and the next load tries the engine again.
func TestTensorRTIntactEngineStays(t *testing.T) {
	cfg := trtConfig(t)
	rt, logs, fake, dir := withEngine(t, cfg)

	fake.unloadable = true
	avail := func() (int64, error) { return 700 << 20, nil }
	m, err := loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1, MemAvailable: avail})
	if err != nil || m.Provider() != "CPUExecutionProvider" || fake.built != 2 {
		t.Fatalf("an intact engine that fails to load: %v, %v, %d built", err, m, fake.built)
	}
	if got := cacheFolders(t, cfg.TensorRT.EngineCache); len(got) != 1 || got[0] != filepath.Base(dir) || !hasEngine(dir) {
		t.Errorf("cache holds %v, want the engine left in place", got)
	}
	warned := logs.FilterMessageSnippet("intact engine could not be loaded (GPU memory, or another TensorRT build)").All()
	if len(warned) != 1 {
		t.Fatalf("warnings %v", warned)
	}
	if f := warned[0].ContextMap(); f["built_with_tensorrt"] != "10.3.0.30" || f["loaded_tensorrt"] != "10.3.0.30" ||
		f["mem_available_mib"] != int64(700) {
		t.Errorf("the warning's figures: %v", f)
	}
	if fallbacks(logs, "although its files are as they were built") != 1 {
		t.Error("no fallback line says the engine is intact")
	}

	fake.unloadable = false
	m, err = loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1})
	if c := m.EngineCache(); err != nil || m.Provider() != "TensorrtExecutionProvider" || !c.Found || c.Built ||
		fake.built != 2 {
		t.Errorf("the next load: %v, %s, cache %+v, %d built", err, m.Provider(), c, fake.built)
	}
}

// Another TensorRT build gets a folder of its own. An engine an older
// hrmd cached under the name without the loaded TensorRT's version is
// taken over and its record completed when it loads; when it does not
// load, its record vouches for nothing, and it is moved aside and built
// again.
func TestTensorRTVersionsAndOlderFolders(t *testing.T) {
	cfg := trtConfig(t)
	cfg.Device = "tegra234-p3767-0005-l4t36.4.3"
	rt, logs, fake, dir := withEngine(t, cfg)
	fake.version = "10.3.0.26"
	m, err := loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1})
	if c := m.EngineCache(); err != nil || !c.Built || c.Dir == dir || !strings.Contains(c.Dir, "-trt10.3.0.26-") ||
		fake.built != 4 ||
		!hasEngine(dir) {
		t.Fatalf("another TensorRT build: %v, cache %+v, %d built", err, c, fake.built)
	}
	m.Close()

	fake.version = "10.3.0.30"
	legacy := strings.Replace(dir, "-trt10.3.0.30-", "-trt10.3.0-", 1)
	olderRecord := func() {
		t.Helper()
		if err := os.Rename(dir, legacy); err != nil {
			t.Fatal(err)
		}
		rec, err := ReadEngineRecord(legacy)
		if err != nil || rec == nil {
			t.Fatal(rec, err)
		}
		rec.Files, rec.TensorRT = nil, ""
		if err := writeEngineRecord(legacy, *rec); err != nil {
			t.Fatal(err)
		}
	}
	olderRecord()
	m, err = loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1})
	if c := m.EngineCache(); err != nil || !c.Found || c.Built || c.Dir != dir || fake.built != 4 {
		t.Fatalf("an older hrmd's engine: %v, cache %+v, %d built", err, c, fake.built)
	}
	if rec, err := ReadEngineRecord(dir); err != nil || rec.TensorRT != "10.3.0.30" || len(rec.Files) != 4 ||
		rec.Check == nil {
		t.Errorf("its record now: %+v, %v", rec, err)
	}
	if _, err := os.Stat(legacy); err == nil ||
		logs.FilterMessageSnippet("took the engine an older hrmd built").Len() != 1 {
		t.Errorf("the older folder is still there (%v), or no line says it was taken", err)
	}
	m.Close()

	olderRecord()
	fake.unloadable = true // the engine of another TensorRT build, say
	m, err = loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1})
	if c := m.EngineCache(); err != nil || !c.Built || c.Dir != dir || fake.built != 6 {
		t.Fatalf("an older hrmd's engine that does not load: %v, cache %+v, %d built", err, c, fake.built)
	}
	if moved := logs.FilterMessageSnippet("cannot be read back").All(); len(moved) != 1 ||
		!strings.Contains(moved[0].ContextMap()["changed"].(string), "lists no files") {
		t.Errorf("lines saying the engine was moved aside: %v", moved)
	}
}

// Two loads that need the same engine build it once: the second waits for
// the first and loads what it built.
func TestTensorRTBuildsOnce(t *testing.T) {
	cfg := trtConfig(t)
	rt, logs := openRuntime(t, cfg)
	fake := playTensorRT(rt)
	b, err := bundle.Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	// Held as another process's build would be, until both loads wait on it.
	slot := rt.slot(b, rt.engineBuild("fp16", 1))
	held, err := slot.lock(func() {})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	models := make([]*Model, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { models[i], errs[i] = rt.LoadModel(b, ModelOptions{MaxBatch: 1}) })
	}
	testenv.WaitFor(t, time.Minute, "both loads wait for the build lock", func() bool {
		return logs.FilterMessageSnippet("waiting for it").Len() == 2
	})
	held.Close()
	wg.Wait()
	for i, m := range models {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		defer m.Close()
	}
	if fake.built != 2 || models[0].EngineCache().Built == models[1].EngineCache().Built {
		t.Errorf(
			"%d engine files built (want init and step once); built %v and %v",
			fake.built,
			models[0].EngineCache().Built,
			models[1].EngineCache().Built,
		)
	}
}

// Two loads that need different engines build one after the other: the
// second build starts only once the first engine is in place, with its
// record (one build at a time per cache: the timing cache is shared, and a
// small board has the memory for one build).
func TestTensorRTOneBuildAtATime(t *testing.T) {
	cfg := trtConfig(t)
	rt, _ := openRuntime(t, cfg)
	fake := playTensorRT(rt)
	b, err := bundle.Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	first := rt.slot(b, rt.engineBuild("fp16", 1))
	firstBuilding := make(chan struct{})
	// The second load waits for the lock or, without one, starts building.
	secondWaits := make(chan struct{}, 4)
	held := false
	var firstInPlace *bool
	fake.onBuild = func(dir string) {
		if strings.HasPrefix(filepath.Base(dir), ".build-"+first.key+"-") {
			if !held { // the first graph of the first build: hold it until the second load waits
				held = true
				close(firstBuilding)
				<-secondWaits
			}
			return
		}
		if firstInPlace == nil {
			rec, err := ReadEngineRecord(first.final())
			inPlace := err == nil && rec != nil && len(rec.Files) == 4
			firstInPlace = &inPlace
		}
		select {
		case secondWaits <- struct{}{}:
		default:
		}
	}
	models := make([]*Model, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { models[0], errs[0] = rt.LoadModel(b, ModelOptions{MaxBatch: 1}) })
	<-firstBuilding
	wg.Go(func() {
		models[1], errs[1] = rt.LoadModel(b, ModelOptions{MaxBatch: 2, Progress: func(s LoadStage) {
			if s.What == "waiting for another TensorRT build to finish" {
				secondWaits <- struct{}{}
			}
		}})
	})
	wg.Wait()
	for i, m := range models {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		defer m.Close()
		if !m.EngineCache().Built || m.Provider() != "TensorrtExecutionProvider" {
			t.Errorf("load %d: %s, cache %+v", i, m.Provider(), m.EngineCache())
		}
	}
	if firstInPlace == nil || !*firstInPlace || fake.built != 4 {
		t.Errorf(
			"the second build did not wait for the first engine to be in place (%v); %d engine files built",
			firstInPlace != nil && *firstInPlace,
			fake.built,
		)
	}
}

// The cache's lock file is opened read-only and is 0644 whatever the
// umask, so that whoever runs hrmd next (a root-run doctor, then the
// service's user) can open and lock it.
func TestCacheLockFile(t *testing.T) {
	root := filepath.Join(t.TempDir(), "trt")
	old := syscall.Umask(0o077)
	f, err := lockCache(root, func() { t.Error("an idle cache's lock was held") })
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := os.Stat(filepath.Join(root, ".lock"))
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("lock file %v, %v; want mode 0644", st, err)
	}
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_ACCMODE != unix.O_RDONLY {
		t.Errorf("the lock file is open with flags %#o (%v); want read-only", flags, err)
	}
	// Read-only suffices to lock: a lock file nobody may write to locks too.
	f.Close()
	if err := os.Chmod(filepath.Join(root, ".lock"), 0o444); err != nil {
		t.Fatal(err)
	}
	again, err := lockCache(root, func() { t.Error("a released lock was held") })
	if err != nil {
		t.Fatalf("a read-only lock file: %v", err)
	}
	again.Close()
}

// With the cache's lock held nobody else builds, so every build folder was
// left by a crash and goes; except one whose key an older hrmd, which
// locked one key at a time, holds.
func TestAbandonedBuildsAreRemoved(t *testing.T) {
	root := t.TempDir()
	testenv.WriteFile(t, root, ".build-a-key-0123456789ab/x.engine", "half")
	testenv.WriteFile(t, root, ".lock-a-key", "")
	testenv.WriteFile(t, root, ".build-no-lock-0123456789ab/x.engine", "half")
	testenv.WriteFile(t, root, ".build-busy-key-0123456789ab/x.engine", "half")
	testenv.WriteFile(t, root, ".lock-busy-key", "")
	busy, err := os.Open(filepath.Join(root, ".lock-busy-key"))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := syscall.Flock(int(busy.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, root, ".build-mine-0123456789ab/x.engine", "half")
	mine := cacheSlot{root: root, key: "mine"}
	lock, err := mine.lock(func() {})
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	dir, err := mine.begin()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range testenv.Names(root) {
		if strings.HasPrefix(n, ".build-") {
			got = append(got, n)
		}
	}
	if len(got) != 2 || got[0] != ".build-busy-key-0123456789ab" || got[1] != filepath.Base(dir) {
		t.Errorf("build folders %v, want only the busy one and the new one", got)
	}
}

// A build that fails leaves nothing in the cache, and a build folder left
// by a crash is cleared by the next build; a board short of memory is not
// asked to build at all.
func TestTensorRTBuildFailures(t *testing.T) {
	cfg := trtConfig(t)
	rt, logs := openRuntime(t, cfg)
	fake := playTensorRT(rt)
	b, err := bundle.Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	key := rt.slot(b, rt.engineBuild("fp16", 1)).key
	testenv.WriteFile(
		t,
		cfg.TensorRT.EngineCache,
		".build-"+key+"-deadbeef0000/TensorrtExecutionProvider_TRTKernel_init.engine",
		"half",
	)

	fake.failBuild = errors.New("TensorRT EP failed to create engine from network")
	m, err := loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1})
	if err != nil || m.Provider() != "CPUExecutionProvider" {
		t.Fatalf("a failed build: %v, %v", err, m)
	}
	if got := cacheFolders(t, cfg.TensorRT.EngineCache); len(got) != 0 {
		t.Errorf("a failed build left %v", got)
	}

	fake.failBuild = nil
	low := func() (int64, error) { return 300 << 20, nil }
	m, err = loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1, MemAvailable: low})
	if err != nil || m.Provider() != "CPUExecutionProvider" || fake.built != 0 {
		t.Fatalf("low memory: %v, %v, %d built", err, m, fake.built)
	}
	if fallbacks(logs, "low_memory: building the TensorRT engine for nova-tiny needs at least") != 1 {
		t.Error("no fallback line names the memory it lacks")
	}
	rt.cfg.Require = ProviderTensorRT
	_, err = loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 1, MemAvailable: low})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeLowMemory || !strings.Contains(e.Message, "only 300 MiB is available") {
		t.Errorf("low memory under require: %v", err)
	}
}

// The check compares real results: the CPU's answers pass the tiny bundle's
// own check set, and fail a copy whose reference was nudged where it was
// decided, naming the miss.
func TestCheckSetAgainstCPU(t *testing.T) {
	rt, _ := openRuntime(t, cpuConfig())
	m := loadModel(t, rt, fixtureDir, 4)
	cs, err := bundle.LoadCheckSet(m.Bundle())
	if err != nil || cs == nil {
		t.Fatalf("check set: %v", err)
	}
	check, err := m.Check(cs)
	if err != nil || !check.Passed || check.MaxHaltDiff > 1e-5 || check.HaltCyclesSame != 6 ||
		check.Provider != "CPUExecutionProvider" {
		t.Fatalf("the CPU against its own reference: %v, %s", err, check.Summary())
	}
	// The check runs the cases in batches of the model's (4 here): every
	// case and cycle is compared, the second batch's too.
	if want := checkedCycles(cs); len(check.Cycles) != want || check.Cycles[len(check.Cycles)-1].Case != 5 {
		t.Fatalf("%d cycles compared, want %d", len(check.Cycles), want)
	}

	for _, tt := range []struct {
		name   string
		nudge  func(*bundle.CheckSet)
		reason string
	}{
		{"halt", func(cs *bundle.CheckSet) { cs.Cases[1].Cycles[0].Halt += 0.05 }, "cycle 1: halt"},
		{"decided cells", func(cs *bundle.CheckSet) {
			cy := cs.Cases[0].Cycles[2]
			for _, cell := range cells(cy, true)[:5] {
				cy.Argmax[cell] = (cy.Argmax[cell] + 1) % 12
			}
		}, "cycle 3: 5 decided cells differ"},
		{"halting cycle", func(cs *bundle.CheckSet) { cs.Cases[2].HaltCycle-- }, "halts at cycle"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := nudgedBundle(t, tt.nudge)
			m := loadModel(t, rt, dir, 4)
			cs, err := bundle.LoadCheckSet(m.Bundle())
			if err != nil {
				t.Fatal(err)
			}
			check, err := m.Check(cs)
			if err != nil || check.Passed || !strings.Contains(check.Reason, tt.reason) {
				t.Errorf("%v, %s; want a miss naming %q", err, check.Summary(), tt.reason)
			}
		})
	}
}

// checkedCycles is how many cycles a run that halts as the reference did compares.
func checkedCycles(cs *bundle.CheckSet) int {
	n := 0
	for _, c := range cs.Cases {
		n += c.HaltCycle
	}
	return n
}

// nudgedBundle copies the tiny bundle with its check set changed by nudge
// (and its hash in hrm.yaml updated, as a re-export would).
func nudgedBundle(t *testing.T, nudge func(*bundle.CheckSet)) string {
	dir := copyBundle(t)
	path := filepath.Join(dir, "golden.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	var cs bundle.CheckSet
	if json.Unmarshal(data, &raw) != nil || json.Unmarshal(data, &cs) != nil {
		t.Fatal("golden.json does not parse")
	}
	nudge(&cs)
	raw["cases"] = cs.Cases
	out, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	before := sha256.Sum256(data)
	after := sha256.Sum256(out)
	testenv.ReplaceInFile(t, filepath.Join(dir, "hrm.yaml"), hex.EncodeToString(before[:]), hex.EncodeToString(after[:]))
	return dir
}

// The CUDA provider is held to the check set as a TensorRT engine is: a
// CUDA whose answers drift loses the model to the CPU (the load says why),
// or fails the load under refuse; with the check off it is not run.
func TestCUDAIsChecked(t *testing.T) {
	cfg := trtConfig(t)
	cfg.Providers = []string{ProviderCUDA, ProviderCPU}
	for _, tt := range []struct {
		name     string
		from     string // what the CUDA session runs
		policy   string
		provider string // who takes the model; "" = the load fails
		checked  bool
	}{
		{"the same answers", "", CheckFallback, "CUDAExecutionProvider", true},
		{"drifting answers", "testdata/nova-zero", CheckFallback, "CPUExecutionProvider", false},
		{"drifting answers, refuse", "testdata/nova-zero", CheckRefuse, "", false},
		{"check off", "testdata/nova-zero", CheckOff, "CUDAExecutionProvider", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.TensorRT.FP16Check = tt.policy
			rt, logs := openRuntime(t, c)
			playTensorRT(rt).cudaFrom = tt.from
			m, err := loadWith(t, rt, fixtureDir, ModelOptions{MaxBatch: 2})
			if tt.provider == "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != CodePrecisionCheck || !strings.Contains(e.Message, "CUDA provider's answers") {
					t.Fatalf("refuse: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Provider() != tt.provider || m.Precision() != PrecisionFP32 {
				t.Errorf("on %s %s, want %s", m.Provider(), m.Precision(), tt.provider)
			}
			if got := m.EngineCache().Check != nil && m.EngineCache().Check.Passed; got != tt.checked {
				t.Errorf("a passed check %v, want %v: %+v", got, tt.checked, m.EngineCache().Check)
			}
			drift := logs.FilterMessage("the CUDA provider's answers differ from the bundle's fp32 reference").Len()
			if want := tt.from != "" && tt.policy == CheckFallback; (drift == 1) != want {
				t.Errorf("%d error lines about the CUDA provider's answers", drift)
			}
		})
	}
}

// A bundle without a check set: the CUDA provider takes it unchecked, with
// a warning, under fallback, and the load fails under refuse, as for a
// TensorRT engine (one policy: Runtime.checkSet).
func TestCUDAWithoutCheckSet(t *testing.T) {
	dir := copyBundle(t)
	data, err := os.ReadFile(filepath.Join(dir, "hrm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "check:") {
			kept = append(kept, line)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "hrm.yaml"), []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := trtConfig(t)
	cfg.Providers = []string{ProviderCUDA, ProviderCPU}
	rt, logs := openRuntime(t, cfg)
	playTensorRT(rt)
	m, err := loadWith(t, rt, dir, ModelOptions{MaxBatch: 2})
	if err != nil || m.Provider() != "CUDAExecutionProvider" || m.EngineCache().Check != nil {
		t.Fatalf("fallback: %v, %+v", err, m)
	}
	if logs.FilterMessageSnippet("the CUDA provider's answers cannot be checked").Len() != 1 {
		t.Error("no warning that the CUDA provider goes unchecked")
	}
	rt.cfg.TensorRT.FP16Check = CheckRefuse
	_, err = loadWith(t, rt, dir, ModelOptions{MaxBatch: 2})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodePrecisionCheck || !strings.Contains(e.Message, "has no check set") {
		t.Errorf("refuse: %v", err)
	}
}
