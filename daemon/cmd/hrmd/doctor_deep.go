package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/device"
	"github.com/hrmd/hrmd/engine"
	"github.com/hrmd/hrmd/jetson"
)

// checkDeep is `hrmd doctor --deep`: what the other checks infer, it
// does. It loads the model as the daemon does (the configured provider
// chain and batch: the same TensorRT engine, built if none is cached:
// minutes on a Jetson), runs one step on one row (batch 1), and says in one
// line each which provider took the model, which provider ran each graph's
// nodes, how its engine came about and what the fp16 check found. A Jetson
// configured for its GPU that ends up on the CPU is a FAIL: the daemon would
// run degraded. The command it suggests carries the doctor's own flags.
func (d *doctor) checkDeep() {
	rt, b, dev, progress, args := d.rt, d.bundle, d.device, d.opts.progress, d.opts.args
	if !d.opts.deep {
		d.skip("run with --deep to load the model with the configured providers")
		return
	}
	if rt == nil || b == nil {
		d.add(checkFail, "not run: it needs the library and the model (see above)", "")
		return
	}
	if !d.deepAsCacheOwner(args) {
		return
	}
	// The batch the daemon loads with: its TensorRT engine is keyed by it,
	// so this builds (or loads) the very engine hrmd run uses.
	opts := d.cfg.ModelOptions()
	opts.MemAvailable = jetson.NewFS(d.sysroot).MemAvailable
	opts.Progress = func(s engine.LoadStage) {
		if s.What != "" {
			fmt.Fprintf(progress, "hrmd doctor: %s (minutes on a Jetson the first time) ...\n", s)
		}
	}
	// A TensorRT session that leaves nodes to the CPU fails here instead of
	// running them there unseen (engine.ModelOptions.NoCPUFallback says why
	// CUDA's are left alone); the profiles say where every node ran.
	opts.NoCPUFallback = true
	profiles, err := os.MkdirTemp("", "hrmd-doctor-profiles-")
	if err != nil {
		d.add(
			checkWarn,
			"no folder for onnxruntime's profiles, so which provider ran each node stays unknown: "+err.Error(),
			"",
		)
	} else {
		defer os.RemoveAll(profiles)
		opts.ProfileDir = profiles
	}
	opts.OnFallback = d.deepFallback
	m, err := rt.LoadModel(b, opts)
	if err != nil {
		d.add(
			checkFail,
			fmt.Sprintf(
				"no session with onnxruntime.providers %v: %s",
				d.cfg.ONNXRuntime.Providers,
				oneLine(answer.Message(err)),
			),
			"docs/jetson.md, Degraded, says what each provider needs; onnxruntime.require refuses to fall back",
		)
		return
	}
	took, err := runOneStep(m)
	m.Close() // onnxruntime writes the profiles as the sessions end
	if err != nil {
		d.add(
			checkFail,
			fmt.Sprintf("the model loaded on %s but its step failed: %s", m.Provider(), oneLine(answer.Message(err))),
			"export the bundle again (engine/export/hrm_export.py)",
		)
		return
	}
	d.deepProvider(rt, m, dev, took)
	if opts.ProfileDir != "" {
		d.deepPlacements(m)
	}
	d.deepEngine(m.EngineCache())
	d.deepCheck(m.EngineCache())
}

// deepFallback reports a provider that failed to take the model before the
// next one took it.
func (d *doctor) deepFallback(provider string, err error) {
	msg := oneLine(answer.Message(err))
	if strings.Contains(msg, "fallback to CPU EP has been explicitly disabled") {
		d.add(
			checkWarn,
			provider+" did not take every node of the model, and --deep lets no node fall back to the CPU "+
				"(session.disable_cpu_ep_fallback): hrmd run would run the rest on the CPU; "+msg,
			"docs/jetson.md, When TensorRT cannot take the whole graph",
		)
		return
	}
	d.add(checkWarn, provider+" failed to take the model, so the next provider did: "+msg,
		"docs/jetson.md, Degraded, says what each provider needs")
}

// deepPlacements says, per graph, how many nodes each provider ran, from
// onnxruntime's profiles of the step run.
func (d *doctor) deepPlacements(m *engine.Model) {
	placements, err := m.Placements()
	if err != nil {
		d.add(checkWarn, "which provider ran each node is unknown: "+oneLine(err.Error()), "")
		return
	}
	trt, cuda, cpu := engine.ORTProviderName(
		engine.ProviderTensorRT,
	), engine.ORTProviderName(
		engine.ProviderCUDA,
	), engine.ORTProviderName(
		engine.ProviderCPU,
	)
	for _, p := range placements {
		switch {
		case m.Provider() == trt && (len(p.Nodes) != 1 || p.Nodes[trt] == 0):
			d.add(checkWarn, p.String()+": TensorRT did not take the graph whole, so part of it runs outside the engine",
				"docs/jetson.md, When TensorRT cannot take the whole graph")
		case m.Provider() == cuda && p.Nodes[cpu] > 0:
			// Not strict there: CUDA leaves shape computations to the CPU
			// on purpose, and the daemon runs it just so.
			d.add(checkInfo, p.String()+" (onnxruntime's CUDA provider leaves shape computations to the CPU on purpose)", "")
		default:
			d.add(checkOK, p.String(), "")
		}
	}
}

// deepAsCacheOwner says whether the deep check may run as this user: it
// builds TensorRT engines into tensorrt.engine_cache, and those of a root
// run would be root's, in folders the service's user cannot write to (its
// build locks, checks and repairs). A check as another user than the
// cache's owner is refused, naming the command to run instead.
func (d *doctor) deepAsCacheOwner(args []string) bool {
	if !slices.Contains(d.cfg.ONNXRuntime.Providers, engine.ProviderTensorRT) {
		return true // no engine is built
	}
	cache := d.cfg.TensorRT.EngineCache
	owner, at, known, err := cacheOwner(cache)
	if err != nil {
		d.add(checkWarn, "cannot tell who owns tensorrt.engine_cache: "+oneLine(err.Error()), "")
		return true
	}
	me := uint32(os.Geteuid())
	if !known || owner == me {
		return true
	}
	whose := "belongs to " + userName(owner)
	if at != filepath.Clean(cache) {
		whose = fmt.Sprintf("does not exist, and %s, where it would be created, belongs to %s", at, userName(owner))
	}
	d.add(
		checkFail,
		fmt.Sprintf(
			"not run: tensorrt.engine_cache %s %s, and this is %s: the engines --deep builds would be %s's, and hrmd run, as "+
				"%s, could not use them",
			cache,
			whose,
			userName(me),
			userName(me),
			userName(owner),
		),
		"run it as the cache's owner: "+shellCommand(
			append([]string{"sudo", "-u", userName(owner), "hrmd", "doctor"}, args...),
		),
	)
	return false
}

// cacheOwner is the owner of dir or, while dir does not exist, of the
// nearest folder above it, where it would be created. known is false when
// that folder says nothing about whose the cache is: anyone may write in it
// (/tmp).
func cacheOwner(dir string) (uid uint32, at string, known bool, err error) {
	at = filepath.Clean(dir)
	for {
		fi, err := os.Stat(at)
		switch {
		case err == nil:
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok || (at != filepath.Clean(dir) && fi.Mode().Perm()&0o002 != 0) {
				return 0, at, false, nil
			}
			return st.Uid, at, true, nil
		case !errors.Is(err, fs.ErrNotExist):
			return 0, at, false, err
		case filepath.Dir(at) == at:
			return 0, at, false, nil
		}
		at = filepath.Dir(at)
	}
}

// userName is a user's name, or #uid when it has none (as sudo -u takes it).
func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return fmt.Sprintf("#%d", uid)
}

// shellCommand quotes words for a shell where they need it.
func shellCommand(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		if w != "" && strings.Trim(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
			quoted[i] = w
			continue
		}
		quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

// runOneStep runs one cycle on one encoded grid, as a warm-up does.
func runOneStep(m *engine.Model) (time.Duration, error) {
	b := m.Bundle()
	side := b.Manifest.Grid
	row := make([]int64, side*side)
	b.Encoding.Encode(b.Encoding.StepGrid(), side, row)
	started := time.Now()
	_, err := m.Run(context.Background(), [][]int64{row}, engine.RunOptions{Halting: engine.HaltFixed, MaxCycles: 1})
	return time.Since(started), err
}

// deepProvider says which provider took the model, and whether that is
// what the configuration asked for.
func (d *doctor) deepProvider(rt *engine.Runtime, m *engine.Model, dev jetson.Device, took time.Duration) {
	providers := d.cfg.ONNXRuntime.Providers
	what := fmt.Sprintf(
		"the model ran one step on %s (%s) in %s",
		m.Provider(),
		m.Precision(),
		took.Round(time.Millisecond),
	)
	cpu := m.Provider() == engine.ORTProviderName(engine.ProviderCPU)
	deg := device.CheckDegraded(dev, providers, m.Provider(), rt.Providers)
	switch {
	case deg != nil:
		d.add(
			checkFail,
			what+"; hrmd run would be degraded: "+deg.Reason,
			"install a TensorRT onnxruntime for this JetPack into /usr/local/lib, where hrmd finds it, or set "+
				"onnxruntime.library (docs/jetson.md, Degraded); or set onnxruntime.providers: [cpu] to mean it",
		)
	case cpu && len(providers) > 0 && providers[0] != engine.ProviderCPU:
		d.add(
			checkWarn,
			what+fmt.Sprintf(
				": no GPU provider of onnxruntime.providers %v works here (not a Jetson, so not degraded)",
				providers,
			),
			"for a GPU: an onnxruntime built with CUDA and TensorRT, in /usr/local/lib or named by onnxruntime.library "+
				"(docs/models.md)",
		)
	case cpu:
		d.add(checkOK, what+fmt.Sprintf(", as configured (onnxruntime.providers %v): no GPU in use", providers), "")
	default:
		d.add(checkOK, what, "")
	}
}

// deepEngine says where the TensorRT engine came from, and how long a
// build took.
func (d *doctor) deepEngine(c engine.EngineCacheUse) {
	switch {
	case c.Dir == "":
		d.add(checkInfo, "no TensorRT engine: TensorRT did not take the model", "")
	case c.Built:
		d.add(
			checkOK,
			fmt.Sprintf(
				"TensorRT engine built in %s into %s; hrmd run loads it from there",
				c.BuildTook.Round(time.Second),
				c.Dir,
			),
			"",
		)
	case c.Found:
		d.add(checkOK, "TensorRT engine loaded from the cache "+c.Dir, "")
	default:
		d.add(checkInfo, "TensorRT engine in "+c.Dir+": neither found there nor reported built", "")
	}
}

// deepCheck says what the fp16 check found, if it ran.
func (d *doctor) deepCheck(c engine.EngineCacheUse) {
	if r := c.Rejected; r != nil {
		d.add(checkWarn, r.Summary()+"; that engine is not used",
			"tensorrt.fp16_check: fallback built an fp32 engine instead (below); tensorrt.precision: fp32 builds only that")
	}
	switch {
	case c.Check == nil:
		d.add(
			checkInfo,
			"fp16 check: not run (the model is not on TensorRT, the check is off, or the bundle has no check set)",
			"",
		)
	case c.Check.Passed:
		d.add(checkOK, c.Check.Summary(), "")
	default:
		d.add(
			checkWarn,
			c.Check.Summary(),
			"tensorrt.precision: fp32 runs the model in fp32 (docs/models.md, The fp16 check)",
		)
	}
}
